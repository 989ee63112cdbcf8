"""The fleet's HTTP API (aiohttp).

* ``GET  /api/summary`` -- counts, msgs/s, latency p50/p99 (the console line, as JSON);
* ``GET  /api/chargepoints?group=&prefix=&state=&offset=&limit=`` -- the members, filtered;
* ``GET  /api/chargepoints/{id}`` -- one member: OCPP status, connectors, latency;
* ``POST /api/chargepoints/{id}/{action}`` and ``POST /api/groups/{group}/{action}`` (group ``*`` = all,
  the query filters of the list apply too) with action ``plug`` ``{"connector", "phases",
  "max_current_a", "soc", "capacity_kwh"}``, ``unplug`` ``{"connector"}``, ``rfid`` ``{"id_tag",
  "connector"}``, ``fault`` ``{"fault", "active", "connector"}``, ``start``, ``stop``.

A wrong body gets 400 naming the field; an unknown id 404; a stopped member 409.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from chargepoint.fleet.fleet import Fleet, member_state
from chargepoint.fleet.member import Member
from chargepoint.fleet.template import FAULT_KINDS

FLEET_KEY = web.AppKey("fleet", Fleet)
ACTIONS = ("plug", "unplug", "rfid", "fault", "start", "stop")


class BodyError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _error(status: int, message: str, field: str | None = None) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    return web.json_response(body, status=status)


def _int(body: dict[str, Any], key: str, default: int | None, lo: int, hi: int) -> int | None:
    v = body.get(key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise BodyError(key, f"must be an integer {lo}..{hi}, got {v!r}")
    return v


def _num(body: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
    v = body.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
        raise BodyError(key, f"must be a number {lo:g}..{hi:g}, got {v!r}")
    return float(v)


def _apply(member: Member, action: str, body: dict[str, Any]) -> None:
    """Perform a board action on one member (raises BodyError, ValueError, RuntimeError)."""
    if action == "plug":
        phases = _int(body, "phases", None, 1, 3)
        if phases not in (None, 1, 3):
            raise BodyError("phases", "must be 1 or 3")
        member.plug(_int(body, "connector", 1, 1, 8) or 1, phases=phases,
                    max_current_a=_num(body, "max_current_a", 0, 80), soc=_num(body, "soc", 0, 100),
                    capacity_kwh=_num(body, "capacity_kwh", 1, 500))
    elif action == "unplug":
        member.unplug(_int(body, "connector", 1, 1, 8) or 1)
    elif action == "rfid":
        tag = body.get("id_tag")
        if not isinstance(tag, str) or not 0 < len(tag) <= 20:
            raise BodyError("id_tag", f"must be a string of 1..20 characters, got {tag!r}")
        member.rfid(tag, _int(body, "connector", 0, 0, 8) or 0)
    elif action == "fault":
        fault = body.get("fault")
        if fault not in FAULT_KINDS:
            raise BodyError("fault", f"must be one of {sorted(FAULT_KINDS)}, got {fault!r}")
        active = body.get("active", True)
        if not isinstance(active, bool):
            raise BodyError("active", f"must be true or false, got {active!r}")
        member.fault(str(fault), active, _int(body, "connector", 1, 1, 8) or 1)
    else:
        raise BodyError("action", f"unknown action {action!r}; known: {', '.join(ACTIONS)}")


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise BodyError("body", "is not valid JSON") from None
    if not isinstance(body, dict):
        raise BodyError("body", "must be a JSON object")
    return body


def _query_int(request: web.Request, key: str, default: int) -> int:
    raw = request.query.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise BodyError(key, f"must be an integer >= 0, got {raw!r}")
    return value


def _filtered(fleet: Fleet, request: web.Request, group: str | None = None) -> list[Member]:
    q = request.query
    state = q.get("state")
    ids = q.get("ids")
    return fleet.select(group=group if group not in (None, "*") else q.get("group"), prefix=q.get("prefix"),
                        state=state, ids=ids.split(",") if ids else None)


async def _act(fleet: Fleet, members: list[Member], action: str, body: dict[str, Any]) -> dict[str, Any]:
    if action == "start":
        return {"started": await fleet.start_members(members), "selected": len(members)}
    if action == "stop":
        return {"stopped": await fleet.stop_members(members), "selected": len(members)}
    done, skipped, errors = 0, 0, {}
    for m in members:
        if not m.started:
            skipped += 1
            continue
        try:
            _apply(m, action, body)
            done += 1
        except BodyError:
            raise
        except (ValueError, RuntimeError) as e:
            errors[m.cp_id] = str(e)
    return {"done": done, "not_running": skipped, "errors": errors, "selected": len(members)}


def _guard(handler: Callable[[web.Request], Awaitable[web.Response]]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except BodyError as e:
            return _error(400, str(e), e.field)
        except ValueError as e:
            return _error(400, str(e))

    return wrapped


def build_app(fleet: Fleet) -> web.Application:
    app = web.Application()
    app[FLEET_KEY] = fleet

    async def summary(request: web.Request) -> web.Response:
        return web.json_response(fleet.summary())

    async def listing(request: web.Request) -> web.Response:
        members = _filtered(fleet, request)
        offset = _query_int(request, "offset", 0)
        limit = _query_int(request, "limit", 1000)
        page = members[offset:offset + max(0, limit)]
        return web.json_response({"total": len(members), "offset": offset, "chargepoints": [
            {"id": m.cp_id, "group": m.spec.group, "state": member_state(m), "registration": m.registration,
             "charging_connectors": m.charging_connectors()} for m in page]})

    async def one(request: web.Request) -> web.Response:
        member = fleet.members.get(request.match_info["id"])
        if member is None:
            return _error(404, f"unknown charge point {request.match_info['id']!r}")
        return web.json_response(member.status())

    async def member_action(request: web.Request) -> web.Response:
        member = fleet.members.get(request.match_info["id"])
        action = request.match_info["action"]
        if member is None:
            return _error(404, f"unknown charge point {request.match_info['id']!r}")
        if action not in ACTIONS:
            return _error(404, f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
        body = await _body(request)
        if action not in ("start", "stop") and not member.started:
            return _error(409, f"{member.cp_id} is not running")
        result = await _act(fleet, [member], action, body)
        if result.get("errors"):
            return _error(400, next(iter(result["errors"].values())))
        return web.json_response(result)

    async def group_action(request: web.Request) -> web.Response:
        action = request.match_info["action"]
        if action not in ACTIONS:
            return _error(404, f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
        group = request.match_info["group"]
        members = _filtered(fleet, request, group)
        if not members and group != "*" and not any(m.spec.group == group for m in fleet.members.values()):
            return _error(404, f"unknown group {group!r}")
        return web.json_response(await _act(fleet, members, action, await _body(request)))

    app.router.add_get("/api/summary", _guard(summary))
    app.router.add_get("/api/chargepoints", _guard(listing))
    app.router.add_get("/api/chargepoints/{id}", _guard(one))
    app.router.add_post("/api/chargepoints/{id}/{action}", _guard(member_action))
    app.router.add_post("/api/groups/{group}/{action}", _guard(group_action))
    return app
