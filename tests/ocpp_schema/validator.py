"""Python side of the independent OCPP 1.6J schema validator.

:class:`SchemaValidator` starts ``node validate.js`` once and talks JSONL to it over pipes.  The
node script validates with the official 1.6 schemas bundled in the npm package ``ocpp-rpc``
(installed by ``.ci/install-node-deps`` into ``tests/ocpp_schema/node_modules``), so the test suite
does not judge the charge point with the same ``ocpp`` Python library the charge point is built on.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "validate.js"
NODE_MODULES = HERE / "node_modules"

CP_TO_CSMS = "cp->csms"
CSMS_TO_CP = "csms->cp"

CALL, CALLRESULT, CALLERROR = 2, 3, 4
_TYPE_NAMES = {"CALL": CALL, "CALLRESULT": CALLRESULT, "CALLERROR": CALLERROR}


class SchemaValidatorUnavailable(RuntimeError):
    """node or the npm package is missing, or the node process did not start."""


def _install_from_lock() -> None:
    """First run on a fresh machine: install the pinned npm packages (package-lock.json) with npm ci,
    so that the README's one test command runs the validator too.  Silent on success."""
    if shutil.which("npm") is None or (NODE_MODULES / "ocpp-rpc" / "package.json").is_file():
        return
    import subprocess

    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=HERE, check=False, capture_output=True, timeout=600,
    )


def unavailable_reason() -> str | None:
    """Why the validator cannot run here, or None if it can."""
    if shutil.which("node") is None:
        return "node is not on PATH (install Node.js >= 18)"
    _install_from_lock()
    if not (NODE_MODULES / "ocpp-rpc" / "package.json").is_file():
        return f"npm package ocpp-rpc is not installed in {NODE_MODULES} (run .ci/install-node-deps)"
    return None


class SchemaValidator:
    """One long-running node process; ``validate()`` is synchronous and thread-safe."""

    def __init__(self, *, timeout: float = 10.0) -> None:
        reason = unavailable_reason()
        if reason is not None:
            raise SchemaValidatorUnavailable(reason)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._buffer = b""
        self._next_id = 0
        node = shutil.which("node")
        assert node is not None
        self._proc = subprocess.Popen(
            [node, str(SCRIPT)],
            cwd=str(HERE),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        hello = self._read_line()
        if not hello.get("ready"):
            self.close()
            raise SchemaValidatorUnavailable(f"node validator failed to start: {hello.get('error', hello)}")
        self.package = f"{hello.get('package')}@{hello.get('version')}"
        self.schema_count = int(hello.get("schemas", 0))

    # -- public API --------------------------------------------------------------------------
    def validate(
        self, message_type: int | str, action: str | None, payload: Any, direction: str = CP_TO_CSMS,
        unique_id: str | None = None,
    ) -> list[str]:
        """Errors for one frame (empty list = valid).

        ``message_type`` is 2/3/4 or "CALL"/"CALLRESULT"/"CALLERROR"; ``action`` is the CALL's action
        (for a CALLRESULT: the action of the CALL it answers); ``direction`` is who sent the frame.
        """
        if isinstance(message_type, str):
            try:
                message_type = _TYPE_NAMES[message_type.upper()]
            except KeyError:
                return [f"message_type {message_type!r} is not CALL, CALLRESULT or CALLERROR"]
        with self._lock:
            self._next_id += 1
            request = {
                "id": self._next_id,
                "message_type": message_type,
                "action": action,
                "payload": payload,
                "direction": direction,
            }
            if unique_id is not None:
                request["unique_id"] = unique_id
            self._write_line(request)
            verdict = self._read_line()
        if verdict.get("id") != request["id"]:
            raise SchemaValidatorUnavailable(f"validator answered out of order: {verdict}")
        return list(verdict["errors"])

    def validate_raw(self, raw: str, direction: str = CP_TO_CSMS, action: str | None = None) -> list[str]:
        """Validate a raw OCPP-J frame; ``action`` is needed for a CALLRESULT (the CALL's action)."""
        try:
            frame = json.loads(raw)
        except ValueError as exc:
            return [f"frame is not JSON: {exc}"]
        if not isinstance(frame, list) or len(frame) < 3:
            return ["frame must be a JSON array [MessageTypeId, UniqueId, ...]"]
        kind, unique_id = frame[0], frame[1]
        if kind == CALL and len(frame) == 4:
            return self.validate(CALL, frame[2], frame[3], direction, unique_id)
        if kind == CALLRESULT and len(frame) == 3:
            return self.validate(CALLRESULT, action, frame[2], direction, unique_id)
        if kind == CALLERROR and len(frame) == 5:
            body = {"errorCode": frame[2], "errorDescription": frame[3], "errorDetails": frame[4]}
            return self.validate(CALLERROR, None, body, direction, unique_id)
        return [f"frame has MessageTypeId {kind!r} with {len(frame)} elements: not an OCPP-J 1.6 frame"]

    def close(self) -> None:
        proc = self._proc
        if proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.close()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> SchemaValidator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- pipe plumbing -----------------------------------------------------------------------
    def _write_line(self, obj: Any) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(obj).encode() + b"\n")
            self._proc.stdin.flush()
        except OSError as exc:
            raise SchemaValidatorUnavailable(f"node validator died: {self._stderr_tail()}") from exc

    def _read_line(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([fd], [], [], self._timeout)
            if not ready:
                raise SchemaValidatorUnavailable(f"node validator did not answer within {self._timeout} s")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise SchemaValidatorUnavailable(f"node validator exited: {self._stderr_tail()}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def _stderr_tail(self) -> str:
        if self._proc.poll() is None or self._proc.stderr is None:
            return "(still running)"
        return self._proc.stderr.read().decode(errors="replace")[-2000:]
