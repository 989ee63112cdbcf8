"""Write-only secrets never leave the process: the AuthorizationKey is masked in every log line
and every recorded trace frame (OCPP 1.6 security whitepaper: the key is write-only).

``redact(text)`` masks secrets on the *parsed* message, not on its spelling: every JSON value found
in the text (an OCPP frame, a frame inside a log message) is decoded, and in each object that names
a secret -- ``{"key": "AuthorizationKey", "value": ...}`` whatever else the object holds, or a field
called ``AuthorizationKey`` -- the value is replaced by ``***``; the JSON is written back compact.
So ``"Authorization\\u004bey"``, a field order of the peer's choosing, or extra fields between
``key`` and ``value`` change nothing.  Text that still names a secret after that (a truncated frame,
a Python ``repr``) is masked from the name to the end of its line: losing a log line's tail beats
leaking a key.  It is cheap when there is nothing to mask (one substring test per line).
"""

from __future__ import annotations

import json
import re
from typing import Any

SECRET_KEYS = ("AuthorizationKey",)
MASK = "***"

_DECODER = json.JSONDecoder()
#: a JSON ``\\uXXXX`` escape, possibly with its backslash doubled by a ``repr``
_ESCAPE = re.compile(r"\\+u([0-9a-fA-F]{4})")
_SECRET_NAME = re.compile("|".join(re.escape(k) for k in SECRET_KEYS))
#: at most this many JSON parse attempts per text (a hostile line of brackets stays cheap)
_MAX_ATTEMPTS = 64


def _might_hold_secret(text: str) -> bool:
    return any(k in text for k in SECRET_KEYS) or "\\u" in text


def _names_secret(text: str) -> bool:
    return _SECRET_NAME.search(_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)) is not None


def _mask(value: Any) -> tuple[Any, bool]:
    """``value`` with every secret replaced; True if anything was."""
    if isinstance(value, list):
        changed = False
        items = []
        for item in value:
            new, hit = _mask(item)
            items.append(new)
            changed |= hit
        return items, changed
    if isinstance(value, dict):
        changed = False
        out: dict[str, Any] = {}
        secret_pair = value.get("key") in SECRET_KEYS
        for k, v in value.items():
            if k in SECRET_KEYS or (secret_pair and k == "value"):
                out[k] = MASK
                changed = True
                continue
            new, hit = _mask(v)
            out[k] = new
            changed |= hit
        return out, changed
    if isinstance(value, str) and ("{" in value or "[" in value) and _might_hold_secret(value) \
            and _names_secret(value):
        new = redact(value)  # a frame embedded as a string (e.g. a trace record's "frame")
        return new, new != value
    return value, False


def _mask_json_spans(text: str) -> tuple[str, str]:
    """Every decodable JSON array/object in ``text`` that holds a secret, written back masked; and
    the text outside every decoded JSON value (where a secret could still be named)."""
    parts: list[str] = []
    outside: list[str] = []
    last = 0
    pos = 0
    attempts = 0
    i = 0
    n = len(text)
    while i < n and attempts < _MAX_ATTEMPTS:
        if text[i] not in "[{":
            i += 1
            continue
        attempts += 1
        try:
            value, end = _DECODER.raw_decode(text, i)
        except (ValueError, RecursionError):
            i += 1
            continue
        outside.append(text[last:i])
        last = end
        masked, hit = _mask(value)
        if hit:
            parts.append(text[pos:i])
            parts.append(json.dumps(masked, separators=(",", ":"), ensure_ascii=False))
            pos = end
        i = end
    parts.append(text[pos:])
    outside.append(text[last:])
    return "".join(parts), "".join(outside)


def _mask_line_tails(text: str) -> str:
    """Fallback: each line that names a secret is cut before the structure that names it."""
    lines = text.split("\n")
    for idx, line in enumerate(lines):
        if not _names_secret(line):
            continue
        # cut the original line where the structure holding the name opens (its value may come
        # before the name), else right after a literal name, else the whole line
        raw = _SECRET_NAME.search(line)
        name_at = raw.start() if raw is not None else len(line)
        opens = [i for i in (line.find("{"), line.find("[")) if 0 <= i < name_at]
        cut = min(opens) if opens else (raw.end() if raw is not None else 0)
        lines[idx] = line[:cut] + " " + MASK
    return "\n".join(lines)


_PRIVATE_KEY = re.compile(r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.S)


def _mask_private_keys(text: str) -> str:
    """A PEM private key (security extension: the charge point's TLS key) never leaves the process."""
    if "PRIVATE KEY-----" not in text:
        return text
    return _PRIVATE_KEY.sub(
        lambda m: f"-----BEGIN {m.group(1)}PRIVATE KEY-----{MASK}-----END {m.group(1)}PRIVATE KEY-----", text)


def redact(text: str) -> str:
    text = _mask_private_keys(text)
    if not _might_hold_secret(text) or not _names_secret(text):
        return text
    text, outside = _mask_json_spans(text)
    if _names_secret(outside):
        text = _mask_line_tails(text)
    return text


def redact_event(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask secrets in every string value of the event."""
    for key, value in event.items():
        if isinstance(value, str) and (_might_hold_secret(value) or "PRIVATE KEY-----" in value):
            event[key] = redact(value)
    return event
