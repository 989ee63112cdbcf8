"""``chargepoint run --record FILE``: a JSONL trace of every OCPP frame in and out and every
hardware event, with timestamps, that ``chargepoint replay`` turns into a scenario.

Line types (one JSON object per line):

* ``{"type": "header", "version": 1, "start": ISO, "config": {...}}`` -- first line;
* ``{"type": "ocpp", "t": s, "time": ISO, "dir": "in"|"out", "raw": "<frame text>"}`` -- "out" is
  charge point -> CSMS;
* ``{"type": "hal", "t": s, "time": ISO, "kind": "PilotReading", "data": {...}}`` -- a board event;
* ``{"type": "cmd", ...}`` -- a HAL command the controller issued (for reading the trace; replay
  does not feed commands back);
* ``{"type": "sim", "t": s, "time": ISO, "action": "plug", "args": {...}}`` -- a simulation control
  (plug, unplug, EV change, RFID, fault) given through the local API.

``t`` is seconds since the trace started on the project's clock.
"""

from __future__ import annotations

import dataclasses
import json
from enum import Enum
from pathlib import Path
from typing import Any, TextIO

from chargepoint.clock import Clock
from chargepoint.redaction import redact
from hal import types as hal_types

HAL_EVENT_TYPES = tuple(
    getattr(hal_types, name)
    for name in (
        "PilotReading", "DiodeReading", "ProximityReading", "ContactorFeedback", "LockFeedback", "RcdReading",
        "TemperatureReading", "MeterReading", "MeterStatus", "BoardFault", "BoardStateReport", "RfidPresented",
        "GridRelayReading",
    )
)
HAL_COMMAND_TYPES = (hal_types.SetPilot, hal_types.SetContactors, hal_types.SetLock, hal_types.SetAuthorization,
                     hal_types.RequestBoardState)


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def to_record(item: Any) -> dict[str, Any]:
    return {f.name: _plain(getattr(item, f.name)) for f in dataclasses.fields(item)}


class TraceRecorder:
    def __init__(self, clock: Clock, path: str | Path, config: dict[str, Any] | None = None) -> None:
        self.clock = clock
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO | None = self.path.open("w", encoding="utf-8")
        self._t0 = clock.monotonic()
        self.lines = 0
        self._write({"type": "header", "version": 1, "start": self._iso(), "config": config or {}})

    def _iso(self) -> str:
        return self.clock.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()
        self.lines += 1

    def _stamp(self) -> dict[str, Any]:
        return {"t": round(self.clock.monotonic() - self._t0, 6), "time": self._iso()}

    def frame(self, direction: str, raw: str | bytes) -> None:
        text = redact(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)
        self._write({"type": "ocpp", **self._stamp(), "dir": direction, "raw": text})

    def sim(self, action: str, **args: Any) -> None:
        self._write({"type": "sim", **self._stamp(), "action": action, "args": _plain(args)})

    def station_item(self, item: Any) -> None:
        if isinstance(item, HAL_EVENT_TYPES):
            self._write({"type": "hal", **self._stamp(), "kind": type(item).__name__, "data": to_record(item)})
        elif isinstance(item, HAL_COMMAND_TYPES):
            self._write({"type": "cmd", **self._stamp(), "kind": type(item).__name__, "data": to_record(item)})

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class RecordingConnection:
    """Wraps a websocket connection (anything with async ``recv``/``send``) and records every frame."""

    def __init__(self, connection: Any, recorder: TraceRecorder) -> None:
        self._connection = connection
        self._recorder = recorder

    async def recv(self) -> Any:
        message = await self._connection.recv()
        self._recorder.frame("in", message)
        return message

    async def send(self, message: Any) -> None:
        self._recorder.frame("out", message)
        await self._connection.send(message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)
