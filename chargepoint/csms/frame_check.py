"""Schema checks of the frames charge points send to the test CSMS: every frame, or a sample at scale.

:class:`FrameCheck` listens to a :class:`~chargepoint.csms.frames.FrameLog` and hands each CALL /
CALLRESULT a charge point sent to a ``validate`` function -- the independent OCPP 1.6 validator of
the test suite (``tests/ocpp_schema``: node + the npm package ocpp-rpc's official schemas), not the
``ocpp`` library the charge point is built on.  It counts what it checked (per charge point and per
action) and what failed.

* ``sample=1.0``: every frame (the test suite's plugin, ``tests/ocpp_schema/plugin.py``);
* ``sample=0.01``: one frame in a hundred at random (seeded), plus the first frame of every kind
  (message type + action), so each kind is checked at least once however rare;
* ``cp_sample=0.01``: every frame of one charge point in a hundred (a stable hash of its id), so
  those are checked whole, sequence and all -- a full check of 100 inside a fleet of 10,000;
* ``threaded=True``: validation runs in a worker thread behind a bounded queue, so a CSMS serving a
  fleet is not slowed by it; frames beyond the backlog are counted as ``dropped`` (not checked).

``chargepoint csms --validate-sample F --validate-cps F --validate-report FILE`` runs it in the
built-in CSMS (:func:`load_schema_validator` finds the validator in the source tree).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import queue
import random
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chargepoint.csms.frames import CALL, CALLERROR, CALLRESULT, IN, INVALID, Frame

#: validate(message_type, action, payload, direction, unique_id) -> errors ([] = valid)
Validate = Callable[[str, str | None, Any, str, str | None], list[str]]

VALIDATOR = Path(__file__).resolve().parents[2] / "tests" / "ocpp_schema" / "validator.py"


class FrameCheckUnavailable(RuntimeError):
    """The independent validator cannot run here (no source tree, no node, no npm package)."""


def load_schema_validator() -> Any:
    """The test suite's :class:`SchemaValidator` (one node process), from the source tree."""
    if not VALIDATOR.is_file():
        raise FrameCheckUnavailable(f"the OCPP schema validator is part of the source tree ({VALIDATOR} is "
                                    "missing): run from a checkout of smartevse-chargepoint")
    spec = importlib.util.spec_from_file_location("ocpp_schema_validator", VALIDATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        return module.SchemaValidator()
    except module.SchemaValidatorUnavailable as exc:
        raise FrameCheckUnavailable(str(exc)) from None


def cp_in_sample(cp_id: str, fraction: float) -> bool:
    """Whether ``cp_id`` is in the ``fraction`` of charge points checked whole (stable across runs and
    processes: a hash of the id, not Python's salted ``hash``)."""
    digest = hashlib.blake2b(cp_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") < fraction * 2**64


class FrameCheck:
    def __init__(self, validate: Validate, *, sample: float = 1.0, cp_sample: float = 0.0, seed: int = 1,
                 check_callerrors: bool = False, keep_errors: int | None = None, threaded: bool = False,
                 backlog: int = 10_000) -> None:
        if not 0.0 <= sample <= 1.0 or not 0.0 <= cp_sample <= 1.0:
            raise ValueError("sample fractions must be within 0..1")
        self.validate = validate
        self.sample = sample
        self.cp_sample = cp_sample
        self.check_callerrors = check_callerrors
        self.keep_errors = keep_errors
        self.errors: list[str] = []
        self.seen = 0  # frames the charge points sent
        self.checked = 0
        self.failed = 0
        self.dropped = 0
        self.checked_by_cp: Counter[str] = Counter()
        self.checked_by_action: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._kinds: set[tuple[str, str | None]] = set()
        self._cp_chosen: dict[str, bool] = {}
        self._lock = threading.Lock()
        #: called by :meth:`close` (e.g. the validator's own close)
        self.on_close: Callable[[], None] | None = None
        self._queue: queue.Queue[Frame | None] | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._queue = queue.Queue(maxsize=backlog)
            self._thread = threading.Thread(target=self._work, name="frame-check", daemon=True)
            self._thread.start()

    # -- the listener -------------------------------------------------------------------------------
    def on_frame(self, frame: Frame) -> None:
        if frame.direction != IN:
            return
        self.seen += 1
        if frame.message_type == INVALID:
            self._failed(frame, ["not an OCPP-J frame"])
            return
        if frame.message_type == CALLERROR and not self.check_callerrors:
            return
        if frame.message_type == CALLRESULT and frame.action is None:
            self._failed(frame, ["CALLRESULT answers no outstanding CALL of the central system"])
            return
        if frame.message_type not in (CALL, CALLRESULT, CALLERROR) or not self._chosen(frame):
            return
        if self._queue is None:
            self._check(frame)
            return
        try:
            self._queue.put_nowait(frame)
        except queue.Full:
            self.dropped += 1

    def _chosen(self, frame: Frame) -> bool:
        if self.sample >= 1.0:
            return True
        kind = (frame.message_type, frame.action)
        first = kind not in self._kinds
        if first:
            self._kinds.add(kind)
        whole = False
        if self.cp_sample > 0.0:
            chosen = self._cp_chosen.get(frame.cp_id)
            if chosen is None:
                chosen = self._cp_chosen[frame.cp_id] = cp_in_sample(frame.cp_id, self.cp_sample)
            whole = chosen
        return first or whole or (self.sample > 0.0 and self._rng.random() < self.sample)

    def _check(self, frame: Frame) -> None:
        errors = self.validate(frame.message_type, frame.action, frame.payload, IN, frame.unique_id)
        with self._lock:
            self.checked += 1
            self.checked_by_cp[frame.cp_id] += 1
            self.checked_by_action[f"{frame.message_type} {frame.action}"] += 1
        if errors:
            self._failed(frame, errors)

    def _failed(self, frame: Frame, errors: list[str]) -> None:
        where = f"{frame.cp_id} frame #{frame.seq} {frame.raw[:300]}"
        with self._lock:
            self.failed += 1
            if self.keep_errors is None or len(self.errors) < self.keep_errors:
                self.errors.extend(f"{where}: {e}" for e in errors)

    def _work(self) -> None:
        assert self._queue is not None
        while (frame := self._queue.get()) is not None:
            try:
                self._check(frame)
            except Exception as exc:  # the validator died: say so in the report, keep counting
                self._failed(frame, [f"validator unavailable: {exc}"])

    # -- results --------------------------------------------------------------------------------------
    def take_errors(self) -> list[str]:
        with self._lock:
            errors, self.errors = self.errors, []
        return errors

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {"sample": self.sample, "cp_sample": self.cp_sample, "seen": self.seen, "checked": self.checked,
                    "failed": self.failed, "dropped": self.dropped, "charge_points": len(self.checked_by_cp),
                    "pending": self._queue.qsize() if self._queue is not None else 0,
                    "by_action": dict(sorted(self.checked_by_action.items())),
                    # the charge points checked whole (cp_sample) and how many frames of each
                    "whole": {cp: self.checked_by_cp[cp] for cp, chosen in sorted(self._cp_chosen.items()) if chosen},
                    "errors": list(self.errors)}

    def write(self, path: str | Path) -> None:
        p = Path(path)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(json.dumps(self.summary(), indent=1))
        tmp.replace(p)

    def close(self, timeout: float = 30.0) -> None:
        """Check what is still queued (up to ``timeout`` s), then stop the worker thread."""
        if self._thread is not None and self._queue is not None:
            try:
                self._queue.put(None, timeout=timeout)
                self._thread.join(timeout)
            except queue.Full:  # the validator is stuck: the thread is a daemon, leave it
                pass
            self._thread = None
        if self.on_close is not None:
            self.on_close()
            self.on_close = None
