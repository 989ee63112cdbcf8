"""Request-body validation for the local API: a wrong body gets 400 with the field named."""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web

#: numbers beyond this magnitude are refused before any arithmetic (a 400-digit integer would
#: overflow a float conversion); far above any current, power or energy the API takes
MAX_MAGNITUDE = 1e15


def json_error(exc_class: type[web.HTTPException], message: str, field: str | None = None) -> web.HTTPException:
    """An HTTP error whose body is JSON built by the JSON encoder (never by string formatting)."""
    return exc_class(text=json.dumps({"error": message, "field": field}), content_type="application/json")


class BadRequest(web.HTTPBadRequest):
    def __init__(self, field: str | None, message: str) -> None:
        body = {"error": message, "field": field}
        super().__init__(text=json.dumps(body), content_type="application/json")
        self.field = field
        self.message = message


def ascii_int(text: str) -> int | None:
    """``text`` as a non-negative integer of ASCII digits (at most 9), else None ("１" is not 1)."""
    if not text or len(text) > 9 or not all("0" <= ch <= "9" for ch in text):
        return None
    return int(text)


async def json_body(request: web.Request, *, allow_empty: bool = False) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        if allow_empty:
            return {}
        raise BadRequest(None, "request body must be a JSON object")
    try:
        body = json.loads(raw)
    except RecursionError:
        raise BadRequest(None, "request body is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:  # ValueError: also integers beyond 4300 digits
        raise BadRequest(None, f"request body is not valid JSON: {str(exc)[:200]}") from None
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
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(name, f"{name} must be a number")
    if isinstance(value, int) and abs(value) > MAX_MAGNITUDE:
        raise BadRequest(name, f"{name} is out of range")
    if not math.isfinite(value):
        raise BadRequest(name, f"{name} must be a finite number")
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
