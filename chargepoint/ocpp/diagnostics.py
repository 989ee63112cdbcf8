"""Diagnostics (OCPP 1.6 §5.9, §4.4): GetDiagnostics and DiagnosticsStatusNotification.

GetDiagnostics answers at once with the ``fileName`` it will upload.  After the reply a zip archive
is built from the log and frame files in ``data_dir`` (``*.log``, ``*.jsonl``, ``*.txt``; JSON-lines
records carrying a ``timestamp``/``ts``/``time`` field are cut to [startTime, stopTime]) plus a
``manifest.json`` (identity, time window, files, connector snapshots).  The SQLite store is never
included (it holds the AuthorizationKey).  The archive is uploaded to ``location``:

* ``http(s)://...`` ending in ``/``: ``PUT location + fileName`` with the archive as body;
* other ``http(s)://...``: ``POST`` multipart/form-data, field ``file``, filename = fileName;
* ``ftp://user:pass@host/dir/``: ``STOR dir/fileName`` (ftplib in an executor thread),

with ``retries`` attempts ``retryInterval`` seconds apart.  DiagnosticsStatusNotification Uploading,
then Uploaded or UploadFailed; Idle is only sent when triggered.
"""

from __future__ import annotations

import asyncio
import ftplib
import io
import json
import logging
import posixpath
import zipfile
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from chargepoint.clock import Clock
from chargepoint.ocpp.firmware import Location, TransferError, ftp_connect, optional_int, parse_location
from chargepoint.ocpp.id_tags import AuthInputError, format_rfc3339, parse_rfc3339
from chargepoint.ocpp.library import Action, NotSupportedError, TypeConstraintViolationError, call_result, on
from chargepoint.ocpp.ports import StationView

if TYPE_CHECKING:
    from chargepoint.ocpp.context import OcppContext

log = logging.getLogger("chargepoint.ocpp.diagnostics")

SendFn = Callable[[str, dict[str, Any]], object]
LOG_SUFFIXES = (".log", ".jsonl", ".txt")
_SKIP_DIRS = {"diagnostics", "firmware"}


def _record_time(line: str) -> datetime | None:
    try:
        record = json.loads(line)
    except (ValueError, TypeError):
        return None
    if not isinstance(record, dict):
        return None
    for key in ("timestamp", "ts", "time"):
        value = record.get(key)
        if isinstance(value, str):
            try:
                return parse_rfc3339(value, key)
            except AuthInputError:
                return None
    return None


def _in_window(when: datetime | None, start: datetime | None, stop: datetime | None) -> bool:
    if when is None:
        return True
    if start is not None and when < start:
        return False
    return not (stop is not None and when > stop)


def build_archive(
    data_dir: Path,
    manifest: dict[str, Any],
    start: datetime | None = None,
    stop: datetime | None = None,
) -> tuple[bytes, list[str]]:
    """The zip archive (bytes) and the names of the files it holds (manifest.json first)."""
    buf = io.BytesIO()
    names: list[str] = ["manifest.json"]
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        files = []
        for path in sorted(data_dir.rglob("*")):
            rel = path.relative_to(data_dir)
            if not path.is_file() or (rel.parts and rel.parts[0] in _SKIP_DIRS):
                continue
            if path.suffix.lower() in LOG_SUFFIXES:
                files.append((path, rel))
        for path, rel in files:
            text = path.read_text(encoding="utf-8", errors="replace")
            if path.suffix.lower() == ".jsonl" and (start is not None or stop is not None):
                kept = [ln for ln in text.splitlines(keepends=True) if _in_window(_record_time(ln), start, stop)]
                text = "".join(kept)
            zf.writestr(str(rel), text)
            names.append(str(rel))
        manifest = {**manifest, "files": names[1:]}
        zf.writestr("manifest.json", json.dumps(manifest, indent=2, default=str))
    return buf.getvalue(), names


def _ftp_upload(loc: Location, file_name: str, data: bytes, timeout: float) -> None:
    ftp = ftp_connect(loc, timeout)
    try:
        directory = loc.path if loc.path.endswith("/") else posixpath.dirname(loc.path) + "/"
        target = file_name if loc.path.endswith("/") else posixpath.basename(loc.path) or file_name
        if directory not in ("", "/"):
            ftp.cwd(directory)
        ftp.storbinary(f"STOR {target}", io.BytesIO(data))
    finally:
        ftp.close()


async def upload(loc: Location, file_name: str, data: bytes, timeout_s: float) -> None:
    try:
        if loc.scheme in ("http", "https"):
            timeout = aiohttp.ClientTimeout(total=timeout_s)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                if loc.url.endswith("/"):
                    request = http.put(loc.url + file_name, data=data,
                                       headers={"Content-Type": "application/zip"})
                else:
                    form = aiohttp.FormData()
                    form.add_field("file", data, filename=file_name, content_type="application/zip")
                    request = http.post(loc.url, data=form)
                async with request as resp:
                    if resp.status >= 300:
                        raise TransferError(f"HTTP {resp.status} from {loc.url}")
        else:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, _ftp_upload, loc, file_name, data, timeout_s)
    except TransferError:
        raise
    except (aiohttp.ClientError, OSError, ftplib.Error, TimeoutError, EOFError) as exc:
        raise TransferError(f"{type(exc).__name__}: {exc}") from exc


def _jsonable(value: object) -> object:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


class DiagnosticsService:
    """Builds and uploads diagnostics archives; ``status`` is the last DiagnosticsStatus."""

    def __init__(
        self,
        clock: Clock,
        data_dir: Path,
        send: SendFn,
        *,
        station: StationView | None = None,
        cp_id: str = "chargepoint",
        default_retries: int = 1,
        default_retry_interval_s: float = 60.0,
        transfer_timeout_s: float = 120.0,
    ) -> None:
        self.clock = clock
        self.data_dir = Path(data_dir)
        self.send = send
        self.station = station
        self.cp_id = cp_id
        self.default_retries = default_retries
        self.default_retry_interval_s = default_retry_interval_s
        self.transfer_timeout_s = transfer_timeout_s
        self.status = "Idle"
        self.history: list[str] = []
        self.last_archive: Path | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_context(cls, ctx: OcppContext, **kwargs: Any) -> DiagnosticsService:
        def send(action: str, payload: dict[str, Any]) -> object:
            return ctx.outbox.send_soon(action, payload)

        cp_id = ctx.options.cp_id or "chargepoint"
        return cls(ctx.clock, ctx.data_dir, send, station=ctx.station, cp_id=cp_id, **kwargs)

    def file_name(self) -> str:
        stamp = self.clock.now().strftime("%Y%m%dT%H%M%SZ")
        safe_id = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in self.cp_id)
        return f"diagnostics-{safe_id}-{stamp}.zip"

    def prepare(self, location: str) -> tuple[Location, str]:
        """Validate ``location`` (raises a CALLERROR naming the field) and choose the file name."""
        return parse_location(location), self.file_name()

    def start(
        self,
        loc: Location,
        file_name: str,
        start_time: datetime | None = None,
        stop_time: datetime | None = None,
        retries: int | None = None,
        retry_interval: int | None = None,
    ) -> asyncio.Task[None]:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        attempts = max(1, retries) if retries is not None else max(1, self.default_retries)
        interval = float(retry_interval) if retry_interval is not None else self.default_retry_interval_s
        self._task = asyncio.ensure_future(self._run(loc, file_name, start_time, stop_time, attempts, interval))
        return self._task

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    def _notify(self, status: str) -> None:
        self.status = status
        self.history.append(status)
        log.info("diagnostics status %s", status)
        self.send("DiagnosticsStatusNotification", {"status": status})

    def _manifest(self, start: datetime | None, stop: datetime | None) -> dict[str, Any]:
        snapshots = []
        if self.station is not None:
            for c in range(1, self.station.connectors + 1):
                snapshots.append(_jsonable(self.station.snapshot(c)))
        return {
            "chargePointId": self.cp_id,
            "generatedAt": format_rfc3339(self.clock.now()),
            "startTime": format_rfc3339(start) if start else None,
            "stopTime": format_rfc3339(stop) if stop else None,
            "backend": getattr(self.station, "backend_name", None),
            "connectors": snapshots,
        }

    async def _run(
        self,
        loc: Location,
        file_name: str,
        start: datetime | None,
        stop: datetime | None,
        attempts: int,
        interval: float,
    ) -> None:
        loop = asyncio.get_running_loop()
        manifest = self._manifest(start, stop)
        data, names = await loop.run_in_executor(None, build_archive, self.data_dir, manifest, start, stop)
        out_dir = self.data_dir / "diagnostics"
        archive = out_dir / file_name
        await loop.run_in_executor(None, _write, archive, data)
        self.last_archive = archive
        log.info("diagnostics archive %s: %d bytes, %d files", archive, len(data), len(names))
        self._notify("Uploading")
        for attempt in range(1, attempts + 1):
            try:
                await upload(loc, file_name, data, self.transfer_timeout_s)
            except TransferError as exc:
                log.warning("diagnostics upload attempt %d/%d failed: %s", attempt, attempts, exc)
                if attempt < attempts:
                    await self.clock.sleep(interval)
                continue
            self._notify("Uploaded")
            return
        self._notify("UploadFailed")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


class DiagnosticsHandlers:
    """@on handler for GetDiagnostics (mixin of the session; uses ``self.ctx.diagnostics``)."""

    ctx: OcppContext

    @on(Action.get_diagnostics)
    async def on_get_diagnostics(
        self,
        location: str,
        retries: int | None = None,
        retry_interval: int | None = None,
        start_time: str | None = None,
        stop_time: str | None = None,
        **_: Any,
    ) -> call_result.GetDiagnostics:
        try:
            start = parse_rfc3339(start_time, "startTime") if start_time is not None else None
            stop = parse_rfc3339(stop_time, "stopTime") if stop_time is not None else None
        except AuthInputError as exc:
            raise TypeConstraintViolationError(description=str(exc)) from None
        attempts = optional_int(retries, "retries")
        interval = optional_int(retry_interval, "retryInterval")
        service = self.ctx.diagnostics
        if service is None:
            raise NotSupportedError(description="diagnostics upload is not available on this charge point")
        loc, file_name = service.prepare(location)
        self.ctx.outbox.after_reply(lambda: service.start(loc, file_name, start, stop, attempts, interval))
        return call_result.GetDiagnostics(file_name=file_name)
