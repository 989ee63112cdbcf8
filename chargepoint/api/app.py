"""The charge point's local HTTP API (aiohttp), bound to 127.0.0.1 by default.

Routes (stable): ``GET /api/status``; with the sim backend only, ``POST /api/sim/connectors/{id}/plug``,
``.../unplug``, ``.../ev``, ``POST /api/sim/rfid``, ``POST /api/sim/faults``, ``POST /api/sim/grid-relay``;
``GET /api/openapi.json``.
More routes are added by the parts that own them (energy settings, meters) through ``extra_routes``.
Every handler reads the *current* station from the runtime, so it keeps working across an OCPP
Reset (which rebuilds the station in-process).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web

from chargepoint.api import validation as v
from chargepoint.api.energy_routes import ENERGY_ROUTES
from chargepoint.api.openapi import OPENAPI
from chargepoint.api.rfid_routes import RFID_ROUTES
from chargepoint.api.validation import BadRequest
from chargepoint.controller.limits import Limit
from chargepoint.home.auth import ApiAuth, api_auth, auth_middleware, describe_auth
from chargepoint.home.rest import home_routes

log = structlog.get_logger("api")

RUNTIME_KEY: web.AppKey[Any] = web.AppKey("runtime", object)

SIM_FAULTS = ("rcd", "overtemp", "weld", "lock", "meter", "diode", "contactor", "pilot_short", "panic")


def _runtime(request: web.Request) -> Any:
    return request.app[RUNTIME_KEY]


def _station(request: web.Request) -> Any:
    station = _runtime(request).station
    if station is None:
        raise web.HTTPServiceUnavailable(text='{"error": "station is starting"}', content_type="application/json")
    return station


def _connector(request: web.Request) -> int:
    station = _station(request)
    raw = request.match_info["id"]
    number = v.ascii_int(raw)
    if number is None or not 1 <= number <= station.connectors:
        raise v.json_error(web.HTTPNotFound, f"no connector {raw[:40]}", "id")
    return number


def _sim_board(request: web.Request) -> Any:
    station = _station(request)
    if station.backend_name != "sim":
        raise web.HTTPNotFound(
            text='{"error": "simulation routes exist only with the sim backend"}', content_type="application/json"
        )
    return station.board


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def connector_status(runtime: Any, snap: Any) -> dict[str, Any]:
    station = runtime.station
    meter = snap.meter or station.latest_meter(snap.connector)
    currents = list(meter.current_a) if meter is not None else [0.0, 0.0, 0.0]
    ocpp = getattr(runtime, "ocpp", None)
    tx_id = None
    status = None
    if ocpp is not None:
        tx_id = ocpp.transaction_id(snap.connector) if hasattr(ocpp, "transaction_id") else None
        status = ocpp.connector_status(snap.connector) if hasattr(ocpp, "connector_status") else None
    return {
        "id": snap.connector,
        "iec_state": str(snap.iec_state),
        "substate": str(snap.substate),
        "status": status or derived_status(snap),
        "offered_current_a": round(snap.offered_current_a, 1),
        "target_current_a": round(snap.target_current_a, 1),
        "current_a": [round(c, 2) for c in currents],
        "contactor_closed": bool(snap.contactor_c1),
        "phases": snap.phases,
        "transaction_id": tx_id,
        "energy_wh": round(meter.energy_import_wh, 1) if meter is not None else 0.0,
        "power_w": round(meter.power_w, 1) if meter is not None else 0.0,
        "limit_a": snap.limits.get(Limit.OCPP),
        "limits": dict(snap.limits),
        "binding_limit": snap.binding_limit,
        "authorized": snap.authorized,
        "locked": snap.locked,
        "cable_ampacity_a": snap.cable_ampacity_a,
        "faults": sorted(str(f) for f in snap.faults),
        "temperature_c": snap.temperature_c,
    }


def derived_status(snap: Any) -> str:
    """OCPP-style status from the controller alone (used when no OCPP session runs)."""
    if snap.faults:
        return "Faulted"
    if not snap.available:
        return "Unavailable"
    if not snap.ev_connected:
        return "Available"
    if snap.contactor_c1:
        return "Charging" if snap.offered_current_a > 0 else "SuspendedEVSE"
    if snap.authorized:
        return "SuspendedEV" if snap.offered_current_a > 0 else "SuspendedEVSE"
    return "Preparing"


async def get_status(request: web.Request) -> web.Response:
    runtime = _runtime(request)
    station = _station(request)
    ocpp = getattr(runtime, "ocpp", None)
    ocpp_doc: dict[str, Any] = {"connected": False, "registration": "None"}
    if ocpp is not None:
        ocpp_doc.update(ocpp.status())
    body = {
        "ocpp": ocpp_doc,
        "backend": station.backend_name,
        "time": runtime.clock.now().isoformat().replace("+00:00", "Z"),
        "connectors": [connector_status(runtime, s) for s in station.snapshots()],
    }
    extra = getattr(runtime, "status_extras", None)
    if extra is not None:
        body.update(extra())
    return web.json_response(body)


async def post_plug(request: web.Request) -> web.Response:
    connector = _connector(request)
    board = _sim_board(request)
    body = await v.json_body(request, allow_empty=True)
    v.reject_unknown(body, {"cable_a"})
    cable = v.number(body, "cable_a", lo=6, hi=80)
    await _maybe_await(board.plug(connector, cable_a=cable if cable is not None else 32.0))
    return web.json_response({"connector": connector, "plugged": True, "cable_a": cable or 32.0})


async def post_unplug(request: web.Request) -> web.Response:
    connector = _connector(request)
    board = _sim_board(request)
    body = await v.json_body(request, allow_empty=True)
    v.reject_unknown(body, set())
    await _maybe_await(board.unplug(connector))
    return web.json_response({"connector": connector, "plugged": False})


async def post_ev(request: web.Request) -> web.Response:
    connector = _connector(request)
    board = _sim_board(request)
    body = await v.json_body(request)
    v.reject_unknown(body, {"charging", "max_current_a", "phases", "soc", "capacity_kwh"})
    charging = v.boolean(body, "charging")
    max_current = v.number(body, "max_current_a", lo=0, hi=80)
    phases = v.number(body, "phases", integer=True)
    if phases is not None and phases not in (1, 3):
        raise BadRequest("phases", "phases must be 1 or 3")
    soc = v.number(body, "soc", lo=0, hi=100)
    capacity = v.number(body, "capacity_kwh", lo=1, hi=300)
    if not body:
        raise BadRequest(None, "give at least one of charging, max_current_a, phases, soc, capacity_kwh")
    await _maybe_await(
        board.set_ev(
            connector,
            charging=charging,
            max_current_a=max_current,
            phases=int(phases) if phases is not None else None,
            soc=soc,
            capacity_kwh=capacity,
        )
    )
    return web.json_response({"connector": connector, **body})


async def post_rfid(request: web.Request) -> web.Response:
    board = _sim_board(request)
    body = await v.json_body(request)
    v.reject_unknown(body, {"id_tag", "connector"})
    id_tag = v.string(body, "id_tag", required=True, max_length=20)
    connector = v.number(body, "connector", lo=0, hi=_station(request).connectors, integer=True)
    await _maybe_await(board.present_rfid(id_tag, connector=int(connector or 0)))
    return web.json_response({"id_tag": id_tag})


async def post_fault(request: web.Request) -> web.Response:
    board = _sim_board(request)
    body = await v.json_body(request)
    v.reject_unknown(body, {"connector", "fault", "active"})
    connector = v.number(body, "connector", required=True, lo=1, hi=_station(request).connectors, integer=True)
    fault = v.string(body, "fault", required=True, choices=SIM_FAULTS)
    active = v.boolean(body, "active", required=True)
    await _maybe_await(board.inject_fault(int(connector or 1), fault, active))
    return web.json_response({"connector": int(connector or 1), "fault": fault, "active": active})


async def post_sim_grid_relay(request: web.Request) -> web.Response:
    """The sim board's grid-relay input (``{"limiting"}`` or ``{"contact"}``): a HAL GridRelayReading,
    the way a board's switch input arrives."""
    from chargepoint.api.energy_routes import _energy, grid_relay_body

    board = _sim_board(request)
    energy = _energy(request)
    body = await v.json_body(request)
    limiting = grid_relay_body(body, energy.grid_relay_limit_on)
    await _maybe_await(board.set_grid_relay(limiting))
    clock = _runtime(request).clock
    deadline = clock.monotonic() + 1.0
    while energy.manager.grid_relay_limiting != limiting and clock.monotonic() < deadline:
        await clock.sleep(0.01)  # the reading travels board -> station -> energy service
    await energy.step()
    return web.json_response(energy.grid_relay_status())


RESETTABLE_FAULTS = ("rcd", "weld", "contactor", "lock", "diode")


async def post_reset_fault(request: web.Request) -> web.Response:
    """Operator reset of a latched fault (the SmartEVSE's button press): for an RCD the board's own
    latch is reset first; the controller clears the fault only once its cause is gone."""
    from chargepoint.controller.types import Fault, ResetFault

    connector = _connector(request)
    station = _station(request)
    body = await v.json_body(request)
    v.reject_unknown(body, {"fault"})
    name = v.string(body, "fault", required=True, choices=RESETTABLE_FAULTS)
    assert name is not None  # required=True
    fault = Fault(name)
    if fault not in station.snapshot(connector).faults:
        return web.json_response({"connector": connector, "fault": name, "cleared": True,
                                  "detail": "not active"})
    if fault is Fault.RCD:
        rcd = station.board.connector(connector).rcd
        if rcd is not None:
            await rcd.reset()
    clock = _runtime(request).clock
    deadline = clock.monotonic() + 2.0
    while True:  # the board's "RCD no longer tripped" reading may take a moment to arrive
        await station.submit(ResetFault(connector, fault))
        faults = station.snapshot(connector).faults
        if fault not in faults or clock.monotonic() >= deadline:
            break
        await clock.sleep(0.1)
    cleared = fault not in faults
    body_out = {"connector": connector, "fault": name, "cleared": cleared,
                "faults": sorted(str(f) for f in faults)}
    if not cleared:
        body_out["error"] = f"{name} is still active: its cause persists"
    return web.json_response(body_out, status=200 if cleared else 409)


async def get_openapi(_request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


@web.middleware
async def json_errors(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type != "application/json" and exc.status >= 400:
            return web.json_response({"error": exc.reason}, status=exc.status)
        raise
    except ValueError as exc:  # a model refused the value (e.g. unknown connector)
        return web.json_response({"error": str(exc), "field": getattr(exc, "field", None)}, status=400)
    except Exception:
        # a bug, not bad input: still a JSON answer, and the traceback in the log
        log.exception("local_api_error", path=request.path[:200], method=request.method)
        return web.json_response({"error": "internal error", "field": None}, status=500)


def create_app(runtime: Any, extra_routes: list[web.RouteDef] | None = None,
               auth: ApiAuth | None = None) -> web.Application:
    middlewares: list[Any] = [auth_middleware(auth), json_errors] if auth is not None else [json_errors]
    app = web.Application(middlewares=middlewares, client_max_size=64 * 1024)
    app[RUNTIME_KEY] = runtime
    app.add_routes(
        [
            web.get("/api/status", get_status),
            web.get("/api/openapi.json", get_openapi),
            web.post("/api/sim/connectors/{id}/plug", post_plug),
            web.post("/api/sim/connectors/{id}/unplug", post_unplug),
            web.post("/api/sim/connectors/{id}/ev", post_ev),
            web.post("/api/sim/rfid", post_rfid),
            web.post("/api/sim/faults", post_fault),
            web.post("/api/sim/grid-relay", post_sim_grid_relay),
            web.post("/api/connectors/{id}/reset-fault", post_reset_fault),
            *ENERGY_ROUTES,  # settings, API-fed meters, battery, GET /api/energy, grid relay, phases
            *RFID_ROUTES,  # the RFID reader's card list and learning (chargepoint/services/rfid.py)
            *home_routes(),  # the firmware's /settings, /currents, /ev_meter; /metrics; the page at / (docs/HOME.md)
        ]
    )
    if extra_routes:
        app.add_routes(extra_routes)
    return app


class LocalApi:
    """Runs the API on HOST:PORT for the runtime's lifetime."""

    def __init__(self, runtime: Any, host: str, port: int, extra_routes: list[web.RouteDef] | None = None) -> None:
        self.runtime = runtime
        self.host = host
        self.port = port
        self._extra = extra_routes
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None
        self.auth_description = ""

    async def start(self) -> None:
        http = self.runtime.config.http
        self._runner = web.AppRunner(create_app(self.runtime, self._extra, api_auth(http, self.host)),
                                     access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        addresses = self._runner.addresses  # (host, port, ...) of each bound socket
        self.bound_port = addresses[0][1] if addresses else self.port
        self.auth_description = describe_auth(http, self.host)
        log.info("local_api_listening", url=f"http://{self.host}:{self.bound_port}", auth=self.auth_description)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
