"""Local API routes of the energy manager: settings, API-fed meters, home battery, status.

* ``GET /api/settings`` -- every energy setting (mode, override, MaxMains, ...).
* ``POST /api/settings`` -- any subset of them; validated as a whole (400 naming the field, nothing
  changes), applied at once and persisted under the data directory.
* ``POST /api/mains`` ``{"l1","l2","l3"}`` -- mains currents in A, signed (import positive), for a
  mains meter of type "api" (409 when the mains currents come from a meter).
* ``POST /api/ev-meter`` ``{"l1","l2","l3","power_w"?,"energy_wh"?}`` -- the EV circuit meter (A).
* ``POST /api/battery`` ``{"current_a"}`` -- home battery current, A, + = charging (Solar only, 60 s).
* ``GET /api/energy`` -- the energy manager's last decision: what binds and why, timers, faults.
* ``GET /api/grid-relay`` -- the grid relay (EnWG §14a): limiting or not, its budget, the limit per
  connector; ``POST /api/grid-relay`` ``{"limiting"}`` or ``{"contact": "open"|"closed"}`` -- the relay
  read by something else (home automation reading the grid operator's control box); the sim board's
  own input is ``POST /api/sim/grid-relay`` (chargepoint/api/app.py).
* ``GET /api/phases`` / ``POST /api/phases`` ``{"phases": 1|3|null}`` -- a manual 1-/3-phase request
  (409 when this charger cannot switch: no C2, a single-phase supply, RS485 nodes).

Handlers read ``runtime.energy`` (an :class:`~chargepoint.services.energy.EnergyService`) on every
request, so they keep working across an in-process restart.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chargepoint.api import validation as v
from chargepoint.api.validation import BadRequest
from chargepoint.energy.measurements import BATTERY_TIMEOUT_S
from chargepoint.energy.settings import RANGES, EnableC2, Mode, SettingsError

#: Currents accepted from the API-fed meters (A): the firmware's -2000 < x < 2000 dA.
API_CURRENT_A = 199.9


def _energy(request: web.Request) -> Any:
    from chargepoint.api.app import RUNTIME_KEY

    energy = getattr(request.app[RUNTIME_KEY], "energy", None)
    if energy is None:
        raise web.HTTPServiceUnavailable(text='{"error": "energy manager is not running"}',
                                         content_type="application/json")
    return energy


def _int_setting(body: dict[str, Any], name: str) -> None:
    lo, hi = RANGES[name]
    v.number(body, name, lo=0 if name == "max_sum_mains_a" else lo, hi=hi, integer=True)


async def get_settings(request: web.Request) -> web.Response:
    return web.json_response(_energy(request).settings_document())


async def post_settings(request: web.Request) -> web.Response:
    energy = _energy(request)
    body = await v.json_body(request)
    v.reject_unknown(body, {"mode", "override_current_a", "max_mains_a", "max_circuit_a", "max_sum_mains_a",
                            "max_sum_mains_time_min", "start_current_a", "stop_time_min", "import_current_a",
                            "enable_c2", "grid_relay_max_sum_mains_a"})
    if not body:
        raise BadRequest(None, "give at least one setting")
    v.string(body, "mode", choices=tuple(m.value for m in Mode))
    v.string(body, "enable_c2", choices=tuple(e.value for e in EnableC2))
    v.number(body, "override_current_a", lo=0, hi=80, nullable=True)
    for name in ("max_mains_a", "max_circuit_a", "max_sum_mains_a", "max_sum_mains_time_min", "start_current_a",
                 "stop_time_min", "import_current_a", "grid_relay_max_sum_mains_a"):
        _int_setting(body, name)
    try:
        doc = await energy.update(body)
    except SettingsError as exc:
        raise BadRequest(exc.field, str(exc)) from None
    return web.json_response(doc)


def _currents(body: dict[str, Any]) -> tuple[float, float, float]:
    values = [v.number(body, n, required=True, lo=-API_CURRENT_A, hi=API_CURRENT_A) for n in ("l1", "l2", "l3")]
    return (float(values[0] or 0.0), float(values[1] or 0.0), float(values[2] or 0.0))


async def post_mains(request: web.Request) -> web.Response:
    energy = _energy(request)
    body = await v.json_body(request)
    v.reject_unknown(body, {"l1", "l2", "l3"})
    l1, l2, l3 = _currents(body)
    if energy.mains_source != "api":
        return web.json_response(
            {"error": f"the mains currents come from a meter ({energy.mains_source!r}); "
                      "set [energy] mains_meter = \"api\" to feed them here", "field": "mains_meter"},
            status=409)
    try:
        energy.feed_mains_api(l1, l2, l3)
    except ValueError as exc:
        raise BadRequest(getattr(exc, "field", None), str(exc)) from None
    return web.json_response({"l1": l1, "l2": l2, "l3": l3})


async def post_ev_meter(request: web.Request) -> web.Response:
    energy = _energy(request)
    body = await v.json_body(request)
    v.reject_unknown(body, {"l1", "l2", "l3", "power_w", "energy_wh"})
    l1, l2, l3 = _currents(body)
    power = v.number(body, "power_w", lo=-500_000, hi=500_000)
    energy_wh = v.number(body, "energy_wh", lo=0, hi=1e12)
    energy.feed_ev_meter_api(l1, l2, l3, power, energy_wh)
    return web.json_response({"l1": l1, "l2": l2, "l3": l3, "power_w": power, "energy_wh": energy_wh})


async def post_battery(request: web.Request) -> web.Response:
    energy = _energy(request)
    body = await v.json_body(request)
    v.reject_unknown(body, {"current_a"})
    current = v.number(body, "current_a", required=True, lo=-API_CURRENT_A, hi=API_CURRENT_A)
    energy.feed_battery_api(float(current or 0.0))
    return web.json_response({"current_a": current, "valid_s": BATTERY_TIMEOUT_S})


def grid_relay_body(body: dict[str, Any], limit_on: str) -> bool:
    """``{"limiting": bool}`` or ``{"contact": "open"|"closed"}`` -> limiting (the contact mapped with the
    configured polarity ``[energy] grid_relay_limit_on``, "open" like the firmware)."""
    v.reject_unknown(body, {"limiting", "contact"})
    if ("limiting" in body) == ("contact" in body):
        raise BadRequest("limiting", "give either limiting (true/false) or contact (open/closed)")
    if "limiting" in body:
        return bool(v.boolean(body, "limiting", required=True))
    return v.string(body, "contact", required=True, choices=("open", "closed")) == limit_on


async def get_grid_relay(request: web.Request) -> web.Response:
    return web.json_response(_energy(request).grid_relay_status())


async def post_grid_relay(request: web.Request) -> web.Response:
    energy = _energy(request)
    body = await v.json_body(request)
    energy.feed_grid_relay_api(grid_relay_body(body, energy.grid_relay_limit_on))
    await energy.step()
    return web.json_response(energy.grid_relay_status())


def phase_switch_refusal(station: Any, energy: Any) -> str | None:
    """Why this charger cannot switch between 1 and 3 phases, or None when it can."""
    caps = station.capabilities
    if caps.phases != 3 or getattr(station.controller.settings, "phases", 3) != 3:
        return "this charger has a single-phase supply (backend.phases = 1)"
    if not caps.has_c2:
        return "this board has no C2 contactor to switch phases"
    if station.backend_name == "smartevse-rs485":
        return "RS485 nodes switch their own C2 (the firmware refuses a phase request on a node)"
    if energy.settings.enable_c2 == EnableC2.NOT_PRESENT:
        return "enable_c2 = not_present: no C2 contactor is fitted"
    return None


def _phases_doc(station: Any, energy: Any) -> dict[str, Any]:
    refusal = phase_switch_refusal(station, energy)
    return {"requested": energy.manager.requested_phases, "switchable": refusal is None, "reason": refusal,
            "enable_c2": energy.settings.enable_c2.value,
            "connectors": [{"id": s.connector, "phases": s.phases} for s in station.snapshots()]}


async def get_phases(request: web.Request) -> web.Response:
    from chargepoint.api.app import _station

    return web.json_response(_phases_doc(_station(request), _energy(request)))


async def post_phases(request: web.Request) -> web.Response:
    from chargepoint.api.app import _station

    station, energy = _station(request), _energy(request)
    body = await v.json_body(request)
    v.reject_unknown(body, {"phases"})
    if "phases" not in body:
        raise BadRequest("phases", "phases is required: 1, 3 or null (withdraw the request)")
    phases = v.number(body, "phases", integer=True, nullable=True)
    if phases is not None and phases not in (1, 3):
        raise BadRequest("phases", "phases must be 1, 3 or null")
    refusal = phase_switch_refusal(station, energy)
    if phases is not None and refusal is not None:
        return web.json_response({"error": f"cannot switch phases: {refusal}", "field": "phases"}, status=409)
    try:
        await energy.request_phases(int(phases) if phases is not None else None)
    except ValueError as exc:
        return web.json_response({"error": f"cannot switch phases: {exc}", "field": "phases"}, status=409)
    return web.json_response(_phases_doc(station, energy))


async def get_energy(request: web.Request) -> web.Response:
    return web.json_response(_energy(request).status())


ENERGY_ROUTES: list[web.RouteDef] = [
    web.get("/api/settings", get_settings),
    web.post("/api/settings", post_settings),
    web.post("/api/mains", post_mains),
    web.post("/api/ev-meter", post_ev_meter),
    web.post("/api/battery", post_battery),
    web.get("/api/energy", get_energy),
    web.get("/api/grid-relay", get_grid_relay),
    web.post("/api/grid-relay", post_grid_relay),
    web.get("/api/phases", get_phases),
    web.post("/api/phases", post_phases),
]
