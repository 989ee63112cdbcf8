"""Authentication of the local API (it can switch contactors).

Bound to a loopback address (the default ``127.0.0.1``) nothing is asked.  Bound elsewhere, every
request must carry ``Authorization: Bearer <http.token>`` or HTTP Basic ``http.username`` /
``http.password`` (compared in constant time); otherwise 401 with a ``WWW-Authenticate`` challenge,
so a browser asks for the Basic credentials and then uses them for the status page and its event
stream.  Requests from the machine itself (a loopback peer: the container's healthcheck, a local
script) are let through.  ``http.open_access = true`` serves everyone (trusted networks only).
The configuration refuses a non-loopback ``http.listen`` without one of these (chargepoint/config.py).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from chargepoint.config import HttpSection, is_loopback

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class ApiAuth:
    token: str
    username: str
    password: str

    def accepts(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and self.token:
            return hmac.compare_digest(value.strip().encode(), self.token.encode())
        if scheme.lower() == "basic" and self.username:
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return False
            user, sep, password = decoded.partition(":")
            return bool(sep) and hmac.compare_digest(user.encode(), self.username.encode()) and \
                hmac.compare_digest(password.encode(), self.password.encode())
        return False

    def describe(self) -> str:
        ways = [w for w, on in (("a bearer token (http.token)", bool(self.token)),
                                ("HTTP Basic (http.username/password)", bool(self.username))) if on]
        return "requires " + " or ".join(ways)


def api_auth(http: HttpSection, host: str) -> ApiAuth | None:
    """The credentials the API must ask for when bound to ``host``; None = no authentication."""
    if is_loopback(host) or http.open_access or not (http.token or http.username):
        return None
    return ApiAuth(http.token, http.username, http.password)


def describe_auth(http: HttpSection, host: str) -> str:
    auth = api_auth(http, host)
    if auth is not None:
        return auth.describe() + " (requests from this machine pass)"
    if is_loopback(host):
        return "none: bound to loopback only"
    return "NONE: open to the network (http.open_access = true)"


def _loopback_peer(request: web.Request) -> bool:
    peer = request.remote
    if not peer:
        return False
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


def auth_middleware(auth: ApiAuth) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _loopback_peer(request) or auth.accepts(request.headers.get("Authorization", "")):
            return await handler(request)
        challenge = 'Basic realm="smartevse-chargepoint", charset="UTF-8"' if auth.username else "Bearer"
        return web.json_response({"error": "authentication required: " + auth.describe(), "field": None},
                                 status=401, headers={"WWW-Authenticate": challenge})

    return check
