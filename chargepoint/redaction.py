"""Write-only secrets never leave the process: the AuthorizationKey is masked in every log line
and every recorded trace frame (OCPP 1.6 security whitepaper: the key is write-only).

``redact(text)`` masks the value of a ``{"key": "AuthorizationKey", "value": ...}`` pair wherever
it appears in a text (an OCPP frame, a log message).  It is cheap when there is nothing to mask.
"""

from __future__ import annotations

import re
from typing import Any

SECRET_KEYS = ("AuthorizationKey",)
MASK = "***"

_NAMES = "|".join(re.escape(k) for k in SECRET_KEYS)
_Q = '"'
_VALUE = r'(?:[^"\\]|\\.)*'  # a JSON string body: escaped characters allowed
_KEY_THEN_VALUE = re.compile(
    rf'({_Q}key{_Q}\s*:\s*{_Q}(?:{_NAMES}){_Q}\s*,\s*{_Q}value{_Q}\s*:\s*{_Q})({_VALUE})({_Q})'
)
_VALUE_THEN_KEY = re.compile(
    rf'({_Q}value{_Q}\s*:\s*{_Q})({_VALUE})({_Q}\s*,\s*{_Q}key{_Q}\s*:\s*{_Q}(?:{_NAMES}){_Q})'
)


def redact(text: str) -> str:
    if not any(k in text for k in SECRET_KEYS):
        return text
    text = _KEY_THEN_VALUE.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    return _VALUE_THEN_KEY.sub(lambda m: m.group(1) + MASK + m.group(3), text)


def redact_event(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask secrets in every string value of the event."""
    for key, value in event.items():
        if isinstance(value, str) and any(k in value for k in SECRET_KEYS):
            event[key] = redact(value)
    return event
