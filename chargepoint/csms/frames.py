"""The frame log: every OCPP-J frame in and out, in memory, on the console and in a JSONL file.

``keep`` bounds the memory (a CSMS under a fleet's load for hours): only the last ``keep`` frames stay
in ``frames``; their ``seq`` and the indices ``select``/``wait_for`` take still count every frame since
the start (``dropped`` frames are no longer there).  ``console=False`` prints no line per frame."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import structlog

from chargepoint.clock import Clock

#: Directions, as seen from the charge point's side of the wire.
IN = "cp->csms"
OUT = "csms->cp"

CALL, CALLRESULT, CALLERROR = "CALL", "CALLRESULT", "CALLERROR"
INVALID = "INVALID"
_TYPES = {2: CALL, 3: CALLRESULT, 4: CALLERROR}

log = structlog.get_logger("csms")


@dataclass(frozen=True)
class Frame:
    direction: str  # IN (cp->csms) or OUT (csms->cp)
    cp_id: str
    message_type: str  # CALL, CALLRESULT, CALLERROR or INVALID (not an OCPP-J frame)
    action: str | None  # a CALL's action; for a CALLRESULT/CALLERROR the action of the CALL answered
    unique_id: str | None
    payload: Any  # CALL/CALLRESULT payload; CALLERROR {errorCode, errorDescription, errorDetails}
    raw: str
    time: datetime
    seq: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time.isoformat(),
            "direction": self.direction,
            "cp_id": self.cp_id,
            "message_type": self.message_type,
            "action": self.action,
            "unique_id": self.unique_id,
            "payload": self.payload,
            "raw": self.raw,
        }


def parse_frame(raw: str | bytes) -> tuple[str, str | None, str | None, Any]:
    """(message_type, unique_id, action-if-CALL, payload) of a raw frame; INVALID if not OCPP-J."""
    try:
        msg = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested ~1000 deep
        return INVALID, None, None, None
    if not isinstance(msg, list) or len(msg) < 3 or isinstance(msg[0], bool) or msg[0] not in _TYPES:
        return INVALID, None, None, None
    kind = _TYPES[msg[0]]
    unique_id = msg[1] if isinstance(msg[1], str) else None
    if kind == CALL and len(msg) == 4 and isinstance(msg[2], str):
        return CALL, unique_id, msg[2], msg[3]
    if kind == CALLRESULT and len(msg) == 3:
        return CALLRESULT, unique_id, None, msg[2]
    if kind == CALLERROR and len(msg) == 5:
        return CALLERROR, unique_id, None, {"errorCode": msg[2], "errorDescription": msg[3], "errorDetails": msg[4]}
    return INVALID, unique_id, None, None


FrameListener = Callable[[Frame], None]


class FrameLog:
    """Append-only list of frames with listeners, waiters and an optional JSONL file."""

    def __init__(self, clock: Clock, jsonl_path: str | Path | None = None, console: bool = True,
                 keep: int | None = None) -> None:
        if keep is not None and keep < 1:
            raise ValueError(f"keep: must be >= 1, got {keep}")
        self.clock = clock
        self.frames: list[Frame] = []
        self.keep = keep
        #: frames no longer in ``frames`` (beyond ``keep``); ``count`` is every frame since the start
        self.dropped = 0
        #: called after old frames were dropped (the CSMS trims its other records along)
        self.on_trim: Callable[[], None] | None = None
        self.listeners: list[FrameListener] = []
        self._console = console
        self._file: TextIO | None = None
        self.path = Path(jsonl_path) if jsonl_path is not None else None
        self._changed = asyncio.Event()
        # Outstanding CALL ids per (cp, direction of the CALL): unique_id -> action.
        self._open_calls: dict[tuple[str, str], dict[str, str]] = {}

    def open(self) -> None:
        if self.path is not None and self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def record(self, direction: str, cp_id: str, raw: str | bytes) -> Frame:
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        kind, unique_id, action, payload = parse_frame(text)
        if kind == CALL and unique_id is not None and action is not None:
            self._open_calls.setdefault((cp_id, direction), {})[unique_id] = action
        elif kind in (CALLRESULT, CALLERROR) and unique_id is not None:
            answered = OUT if direction == IN else IN
            action = self._open_calls.get((cp_id, answered), {}).pop(unique_id, None)
        frame = Frame(direction, cp_id, kind, action, unique_id, payload, text, self.clock.now(), self.count + 1)
        self.frames.append(frame)
        if self.keep is not None and len(self.frames) >= self.keep + max(1, self.keep // 10):
            excess = len(self.frames) - self.keep
            del self.frames[:excess]  # in steps of a tenth: the cost of the del spread over many frames
            self.dropped += excess
            if self.on_trim is not None:
                self.on_trim()
        if self._console:
            log.info("frame", dir=direction, cp=cp_id, type=kind, action=action, raw=text)
        if self._file is not None:
            self._file.write(json.dumps(frame.to_json()) + "\n")
            self._file.flush()
        for listener in list(self.listeners):
            listener(frame)
        self._changed.set()
        self._changed = asyncio.Event()
        return frame

    def forget_connection(self, cp_id: str) -> None:
        """Drop outstanding CALL ids of a closed connection (answers can no longer arrive)."""
        self._open_calls.pop((cp_id, IN), None)
        self._open_calls.pop((cp_id, OUT), None)

    @property
    def count(self) -> int:
        """Every frame recorded since the start (kept or dropped)."""
        return self.dropped + len(self.frames)

    def select(self, cp_id: str | None = None, since: int = 0) -> list[Frame]:
        """The kept frames from index ``since`` (counting every frame since the start) on."""
        return [f for f in self.frames[max(0, since - self.dropped):] if cp_id is None or f.cp_id == cp_id]

    async def wait_for(self, predicate: Callable[[Frame], bool], timeout: float, start: int = 0) -> Frame:  # noqa: ASYNC109 - timeout is virtual-clock time
        """First frame (index >= start) matching ``predicate``; asyncio.TimeoutError after ``timeout``."""

        async def _wait() -> Frame:
            index = start
            while True:
                while index < self.count:
                    index = max(index, self.dropped)  # frames dropped meanwhile are not seen
                    frame = self.frames[index - self.dropped]
                    index += 1
                    if predicate(frame):
                        return frame
                await self._changed.wait()

        return await self.clock.wait_for(_wait(), timeout)
