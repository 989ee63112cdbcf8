"""Local API routes of the RFID reader's modes (chargepoint/services/rfid.py, docs/HARDWARE.md):

* ``GET /api/rfid`` -- mode, the card list, access per connector with the AccessTimer, the armed
  learning window, the latest decisions.
* ``POST /api/rfid/cards`` ``{"uid"}`` -- learn a card by its id (409 when the list is full).
* ``DELETE /api/rfid/cards/{uid}`` -- delete one (404 when it is not on the list); access it holds ends.
* ``DELETE /api/rfid/cards`` -- delete every card.
* ``POST /api/rfid/learn`` ``{"action": "learn"|"delete"|null}`` -- the next cards presented within
  60 s are learnt / deleted (the firmware's Learn / Delete reader modes); 409 in mode ocpp, where
  every card goes to OCPP.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chargepoint.access.rfid_reader import CardError, CardListFull, UnknownCard
from chargepoint.api import validation as v
from chargepoint.api.validation import BadRequest


def _rfid(request: web.Request) -> Any:
    from chargepoint.api.app import RUNTIME_KEY
    from chargepoint.services.rfid import find_rfid

    service = find_rfid(request.app[RUNTIME_KEY])
    if service is None:
        raise v.json_error(web.HTTPServiceUnavailable, "the RFID reader is not running")
    return service


async def get_rfid(request: web.Request) -> web.Response:
    return web.json_response(_rfid(request).status())


async def post_card(request: web.Request) -> web.Response:
    service = _rfid(request)
    body = await v.json_body(request)
    v.reject_unknown(body, {"uid"})
    raw = v.string(body, "uid", required=True, max_length=40)
    try:
        uid = await service.learn(raw or "")
    except CardListFull as exc:
        return web.json_response({"error": exc.message, "field": exc.field}, status=409)
    except CardError as exc:
        raise BadRequest(exc.field, exc.message) from None
    return web.json_response({"learnt": uid, "cards": service.reader.cards})


async def delete_card(request: web.Request) -> web.Response:
    service = _rfid(request)
    raw = request.match_info["uid"]
    try:
        uid = await service.delete(raw)
    except CardError as exc:
        status = 404 if isinstance(exc, UnknownCard) else 400
        return web.json_response({"error": exc.message, "field": exc.field}, status=status)
    return web.json_response({"deleted": uid, "cards": service.reader.cards})


async def delete_cards(request: web.Request) -> web.Response:
    service = _rfid(request)
    return web.json_response({"deleted": await service.delete_all(), "cards": service.reader.cards})


async def post_learn(request: web.Request) -> web.Response:
    service = _rfid(request)
    body = await v.json_body(request)
    v.reject_unknown(body, {"action"})
    if "action" not in body:
        raise BadRequest("action", "action is required: learn, delete or null (disarm)")
    action = None if body["action"] is None else v.string(body, "action", choices=("learn", "delete"))
    if action is not None and not service.reader.local:
        return web.json_response(
            {"error": "[rfid] mode = ocpp: every card presented goes to OCPP; learn cards by id "
                      "(POST /api/rfid/cards) or set mode enable_all / enable_one", "field": "action"}, status=409)
    service.arm(action)
    return web.json_response(service.status())


RFID_ROUTES: list[web.RouteDef] = [
    web.get("/api/rfid", get_rfid),
    web.post("/api/rfid/cards", post_card),
    web.delete("/api/rfid/cards", delete_cards),
    web.delete("/api/rfid/cards/{uid}", delete_card),
    web.post("/api/rfid/learn", post_learn),
]
