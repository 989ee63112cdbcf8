"""SmartEVSE-compatible REST routes (smartevse.md §7.1) on the local API: ``GET /settings``,
``POST /settings``, ``POST /currents``, ``POST /ev_meter``.

As on the firmware, parameters come in the query string (a POST body is ignored), every parameter
is handled on its own, and the answer is HTTP 200 with a JSON object that echoes each accepted value
or says ``"Value not allowed!"`` for a refused one.  One deliberate difference: a value that is not an
integer is refused (the firmware's ``toInt()`` would read it as 0, e.g. ``mode=abc`` as OFF).
docs/HOME.md lists every difference.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiMapping

from chargepoint.energy.settings import Mode, SettingsError
from chargepoint.home.firmware import ENABLE_C2_NAMES, ENABLE_C2_ORDER, ModeId
from chargepoint.home.hub import HomeHub, find_hub
from chargepoint.home.metrics import get_metrics
from chargepoint.home.settings_doc import settings_document

NOT_ALLOWED = "Value not allowed!"
#: firmware parameters we take but cannot act on (no LCD, LEDs, modem, delayed charging, PWM override)
UNSUPPORTED = ("starttime", "stoptime", "repeat", "lcdlock", "backlight", "custombutton", "override_pwm",
               "required_evccid", "prio_strategy", "rotation_interval", "idle_timeout", "ocpp_update")
#: POST /settings integer settings -> (energy setting, low, high, allow 0)
RANGED: dict[str, tuple[str, int, int, bool]] = {
    "current_max_sum_mains": ("max_sum_mains_a", 10, 600, True),
    "max_sum_mains_timer": ("max_sum_mains_time_min", 0, 60, False),
    "solar_start_current": ("start_current_a", 0, 48, False),
    "solar_max_import": ("import_current_a", 0, 48, False),
}


def hub_of(request: web.Request) -> HomeHub:
    from chargepoint.api.app import RUNTIME_KEY

    hub = find_hub(request.app[RUNTIME_KEY])
    if hub is None or hub.runtime.station is None or hub.runtime.energy is None:
        raise web.HTTPServiceUnavailable(text='{"error": "charge point is starting"}',
                                         content_type="application/json")
    return hub


def parse_int(text: str) -> int | None:
    """The firmware's integer parameter, strictly: optional sign and digits; None otherwise."""
    body = text.strip()
    digits = body[1:] if body[:1] in "+-" else body
    return int(body) if digits.isascii() and digits.isdigit() and len(digits) <= 9 else None


async def get_settings(request: web.Request) -> web.Response:
    hub = hub_of(request)
    return web.json_response(settings_document(hub, hub.mqtt_status() if hub.mqtt_status else None))


async def _energy_setting(hub: HomeHub, name: str, value: Any) -> bool:
    try:
        await hub.runtime.energy.update({name: value})
    except SettingsError:
        return False
    hub.notify()
    return True


async def post_settings(request: web.Request) -> web.Response:
    hub = hub_of(request)
    q = request.query
    doc: dict[str, Any] = {}
    energy = hub.runtime.energy
    if "mode" in q:
        raw = q["mode"]
        value = parse_int(raw)
        if value is None or value not in {int(m) for m in ModeId}:
            doc["mode"] = NOT_ALLOWED
        else:
            await hub.set_mode(ModeId(value))
            doc["mode"] = raw
    if "disable_override_current" in q:
        await _energy_setting(hub, "override_current_a", None)
        doc["disable_override_current"] = "OK"
    if "override_current" in q:
        await _override(hub, q, doc)
    if "current_min" in q:
        value = parse_int(q["current_min"])
        if value is None or not 6 <= value <= 16:
            doc["current_min"] = NOT_ALLOWED
        elif value == energy.settings.min_current_a:
            doc["current_min"] = value
        else:
            doc["current_min"] = "read-only here: set [controller] min_current_a"
    for param, (name, lo, hi, zero) in RANGED.items():
        if param in q:
            value = parse_int(q[param])
            ok = value is not None and (lo <= value <= hi or (zero and value == 0))
            doc[param] = value if ok and await _energy_setting(hub, name, value) else NOT_ALLOWED
    if "stop_timer" in q:
        value = parse_int(q["stop_timer"])
        doc["stop_timer"] = value is not None and 0 <= value <= 60 and await _energy_setting(
            hub, "stop_time_min", value)
    if "enable_C2" in q:
        value = parse_int(q["enable_C2"])
        ok = value is not None and 0 <= value < len(ENABLE_C2_ORDER)
        if ok and value is not None and await _energy_setting(hub, "enable_c2", ENABLE_C2_ORDER[value].value):
            doc["settings"] = {"enable_C2": ENABLE_C2_NAMES[energy.settings.enable_c2]}
        else:
            doc["settings"] = {"enable_C2": NOT_ALLOWED}
    if "phases" in q:  # dingo/fork: a manual 1-/3-phase request (the local API's POST /api/phases)
        await _phases(hub, q["phases"], doc)
    if "cablelock" in q:
        value = parse_int(q["cablelock"])
        if value not in (0, 1):
            doc["cablelock"] = NOT_ALLOWED
        else:
            await hub.set_cable_lock(bool(value))
            doc["cablelock"] = value
    for param in UNSUPPORTED:
        if param in q:
            doc[param] = "not supported"
    return web.json_response(doc)


async def _phases(hub: HomeHub, raw: str, doc: dict[str, Any]) -> None:
    from chargepoint.api.energy_routes import phase_switch_refusal

    value = parse_int(raw)
    if value not in (1, 3) or phase_switch_refusal(hub.runtime.station, hub.runtime.energy) is not None:
        doc["phases"] = NOT_ALLOWED  # as the fork: refused without C2 (and on a node)
        return
    await hub.runtime.energy.request_phases(value)
    hub.notify()
    doc["phases"] = value


async def _override(hub: HomeHub, q: MultiMapping[str], doc: dict[str, Any]) -> None:
    energy = hub.runtime.energy
    value = parse_int(q["override_current"])
    s = energy.settings
    if energy.settings.mode == Mode.SOLAR or value is None:
        doc["override_current"] = NOT_ALLOWED
        return
    ok = value == 0 or s.min_current_a * 10 <= value <= s.max_current_a * 10
    if ok and await _energy_setting(hub, "override_current_a", value / 10 if value else None):
        doc["override_current"] = value
    else:
        doc["override_current"] = NOT_ALLOWED


def _da(q: MultiMapping[str], name: str) -> int | None:
    value = parse_int(q[name])
    return value if value is not None and -2000 < value < 2000 else None


async def post_currents(request: web.Request) -> web.Response:
    hub = hub_of(request)
    q = request.query
    doc: dict[str, Any] = {}
    if "battery_current" in q:
        value = _da(q, "battery_current")
        if value is None:
            doc["battery_current"] = NOT_ALLOWED
        else:
            hub.feed_battery(value)
            doc["battery_current"] = value
    if hub.runtime.energy.mains_source == "api" and all(p in q for p in ("L1", "L2", "L3")):
        values = [_da(q, p) for p in ("L1", "L2", "L3")]
        if any(v is None for v in values):
            doc["TOTAL"] = NOT_ALLOWED
        else:
            l1, l2, l3 = (int(v or 0) for v in values)
            hub.feed_mains(l1, l2, l3)
            decision = await hub.runtime.energy.step()
            corrected = [round(a * 10) for a in decision.mains_a] if decision.mains_a else [l1, l2, l3]
            doc["original"] = {"L1": l1, "L2": l2, "L3": l3}
            doc.update({"L1": corrected[0], "L2": corrected[1], "L3": corrected[2], "TOTAL": sum(corrected)})
    return web.json_response(doc)


async def post_ev_meter(request: web.Request) -> web.Response:
    hub = hub_of(request)
    q = request.query
    meter: dict[str, Any] = {}
    power: float | None = None
    energy_wh: float | None = None
    if all(p in q for p in ("import_active_energy", "export_active_energy", "import_active_power")):
        imp, exp, pw = (parse_int(q[p]) for p in ("import_active_energy", "export_active_energy",
                                                  "import_active_power"))
        if imp is None or exp is None or pw is None or imp < 0 or exp < 0:
            meter["import_active_energy"] = NOT_ALLOWED
        else:
            hub.ev_energy = (float(imp), float(exp), float(pw))
            power, energy_wh = float(pw), float(imp)
            meter.update({"import_active_power": pw, "import_active_energy": imp, "export_active_energy": exp,
                          "total_kwh": round(imp / 1000, 1),
                          "charged_kwh": round(hub.session_energy_wh(1) / 1000, 1)})
    if all(p in q for p in ("L1", "L2", "L3")):
        values = [_da(q, p) for p in ("L1", "L2", "L3")]
        if any(v is None for v in values):
            meter["currents"] = NOT_ALLOWED
        else:
            l1, l2, l3 = (int(v or 0) for v in values)
            hub.runtime.energy.feed_ev_meter_api(l1 / 10, l2 / 10, l3 / 10, power, energy_wh)
            meter["currents"] = {"L1": l1, "L2": l2, "L3": l3, "TOTAL": l1 + l2 + l3}
    hub.notify()
    return web.json_response({"ev_meter": meter} if meter else {})


SMARTEVSE_ROUTES: list[web.RouteDef] = [
    web.get("/settings", get_settings),
    web.post("/settings", post_settings),
    web.post("/currents", post_currents),
    web.post("/ev_meter", post_ev_meter),
    web.get("/metrics", get_metrics),
]


def home_routes() -> list[web.RouteDef]:
    """Every route of the home integrations: the firmware's REST, /metrics, the status page."""
    from chargepoint.home.page import PAGE_ROUTES

    return [*SMARTEVSE_ROUTES, *PAGE_ROUTES]
