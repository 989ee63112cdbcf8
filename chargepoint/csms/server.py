"""The scriptable test central system: websockets OCPP-J 1.6 server + aiohttp control API."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import itertools
import ssl
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote

import structlog
from aiohttp import web
from cryptography import x509
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from chargepoint.clock import Clock
from chargepoint.csms.behaviour import Behaviour
from chargepoint.csms.frames import Frame, FrameLog
from chargepoint.csms.pki import TestPki
from chargepoint.csms.session import CallOutcome, CsmsSession, NotConnectedError

SUBPROTOCOL = "ocpp1.6"

log = structlog.get_logger("csms")


def cp_id_from_path(path: str) -> str:
    """The charge point id: the last path segment, percent-decoded ('' if there is none)."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    return unquote(path.rstrip("/").rsplit("/", 1)[-1]) if path.strip("/") else ""


def check_basic_auth(header: str | None, cp_id: str, password: str | bytes) -> bool:
    """Security profile 1: ``Authorization: Basic base64(<cp id>:<password>)``."""
    if not header or not header[:6].lower() == "basic ":
        return False
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    user, sep, secret = decoded.partition(b":")
    if not sep:
        return False
    expected = password.encode("utf-8") if isinstance(password, str) else password
    user_ok = hmac.compare_digest(user, cp_id.encode("utf-8"))
    return hmac.compare_digest(secret, expected) and user_ok


class TestCsms:
    """A small scriptable central system for tests, scenarios and manual experiments.

    ``behaviour`` is mutable at any time (directly or via ``POST /api/behaviour``).  State kept in
    memory only: registration per cp id, transactions (ids from 1), meter values, statuses.
    """

    __test__ = False  # not a pytest test class

    #: Called with every new instance (the schema-validation pytest plugin hooks in here).
    instance_hooks: ClassVar[list[Callable[[TestCsms], None]]] = []

    def __init__(
        self,
        clock: Clock,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        http_port: int | None = 0,
        ids: Iterable[str] | None = None,
        passwords: Mapping[str, str | bytes] | None = None,
        behaviour: Behaviour | None = None,
        log_file: str | Path | None = None,
        console_log: bool = True,
        keep_frames: int | None = None,
        ws_path: str = "/ocpp",
        ping_interval: float | None = 20.0,
        ssl_context: ssl.SSLContext | None = None,
        pki: TestPki | None = None,
    ) -> None:
        self.clock = clock
        self.host = host
        self.port = port
        self.http_port = http_port
        self.ids: set[str] | None = set(ids) if ids is not None else None
        self.passwords: dict[str, str | bytes] = dict(passwords or {})
        self.behaviour = behaviour if behaviour is not None else Behaviour()
        #: ``keep_frames``: at most about that many frames, MeterValues and notifications in memory
        #: (None: all, as tests want them); the JSONL file still gets every frame
        self.frame_log = FrameLog(clock, log_file, console=console_log, keep=keep_frames)
        self.frame_log.on_trim = self._trim_records
        self.ws_path = "/" + ws_path.strip("/") if ws_path.strip("/") else ""
        self.ping_interval = ping_interval
        #: TLS (security profiles 2 and 3): the websocket endpoint becomes wss://
        self.ssl_context = ssl_context
        self._pki = pki
        #: per cp id: CSRs received, CertificateSigned answers, TLS client certificates seen
        self.security: dict[str, dict[str, list[Any]]] = {}
        self.sessions: dict[str, CsmsSession] = {}
        self.registration: dict[str, str] = {}
        self.triggered: dict[str, set[str]] = {}
        self.boot_info: dict[str, dict[str, Any]] = {}
        self.last_heartbeat: dict[str, Any] = {}
        self.connector_status: dict[str, dict[int, dict[str, Any]]] = {}
        self.transactions: dict[int, dict[str, Any]] = {}
        self.meter_values: list[dict[str, Any]] = []
        self.notifications: list[dict[str, Any]] = []
        #: Protocol violations seen (e.g. a request before an Accepted boot).
        self.violations: list[str] = []
        self.offline_until: float | None = None
        self._tx_ids = itertools.count(1)
        self._server: Server | None = None
        self._runner: web.AppRunner | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        for hook in list(self.instance_hooks):
            hook(self)

    def _trim_records(self) -> None:
        keep = self.frame_log.keep
        if keep is not None:
            for records in (self.meter_values, self.notifications):
                if len(records) > keep:
                    del records[:len(records) - keep]

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        from chargepoint.csms.http_api import build_app

        self.frame_log.open()
        self._server = await serve(
            self._handle_connection,
            self.host,
            self.port,
            process_request=self._process_request,
            select_subprotocol=self._select_subprotocol,
            ping_interval=self.ping_interval,
            ssl=self.ssl_context,
        )
        sock = next(iter(self._server.sockets))
        self.port = sock.getsockname()[1]
        if self.http_port is not None:
            self._runner = web.AppRunner(build_app(self), access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.http_port)
            await site.start()
            self.http_port = self._runner.addresses[0][1]
        log.info("csms started", url=self.url, http=self.http_url if self.http_port is not None else None)

    async def stop(self) -> None:
        for session in list(self.sessions.values()):
            await session._connection.close(1001, "central system stopping")
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.frame_log.close()

    async def __aenter__(self) -> TestCsms:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Websocket endpoint; append ``/<cp id>``."""
        scheme = "wss" if self.ssl_context is not None else "ws"
        return f"{scheme}://{self.host}:{self.port}{self.ws_path}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    # -- API for tests and scenarios ---------------------------------------------------------------
    @property
    def frames(self) -> list[Frame]:
        return self.frame_log.frames

    async def wait_for_frame(self, predicate: Callable[[Frame], bool], timeout: float = 30.0, start: int = 0) -> Frame:  # noqa: ASYNC109 - timeout is virtual-clock time
        return await self.frame_log.wait_for(predicate, timeout, start)

    async def wait_for_connection(self, cp_id: str, timeout: float = 30.0) -> CsmsSession:  # noqa: ASYNC109 - timeout is virtual-clock time
        async def _wait() -> CsmsSession:
            while cp_id not in self.sessions:
                await self.clock.sleep(0.01)
            return self.sessions[cp_id]

        return await self.clock.wait_for(_wait(), timeout)

    async def call(self, cp_id: str, action: str, payload: Any = None, timeout: float | None = None) -> CallOutcome:  # noqa: ASYNC109 - timeout is virtual-clock time
        """Send a CALL to a connected charge point; raises NotConnectedError if it is not connected."""
        session = self.sessions.get(cp_id)
        if session is None:
            raise NotConnectedError(f"charge point {cp_id!r} is not connected")
        return await session.send_call(action, {} if payload is None else payload, timeout)

    async def go_offline(self, seconds: float) -> None:
        """Close every connection and refuse new ones with HTTP 503 for ``seconds`` (0 = back online)."""
        if seconds <= 0:
            self.offline_until = None
            return
        self.offline_until = self.clock.monotonic() + seconds
        log.info("csms offline", seconds=seconds)
        for session in list(self.sessions.values()):
            await session._connection.close(1001, "central system going offline")

    @property
    def offline(self) -> bool:
        return self.offline_until is not None and self.clock.monotonic() < self.offline_until

    def connected_ids(self) -> list[str]:
        return sorted(self.sessions)

    @property
    def pki(self) -> TestPki:
        """The CSMS's test CAs (made on first use)."""
        if self._pki is None:
            self._pki = TestPki(self.clock.now())
        return self._pki

    def security_state(self, cp_id: str) -> dict[str, list[Any]]:
        return self.security.setdefault(cp_id, {"csrs": [], "certificate_signed": [], "client_certificates": []})

    # -- handler helpers ---------------------------------------------------------------------------
    def id_tag_info(self, id_tag: str) -> dict[str, Any]:
        status = self.behaviour.tag_status(id_tag)
        info: dict[str, Any] = {"status": status}
        if status == "Expired":
            info["expiry_date"] = (self.clock.now() - timedelta(days=1)).isoformat()
        return info

    def open_transaction(
        self, cp_id: str, connector_id: int, id_tag: str, meter_start: int, timestamp: str, extra: dict[str, Any]
    ) -> int:
        tx_id = next(self._tx_ids)
        self.transactions[tx_id] = {
            "cp_id": cp_id, "connector_id": connector_id, "id_tag": id_tag, "meter_start": meter_start,
            "start": timestamp, "reservation_id": extra.get("reservation_id"), "stop": None,
            "status": self.behaviour.tag_status(id_tag),
        }
        return tx_id

    def close_transaction(
        self, cp_id: str, tx_id: int, meter_stop: int, timestamp: str, extra: dict[str, Any]
    ) -> None:
        record = self.transactions.get(tx_id)
        if record is None:  # e.g. transactionId -1 (errata 3.18): accept and remember
            record = self.transactions[tx_id] = {"cp_id": cp_id, "connector_id": None, "id_tag": None,
                                                 "meter_start": None, "start": None, "status": None}
        elif record["stop"] is not None:
            self.violations.append(f"{cp_id}: StopTransaction for already stopped transaction {tx_id}")
        record["stop"] = {"meter_stop": meter_stop, "timestamp": timestamp, "reason": extra.get("reason"),
                          "id_tag": extra.get("id_tag"), "transaction_data": extra.get("transaction_data")}

    def registration_violation(self, cp_id: str, action: str) -> str | None:
        """A CP may send only BootNotification until Accepted (Pending: only what was triggered)."""
        if action == "BootNotification":
            return None
        status = self.registration.get(cp_id)
        if status == "Rejected":
            return f"sent {action} while its BootNotification was Rejected"
        if status == "Pending" and action not in self.triggered.get(cp_id, set()):
            return f"sent {action} while Pending without a TriggerMessage for it"
        return None

    # -- websockets plumbing -----------------------------------------------------------------------
    @staticmethod
    def _select_subprotocol(connection: ServerConnection, subprotocols: Any) -> Any:
        # OCPP-J 3.2: no common subprotocol -> complete the handshake without the header, then close.
        return SUBPROTOCOL if SUBPROTOCOL in subprotocols else None

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.offline:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "central system offline\n")
        cp_id = cp_id_from_path(request.path)
        if not cp_id or (self.ids is not None and cp_id not in self.ids):
            log.info("csms refused unknown id", path=request.path)
            return connection.respond(HTTPStatus.NOT_FOUND, f"unknown charge point {cp_id!r}\n")
        password = self.passwords.get(cp_id)
        if password is not None and not check_basic_auth(request.headers.get("Authorization"), cp_id, password):
            log.info("csms refused credentials", cp=cp_id)
            response = connection.respond(HTTPStatus.UNAUTHORIZED, "basic authentication required\n")
            response.headers["WWW-Authenticate"] = 'Basic realm="OCPP", charset="UTF-8"'
            return response
        return None

    async def _handle_connection(self, connection: ServerConnection) -> None:
        cp_id = cp_id_from_path(connection.request.path if connection.request else "")
        if connection.subprotocol != SUBPROTOCOL:
            log.warning("csms closing: no ocpp1.6 subprotocol", cp=cp_id)
            await connection.close(1002, "subprotocol ocpp1.6 required")
            return
        peer = connection.transport.get_extra_info("ssl_object") if self.ssl_context is not None else None
        der = peer.getpeercert(binary_form=True) if peer is not None else None
        if der:  # security profile 3: which client certificate this connection presented
            cert = x509.load_der_x509_certificate(der)
            cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
            self.security_state(cp_id)["client_certificates"].append(
                {"serial": format(cert.serial_number, "x"), "subject_cn": str(cns[0].value) if cns else None,
                 "not_after": cert.not_valid_after_utc.isoformat()})
        old = self.sessions.get(cp_id)
        session = CsmsSession(cp_id, connection, self)
        self.sessions[cp_id] = session
        if old is not None:
            await old._connection.close(1000, "replaced by a new connection")
        log.info("csms connected", cp=cp_id)
        try:
            await session.start()
        except ConnectionClosed as exc:
            log.info("csms disconnected", cp=cp_id, code=exc.rcvd.code if exc.rcvd else None)
        finally:
            if self.sessions.get(cp_id) is session:
                del self.sessions[cp_id]
            for task in list(session._tasks):
                task.cancel()
