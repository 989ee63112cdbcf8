"""Firmware update (OCPP 1.6 §5.19, §4.5): UpdateFirmware and FirmwareStatusNotification.

Sequence: wait until ``retrieveDate``; Downloading; fetch the file into ``data_dir/firmware`` over
HTTP(S) (aiohttp) or FTP (stdlib ftplib in an executor thread), trying ``retries`` times with
``retryInterval`` seconds between attempts -> Downloaded or DownloadFailed.  Before installing, wait
until no transaction runs; idle connectors are made Unavailable meanwhile (and made available again
afterwards).  Installing; ``station.install_firmware(path)`` (the backend decides) -> Installed or
InstallationFailed.  Status "Idle" is only ever sent when triggered (TriggerMessage).
"""

from __future__ import annotations

import asyncio
import ftplib
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from chargepoint.clock import Clock
from chargepoint.controller.types import SetAvailability, StateChanged
from chargepoint.ocpp.id_tags import AuthInputError, parse_rfc3339
from chargepoint.ocpp.library import (
    Action,
    NotSupportedError,
    PropertyConstraintViolationError,
    TypeConstraintViolationError,
    call_result,
    on,
)
from chargepoint.ocpp.ports import StationView

if TYPE_CHECKING:
    from chargepoint.ocpp.context import OcppContext
    from chargepoint.ocpp.transactions import TransactionManager

log = logging.getLogger("chargepoint.ocpp.firmware")

SendFn = Callable[[str, dict[str, Any]], object]
SUPPORTED_SCHEMES = ("http", "https", "ftp")


class TransferError(Exception):
    """A download or upload failed (the message says why)."""


@dataclass(frozen=True, slots=True)
class Location:
    url: str
    scheme: str
    host: str
    port: int | None
    user: str | None
    password: str | None
    path: str


def parse_location(location: object, field: str = "location") -> Location:
    """Parse a firmware/diagnostics URI; raises PropertyConstraintViolation naming ``field``."""
    if not isinstance(location, str) or not location:
        raise TypeConstraintViolationError(description=f"{field} must be a non-empty string (URI)")
    parts = urllib.parse.urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme not in SUPPORTED_SCHEMES:
        raise PropertyConstraintViolationError(
            description=f"{field}: unsupported scheme {parts.scheme!r} (supported: HTTP, HTTPS, FTP)"
        )
    if not parts.hostname:
        raise PropertyConstraintViolationError(description=f"{field}: URI without a host: {location!r}")
    try:
        port = parts.port
    except ValueError:
        raise PropertyConstraintViolationError(description=f"{field}: invalid port in {location!r}") from None
    return Location(
        url=location,
        scheme=scheme,
        host=parts.hostname,
        port=port,
        user=urllib.parse.unquote(parts.username) if parts.username else None,
        password=urllib.parse.unquote(parts.password) if parts.password else None,
        path=urllib.parse.unquote(parts.path) or "/",
    )


def ftp_connect(loc: Location, timeout: float) -> ftplib.FTP:
    ftp = ftplib.FTP(timeout=timeout)
    ftp.connect(loc.host, loc.port or 21)
    ftp.login(loc.user or "anonymous", loc.password or "anonymous@")
    return ftp


def _ftp_download(loc: Location, dest: Path, timeout: float) -> int:
    ftp = ftp_connect(loc, timeout)
    try:
        with dest.open("wb") as f:
            ftp.retrbinary(f"RETR {loc.path}", f.write)
            return f.tell()
    finally:
        ftp.close()


async def download(loc: Location, dest: Path, timeout_s: float) -> int:
    """Fetch ``loc`` into ``dest`` (written via a .part file); returns the size in bytes."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        if loc.scheme in ("http", "https"):
            timeout = aiohttp.ClientTimeout(total=timeout_s)
            async with aiohttp.ClientSession(timeout=timeout) as http, http.get(loc.url) as resp:
                if resp.status != 200:
                    raise TransferError(f"HTTP {resp.status} for {loc.url}")
                size = 0
                with part.open("wb") as f:
                    async for chunk in resp.content.iter_chunked(64 * 1024):
                        f.write(chunk)
                        size += len(chunk)
        else:
            loop = asyncio.get_running_loop()
            size = await loop.run_in_executor(None, _ftp_download, loc, part, timeout_s)
    except TransferError:
        part.unlink(missing_ok=True)
        raise
    except (aiohttp.ClientError, OSError, ftplib.Error, TimeoutError, EOFError) as exc:
        part.unlink(missing_ok=True)
        raise TransferError(f"{type(exc).__name__}: {exc}") from exc
    part.replace(dest)
    return size


@dataclass
class UpdatePlan:
    """What differs between UpdateFirmware and SignedUpdateFirmware (security whitepaper): how a
    status is reported, a check of the downloaded file before installing (False: stop), the install
    time, and whether the scheduled states (DownloadScheduled, InstallScheduled) are reported."""

    notify: Callable[[str], None] | None = None
    verify: Callable[[Path], Awaitable[bool]] | None = None
    install_at: datetime | None = None
    scheduled_states: bool = False
    request_id: int | None = None


class FirmwareService:
    """Runs at most one firmware update at a time; ``status`` is the last FirmwareStatus."""

    def __init__(
        self,
        clock: Clock,
        station: StationView,
        data_dir: Path,
        send: SendFn,
        *,
        transactions: TransactionManager | None = None,
        availability_of: Callable[[int], bool] | None = None,
        default_retries: int = 1,
        default_retry_interval_s: float = 60.0,
        transfer_timeout_s: float = 120.0,
        idle_recheck_s: float = 10.0,
    ) -> None:
        self.clock = clock
        self.station = station
        self.dir = Path(data_dir) / "firmware"
        self.send = send
        self.transactions = transactions
        #: the availability a connector should have when the update no longer holds it (ChangeAvailability)
        self.availability_of = availability_of or (lambda connector: True)
        self.default_retries = default_retries
        self.default_retry_interval_s = default_retry_interval_s
        self.transfer_timeout_s = transfer_timeout_s
        self.idle_recheck_s = idle_recheck_s
        self.status = "Idle"
        self.history: list[str] = []
        self.installed_path: Path | None = None
        self._task: asyncio.Task[None] | None = None
        self._made_unavailable: set[int] = set()
        self.plan = UpdatePlan()
        #: called with the installed file after every successful install (e.g. a security event)
        self.installed_listeners: list[Callable[[Path], None]] = []

    @classmethod
    def from_context(cls, ctx: OcppContext, **kwargs: Any) -> FirmwareService:
        def send(action: str, payload: dict[str, Any]) -> object:
            return ctx.outbox.send_soon(action, payload)

        def availability_of(connector: int) -> bool:
            return ctx.availability.effective(connector)

        kwargs.setdefault("availability_of", availability_of)
        return cls(ctx.clock, ctx.station, ctx.data_dir, send, transactions=ctx.transactions, **kwargs)

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def schedule(
        self,
        location: str,
        retrieve_date: datetime,
        retries: int | None = None,
        retry_interval: int | None = None,
        plan: UpdatePlan | None = None,
    ) -> asyncio.Task[None]:
        """Start (or replace) the update; returns the task running it."""
        loc = parse_location(location)
        self.plan = plan or UpdatePlan()
        if self.busy:
            assert self._task is not None
            log.info("a new UpdateFirmware replaces the running one")
            self._task.cancel()
        attempts = max(1, retries) if retries is not None else max(1, self.default_retries)
        interval = float(retry_interval) if retry_interval is not None else self.default_retry_interval_s
        self._task = asyncio.ensure_future(self._run(loc, retrieve_date, attempts, interval))
        self._task.add_done_callback(self._done)
        return self._task

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    def _done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("firmware update failed: %r", task.exception())

    def report(self, status: str) -> None:
        """Report a status of the running update (also used by a plan's ``verify``)."""
        self._notify(status)

    def _notify(self, status: str) -> None:
        self.status = status
        self.history.append(status)
        log.info("firmware status %s", status)
        if self.plan.notify is not None:
            self.plan.notify(status)
        else:
            self.send("FirmwareStatusNotification", {"status": status})

    async def _wait_until_wall(self, when: datetime | None, scheduled_status: str) -> None:
        delay = self.clock.seconds_until_wall(when) if when is not None else 0.0
        if delay > 0:
            if self.plan.scheduled_states:
                self._notify(scheduled_status)
            await self.clock.sleep(delay)

    async def _run(self, loc: Location, retrieve_date: datetime, attempts: int, interval: float) -> None:
        await self._wait_until_wall(retrieve_date, "DownloadScheduled")
        name = Path(loc.path).name or "firmware.bin"
        dest = self.dir / name
        self._notify("Downloading")
        for attempt in range(1, attempts + 1):
            try:
                size = await download(loc, dest, self.transfer_timeout_s)
            except TransferError as exc:
                log.warning("firmware download attempt %d/%d failed: %s", attempt, attempts, exc)
                if attempt < attempts:
                    await self.clock.sleep(interval)
                continue
            log.info("firmware downloaded: %s (%d bytes)", dest, size)
            break
        else:
            self._notify("DownloadFailed")
            return
        self._notify("Downloaded")
        if self.plan.verify is not None and not await self.plan.verify(dest):
            return
        await self._wait_until_wall(self.plan.install_at, "InstallScheduled")
        try:
            await self._wait_until_idle()
            self._notify("Installing")
            try:
                ok = await self.station.install_firmware(dest)
            except Exception as exc:
                log.error("firmware install raised %r", exc)
                ok = False
            if ok:
                self.installed_path = dest
            self._notify("Installed" if ok else "InstallationFailed")
            if ok:
                for listener in list(self.installed_listeners):
                    listener(dest)
        finally:
            await self._restore_availability()

    # -- waiting for transactions to end -------------------------------------------------
    def _active(self, connector: int) -> bool:
        if self.transactions is not None and self.transactions.active(connector) is not None:
            return True
        return False

    async def _wait_until_idle(self) -> None:
        changed = asyncio.Event()

        def listener(item: object) -> None:
            if isinstance(item, StateChanged):
                changed.set()

        unsubscribe = self.station.subscribe(listener)
        try:
            while True:
                busy = [c for c in range(1, self.station.connectors + 1) if self._active(c)]
                if not busy:
                    return
                for c in range(1, self.station.connectors + 1):
                    if c not in busy and c not in self._made_unavailable and self.station.snapshot(c).available:
                        self._made_unavailable.add(c)
                        await self.station.submit(SetAvailability(c, False))
                log.info("firmware install waits for transactions on connectors %s", busy)
                changed.clear()
                try:
                    # woken by any state change; the re-check interval covers a transaction that ends
                    # without one (e.g. a remote stop acknowledged while the EV stays in B)
                    await self.clock.wait_for(changed.wait(), self.idle_recheck_s)
                except TimeoutError:
                    pass
        finally:
            unsubscribe()

    async def _restore_availability(self) -> None:
        for c in sorted(self._made_unavailable):
            await self.station.submit(SetAvailability(c, self.availability_of(c)))
        self._made_unavailable.clear()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


def optional_int(value: object, field: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeConstraintViolationError(description=f"{field} must be an integer")
    if value < 0:
        raise PropertyConstraintViolationError(description=f"{field} must not be negative")
    return value


class FirmwareHandlers:
    """@on handler for UpdateFirmware (mixin of the session; uses ``self.ctx.firmware``)."""

    ctx: OcppContext

    @on(Action.update_firmware)
    async def on_update_firmware(
        self,
        location: str,
        retrieve_date: str,
        retries: int | None = None,
        retry_interval: int | None = None,
        **_: Any,
    ) -> call_result.UpdateFirmware:
        try:
            when = parse_rfc3339(retrieve_date, "retrieveDate")
        except AuthInputError as exc:
            raise TypeConstraintViolationError(description=str(exc)) from None
        attempts = optional_int(retries, "retries")
        interval = optional_int(retry_interval, "retryInterval")
        parse_location(location)
        service = self.ctx.firmware
        if service is None:
            raise NotSupportedError(description="firmware update is not available on this charge point")
        outbox = self.ctx.outbox
        # reply first: the update (and its first status notification) starts after the CALLRESULT
        outbox.after_reply(lambda: service.schedule(location, when, attempts, interval))
        return call_result.UpdateFirmware()
