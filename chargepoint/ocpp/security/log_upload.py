"""GetLog / LogStatusNotification (whitepaper edition 2, N01): the diagnostics log or the security
log, zipped and uploaded to ``log.remoteLocation`` over HTTP(S) or FTP with the diagnostics upload
code (``diagnostics.upload``: PUT to a URL ending in ``/``, else multipart POST; FTP STOR).

GetLog answers Accepted with the file name (AcceptedCanceled when it cancels a running upload;
Rejected for a location that cannot be used).  Then LogStatusNotification with the requestId:
Uploading, and Uploaded or a failure: PermissionDenied (HTTP 401/403, FTP 530), NotSupportedOperation
(HTTP 405/501, FTP 502), UploadFailure otherwise.  Idle only when triggered.

* DiagnosticsLog: the diagnostics archive (``diagnostics.build_archive``: log and frame files cut to
  [oldestTimestamp, latestTimestamp], never the SQLite store or key files);
* SecurityLog: ``security-log.jsonl`` (the security events in the window) and a manifest.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from ocpp.exceptions import OCPPError

from chargepoint.clock import Clock
from chargepoint.ocpp.diagnostics import build_archive, upload
from chargepoint.ocpp.errors import format_datetime
from chargepoint.ocpp.firmware import Location, TransferError, parse_location
from chargepoint.ocpp.security.events import SecurityEventLog

log = logging.getLogger("chargepoint.ocpp.security")

LOG_TYPES = ("DiagnosticsLog", "SecurityLog")
SendFn = Callable[[str, dict[str, Any]], object]
_PERMISSION = re.compile(r"HTTP 40[13]\b|\b530\b")
_NOT_SUPPORTED = re.compile(r"HTTP (405|501)\b|\b502\b")


def failure_status(error: TransferError) -> str:
    text = str(error)
    if _PERMISSION.search(text):
        return "PermissionDenied"
    if _NOT_SUPPORTED.search(text):
        return "NotSupportedOperation"
    return "UploadFailure"


def security_archive(events: SecurityEventLog, manifest: dict[str, Any], oldest: datetime | None,
                     latest: datetime | None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps({**manifest, "files": ["security-log.jsonl"]}, indent=2))
        zf.writestr("security-log.jsonl", events.export_jsonl(oldest, latest))
    return buf.getvalue()


class LogUploader:
    """At most one upload at a time; ``status`` / ``request_id`` describe the last one."""

    def __init__(self, clock: Clock, data_dir: Path, events: SecurityEventLog, send: SendFn, cp_id: str,
                 *, transfer_timeout_s: float = 120.0) -> None:
        self.clock = clock
        self.data_dir = Path(data_dir)
        self.events = events
        self.send = send
        self.cp_id = cp_id
        self.transfer_timeout_s = transfer_timeout_s
        self.status = "Idle"
        self.request_id: int | None = None
        self.history: list[tuple[int, str]] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def file_name(self, log_type: str) -> str:
        stamp = self.clock.now().strftime("%Y%m%dT%H%M%SZ")
        safe_id = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in self.cp_id)
        kind = "security" if log_type == "SecurityLog" else "diagnostics"
        return f"{kind}-log-{safe_id}-{stamp}.zip"

    def check_location(self, location: str) -> Location | None:
        try:
            return parse_location(location, "log.remoteLocation")
        except OCPPError as exc:
            log.info("GetLog rejected: %s", exc.description)
            return None

    def start(self, log_type: str, request_id: int, loc: Location, file_name: str, oldest: datetime | None,
              latest: datetime | None, attempts: int, interval: float) -> bool:
        """Start the upload; True when it cancelled a running one."""
        cancelled = False
        if self.busy:
            assert self._task is not None
            self._task.cancel()
            cancelled = True
            log.info("GetLog %d cancels the upload of request %s", request_id, self.request_id)
        self.request_id = request_id
        self._task = asyncio.ensure_future(
            self._run(log_type, request_id, loc, file_name, oldest, latest, attempts, interval))
        return cancelled

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def notification(self, triggered: bool = False) -> dict[str, Any]:
        """The LogStatusNotification payload for the current state (Idle only when triggered)."""
        status = self.status if self.busy or not triggered else "Idle"
        payload: dict[str, Any] = {"status": status}
        if self.request_id is not None and status != "Idle":
            payload["requestId"] = self.request_id
        return payload

    def _notify(self, request_id: int, status: str) -> None:
        self.status = status
        self.history.append((request_id, status))
        log.info("log upload %d: %s", request_id, status)
        self.send("LogStatusNotification", {"status": status, "requestId": request_id})

    def _manifest(self, log_type: str, oldest: datetime | None, latest: datetime | None) -> dict[str, Any]:
        return {"chargePointId": self.cp_id, "logType": log_type, "generatedAt": format_datetime(self.clock.now()),
                "oldestTimestamp": format_datetime(oldest) if oldest else None,
                "latestTimestamp": format_datetime(latest) if latest else None}

    async def _run(self, log_type: str, request_id: int, loc: Location, file_name: str, oldest: datetime | None,
                   latest: datetime | None, attempts: int, interval: float) -> None:
        loop = asyncio.get_running_loop()
        manifest = self._manifest(log_type, oldest, latest)
        if log_type == "SecurityLog":
            data = security_archive(self.events, manifest, oldest, latest)
        else:
            data, _names = await loop.run_in_executor(None, build_archive, self.data_dir, manifest, oldest, latest)
        self._notify(request_id, "Uploading")
        failure = "UploadFailure"
        for attempt in range(1, attempts + 1):
            try:
                await upload(loc, file_name, data, self.transfer_timeout_s)
            except TransferError as exc:
                failure = failure_status(exc)
                log.warning("log upload %d attempt %d/%d failed: %s", request_id, attempt, attempts, exc)
                if attempt < attempts:
                    await self.clock.sleep(interval)
                continue
            log.info("log upload %d: %s (%d bytes)", request_id, file_name, len(data))
            self._notify(request_id, "Uploaded")
            return
        self._notify(request_id, failure)
