"""Decoding a frame from the CSMS without trusting it (OCPP-J 1.6 §4): any text, any bytes, any depth.

``decode_frame(raw)`` returns the library's ``Call`` / ``CallResult`` / ``CallError``, or raises
:class:`FrameRejected` -- an ``OCPPError`` of a code OCPP-J defines, with the ``unique_id`` to answer
(a CALLERROR) or ``None`` when the frame carries no id we may echo (then it is ignored).  It never
raises anything else: a frame nested a thousand levels deep, invalid UTF-8 or a unique id that is
not a string end here instead of escaping the session's receive loop and dropping the connection.

Rules beyond the library's ``unpack``:

* bytes (a binary websocket frame) must be UTF-8; text must be JSON nested at most ``MAX_DEPTH``
  levels (an OCPP 1.6 message needs fewer than 10) -> else FormationViolation;
* a CALL's unique id must be a string of 1..36 characters (OCPP-J §4.1.3).  A JSON number is
  answered under its decimal text (a well-formed frame the CSMS can still correlate); any other id
  (null, list, object, too long) cannot be echoed without emitting a malformed frame, so the CALL is
  not answered;
* a CALL's action must be a string and its payload an object -> else a CALLERROR.
"""

from __future__ import annotations

import json
import re
from typing import Any

from chargepoint.ocpp.library import (
    Call,
    CallError,
    CallResult,
    FormatViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    ProtocolError,
)

MAX_DEPTH = 32
MAX_UNIQUE_ID = 36
_ID_PREFIX = re.compile(r'^\s*\[\s*2\s*,\s*"([^"\\]{1,36})"')


class FrameRejected(Exception):
    """A frame we cannot take: ``error`` is the OCPP-J error; answer it under ``unique_id`` if set."""

    def __init__(self, error: OCPPError, unique_id: str | None) -> None:
        super().__init__(f"{error.code}: {error.description}")
        self.error = error
        self.unique_id = unique_id


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Is ``value`` nested deeper than ``limit``?  Iterative: no recursion on hostile input."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def answerable_id(value: Any) -> str | None:
    """The unique id to answer a CALL under, or None when no well-formed answer can carry it."""
    if isinstance(value, str):
        return value if 1 <= len(value) <= MAX_UNIQUE_ID else None
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
        return text if len(text) <= MAX_UNIQUE_ID else None
    return None


def _prefix_id(text: str) -> str | None:
    m = _ID_PREFIX.match(text)
    return m.group(1) if m else None


def decode_frame(raw: str | bytes) -> Call | CallResult | CallError:
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FrameRejected(FormatViolationError(description="frame is not UTF-8 text", details={}),
                                None) from None
    else:
        text = raw
    try:
        data = json.loads(text)
    except RecursionError:
        raise FrameRejected(FormatViolationError(description=f"frame nested deeper than {MAX_DEPTH} levels",
                                                 details={}), _prefix_id(text)) from None
    except ValueError:
        raise FrameRejected(FormatViolationError(description="frame is not valid JSON", details={}),
                            _prefix_id(text)) from None
    if not isinstance(data, list) or not data:
        raise FrameRejected(ProtocolError(description="an OCPP-J frame is a JSON array", details={}), None)
    kind = data[0]
    is_call = kind == 2 and not isinstance(kind, bool)
    uid = answerable_id(data[1]) if is_call and len(data) > 1 else None
    if _depth_exceeds(data, MAX_DEPTH):
        raise FrameRejected(FormatViolationError(description=f"frame nested deeper than {MAX_DEPTH} levels",
                                                 details={}), uid)
    if is_call:
        if len(data) != 4:
            raise FrameRejected(ProtocolError(description="a CALL has 4 elements", details={}), uid)
        if not isinstance(data[1], str):
            raise FrameRejected(FormatViolationError(description="uniqueId must be a string", details={}), uid)
        if uid is None:
            raise FrameRejected(FormatViolationError(description="uniqueId longer than 36 characters",
                                                     details={}), None)
        if not isinstance(data[2], str):
            raise FrameRejected(ProtocolError(description="action must be a string", details={}), uid)
        if not isinstance(data[3], dict):
            raise FrameRejected(ProtocolError(description="payload must be a JSON object", details={}), uid)
        return Call(data[1], data[2], data[3])
    if kind in (3, 4) and not isinstance(kind, bool):
        if len(data) < 2 or not isinstance(data[1], str):
            raise FrameRejected(ProtocolError(description="answer without a string uniqueId", details={}), None)
        if kind == 3:
            if len(data) != 3:
                raise FrameRejected(ProtocolError(description="a CALLRESULT has 3 elements", details={}), None)
            return CallResult(data[1], data[2])
        if len(data) != 5 or not isinstance(data[2], str) or not isinstance(data[3], str) \
                or not isinstance(data[4], dict):
            raise FrameRejected(ProtocolError(description="malformed CALLERROR", details={}), None)
        return CallError(data[1], data[2], data[3], data[4])
    raise FrameRejected(PropertyConstraintViolationError(description=f"MessageTypeId {kind!r} is not valid",
                                                         details={}), None)
