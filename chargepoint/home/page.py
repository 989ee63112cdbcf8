"""The live status page: ``GET /`` (plain HTML/JS/CSS from the package, no CDN) and its server-sent
event stream ``GET /api/events``.

The stream sends ``history`` once (the last hour of chart samples), then ``state`` whenever something
changed (station events, settings, battery; gathered for ``COALESCE_S``) and at least every
``KEEPALIVE_S``, and ``sample`` with each new chart point.  The page never polls; its buttons and
forms use the existing routes (``POST /api/settings``, ``POST /settings?mode=``,
``POST /api/connectors/{id}/reset-fault``, the sim routes).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from aiohttp import web

from chargepoint.home.firmware import ENABLE_C2_NAMES, MQTT_MODE_NAMES, ModeId, state_of
from chargepoint.home.hub import HISTORY_STEP_S, HomeHub, Sample
from chargepoint.home.rest import hub_of

COALESCE_S = 0.25
KEEPALIVE_S = 15.0
STATIC = {"app.js": "text/javascript", "style.css": "text/css", "index.html": "text/html"}
RESETTABLE = ("rcd", "weld", "contactor", "lock", "diode")


def _static(name: str) -> bytes:
    return resources.files("chargepoint.home").joinpath("static", name).read_bytes()


def page_state(hub: HomeHub) -> dict[str, Any]:
    from chargepoint.api.app import connector_status

    runtime = hub.runtime
    station = runtime.station
    energy = runtime.energy
    ocpp = getattr(runtime, "ocpp", None)
    ocpp_doc: dict[str, Any] = {"enabled": ocpp is not None, "connected": False, "registration": "None"}
    if ocpp is not None:
        ocpp_doc.update(ocpp.status())
    connectors = []
    for snap in station.snapshots():
        doc = connector_status(runtime, snap)
        doc["state_name"] = state_of(snap.substate)[1]
        doc["session_energy_wh"] = round(hub.session_energy_wh(snap.connector), 1)
        doc["session_duration_s"] = round(hub.session_duration_s(snap.connector))
        doc["resettable_faults"] = [f for f in doc["faults"] if f in RESETTABLE]
        connectors.append(doc)
    mode = hub.mode()
    status = energy.status()
    return {
        "time": runtime.clock.timestamp(),
        "id": runtime.config.chargepoint.id,
        "backend": station.backend_name,
        "ocpp": ocpp_doc,
        "mqtt": hub.mqtt_status() if hub.mqtt_status else {"status": "Disabled"},
        "mode": {"id": int(mode), "name": MQTT_MODE_NAMES[mode],
                 "choices": [{"id": int(m), "name": n} for m, n in MQTT_MODE_NAMES.items()]},
        "settings": energy.settings_document(),
        "enable_c2_choices": [{"value": k.value, "name": v} for k, v in ENABLE_C2_NAMES.items()],
        "min_current_a": energy.settings.min_current_a,
        "max_current_a": energy.settings.max_current_a,
        "energy": {"explanation": status.get("explanation", ""), "faults": status.get("faults", []),
                   "mains_meter": status.get("mains_meter")},
        "connectors": connectors,
        "paused": mode in (ModeId.OFF, ModeId.PAUSE),
    }


def _sample(sample: Sample) -> dict[str, Any]:
    return {"t": sample.t, "c": [list(row) for row in sample.connectors]}


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def get_events(request: web.Request) -> web.StreamResponse:
    hub = hub_of(request)
    clock = hub.runtime.clock
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    await response.write(b"retry: 2000\n\n")
    await response.write(_event("history", {"step_s": HISTORY_STEP_S,
                                            "samples": [_sample(s) for s in hub.history]}))
    version = -1
    last_sample = hub.history[-1] if hub.history else None
    try:
        while True:
            if hub.closed or hub.runtime.station is None or hub.runtime.energy is None:  # stopping / restarting: the browser reconnects to the new station
                break
            await response.write(_event("state", page_state(hub)))
            if hub.history and hub.history[-1] is not last_sample:
                last_sample = hub.history[-1]
                await response.write(_event("sample", _sample(last_sample)))
            version = await hub.wait_change(version, KEEPALIVE_S)
            if hub.closed:
                break
            await clock.sleep(COALESCE_S)
    except (ConnectionResetError, RuntimeError):
        pass  # the browser went away
    return response


async def get_index(_request: web.Request) -> web.Response:
    return web.Response(body=_static("index.html"), content_type="text/html", charset="utf-8")


async def get_static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    return web.Response(body=_static(name), content_type=STATIC[name], charset="utf-8",
                        headers={"Cache-Control": "no-cache"})


PAGE_ROUTES: list[web.RouteDef] = [
    web.get("/", get_index),
    web.get("/static/{name}", get_static),
    web.get("/api/events", get_events),
]
