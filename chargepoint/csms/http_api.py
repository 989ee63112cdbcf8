"""HTTP control API of the test CSMS (aiohttp).

    GET  /healthz
    GET  /api/cps                       connected charge points and their registration status
    POST /api/cps/{id}/call             {"action": "...", "payload": {...}, "timeout": 30}
    GET  /api/frames?cp=ID&since=SEQ    the frame log (since: a sequence number or an ISO time)
    GET  /api/behaviour                 current behaviour
    POST /api/behaviour                 change behaviour (see Behaviour.update; offline_seconds)
    GET  /api/transactions
    ... and the security extension's routes (security_api.py): /api/pki, /api/cps/{id}/security,
    install-certificate, certificate-signed, signed-update

Bad bodies get HTTP 400 with ``{"error": ..., "field": ...}`` naming the field.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from chargepoint.csms.behaviour import BehaviourError, parse_seconds
from chargepoint.csms.security_api import routes as security_routes
from chargepoint.csms.session import NotConnectedError

if TYPE_CHECKING:
    from chargepoint.csms.server import TestCsms

CSMS_KEY: web.AppKey[TestCsms] = web.AppKey("csms")


def _bad(field: str, message: str) -> web.Response:
    return web.json_response({"error": f"{field}: {message}", "field": field}, status=400)


async def _json_body(request: web.Request) -> Any:
    text = await request.text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BehaviourError("body", f"not valid JSON ({exc.msg})") from None


async def healthz(request: web.Request) -> web.Response:
    csms = request.app[CSMS_KEY]
    return web.json_response({"status": "ok", "connected": len(csms.sessions), "offline": csms.offline})


async def list_cps(request: web.Request) -> web.Response:
    csms = request.app[CSMS_KEY]
    cps = []
    for cp_id in csms.connected_ids():
        session = csms.sessions[cp_id]
        heartbeat = csms.last_heartbeat.get(cp_id)
        cps.append({
            "id": cp_id,
            "registration": csms.registration.get(cp_id),
            "connected_at": session.connected_at.isoformat(),
            "last_heartbeat": heartbeat.isoformat() if heartbeat else None,
            "boot": csms.boot_info.get(cp_id),
            "connectors": {str(k): v for k, v in csms.connector_status.get(cp_id, {}).items()},
        })
    return web.json_response({"cps": cps})


async def call_cp(request: web.Request) -> web.Response:
    csms = request.app[CSMS_KEY]
    cp_id = request.match_info["cp_id"]
    try:
        body = await _json_body(request)
    except BehaviourError as exc:
        return _bad(exc.field, exc.message)
    if not isinstance(body, dict):
        return _bad("body", "must be a JSON object {action, payload}")
    action = body.get("action")
    if not isinstance(action, str) or not action:
        return _bad("action", "required: the OCPP action name, e.g. RemoteStartTransaction")
    payload = body.get("payload", {})
    if not isinstance(payload, dict):
        return _bad("payload", "must be a JSON object")
    timeout = body.get("timeout")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            return _bad("timeout", "must be a positive number of seconds")
        timeout = float(timeout)
    try:
        outcome = await csms.call(cp_id, action, payload, timeout)
    except NotConnectedError as exc:
        return web.json_response({"error": str(exc), "field": "id"}, status=404)
    return web.json_response(outcome.to_json())


async def get_frames(request: web.Request) -> web.Response:
    csms = request.app[CSMS_KEY]
    cp_id = request.query.get("cp") or None
    since_text = request.query.get("since", "")
    frames = csms.frame_log.select(cp_id)
    if since_text:
        if since_text.isdigit():
            since = int(since_text)
            frames = [f for f in frames if f.seq > since]
        else:
            try:
                when = datetime.fromisoformat(since_text.replace("Z", "+00:00"))
            except ValueError:
                return _bad("since", "must be a frame sequence number or an ISO 8601 time")
            if when.tzinfo is None:
                return _bad("since", "an ISO 8601 time needs a UTC offset (e.g. Z)")
            frames = [f for f in frames if f.time > when]
    last = csms.frames[-1].seq if csms.frames else 0
    return web.json_response({"frames": [f.to_json() for f in frames], "last_seq": last})


async def get_behaviour(request: web.Request) -> web.Response:
    csms = request.app[CSMS_KEY]
    return web.json_response(_behaviour_json(csms))


async def post_behaviour(request: web.Request) -> web.Response:
    csms = request.app[CSMS_KEY]
    try:
        body = await _json_body(request)
        csms.behaviour.update(body)
        if "offline_seconds" in body:
            await csms.go_offline(parse_seconds(body["offline_seconds"], "offline_seconds"))
    except BehaviourError as exc:
        return _bad(exc.field, exc.message)
    return web.json_response(_behaviour_json(csms))


async def get_transactions(request: web.Request) -> web.Response:
    csms = request.app[CSMS_KEY]
    return web.json_response({"transactions": {str(k): v for k, v in csms.transactions.items()}})


def _behaviour_json(csms: TestCsms) -> dict[str, Any]:
    out = csms.behaviour.to_json()
    remaining = 0.0
    if csms.offline and csms.offline_until is not None:
        remaining = csms.offline_until - csms.clock.monotonic()
    out["offline_remaining"] = round(remaining, 3)
    return out


def build_app(csms: TestCsms) -> web.Application:
    app = web.Application()
    app[CSMS_KEY] = csms
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/cps", list_cps)
    app.router.add_post("/api/cps/{cp_id}/call", call_cp)
    app.router.add_get("/api/frames", get_frames)
    app.router.add_get("/api/behaviour", get_behaviour)
    app.router.add_post("/api/behaviour", post_behaviour)
    app.router.add_get("/api/transactions", get_transactions)
    app.router.add_routes(security_routes(CSMS_KEY))
    return app
