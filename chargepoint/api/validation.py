"""Request-body validation for the local API: a wrong body gets 400 with the field named."""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web


class BadRequest(web.HTTPBadRequest):
    def __init__(self, field: str | None, message: str) -> None:
        body = {"error": message, "field": field}
        super().__init__(text=json.dumps(body), content_type="application/json")
        self.field = field
        self.message = message


async def json_body(request: web.Request, *, allow_empty: bool = False) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        if allow_empty:
            return {}
        raise BadRequest(None, "request body must be a JSON object")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(None, f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest(None, "request body must be a JSON object")
    return body


def reject_unknown(body: dict[str, Any], known: set[str]) -> None:
    for key in body:
        if key not in known:
            raise BadRequest(key, f"unknown field {key!r}; allowed: {', '.join(sorted(known))}")


def number(body: dict[str, Any], name: str, *, required: bool = False, lo: float | None = None,
           hi: float | None = None, nullable: bool = False, integer: bool = False) -> float | None:
    if name not in body:
        if required:
            raise BadRequest(name, f"{name} is required")
        return None
    value = body[name]
    if value is None:
        if nullable:
            return None
        raise BadRequest(name, f"{name} must be a number, not null")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadRequest(name, f"{name} must be a number")
    if integer and int(value) != value:
        raise BadRequest(name, f"{name} must be an integer")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise BadRequest(name, f"{name} must be between {lo:g} and {hi:g}")
    return float(value)


def boolean(body: dict[str, Any], name: str, *, required: bool = False) -> bool | None:
    if name not in body:
        if required:
            raise BadRequest(name, f"{name} is required")
        return None
    value = body[name]
    if not isinstance(value, bool):
        raise BadRequest(name, f"{name} must be true or false")
    return value


def string(body: dict[str, Any], name: str, *, required: bool = False, choices: tuple[str, ...] | None = None,
           max_length: int = 255) -> str | None:
    if name not in body:
        if required:
            raise BadRequest(name, f"{name} is required")
        return None
    value = body[name]
    if not isinstance(value, str) or not value:
        raise BadRequest(name, f"{name} must be a non-empty string")
    if len(value) > max_length:
        raise BadRequest(name, f"{name} must be at most {max_length} characters")
    if choices is not None and value not in choices:
        raise BadRequest(name, f"{name} must be one of {', '.join(choices)}")
    return value
