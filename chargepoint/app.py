"""Builds and runs what ``chargepoint run`` starts: the embedded test CSMS when no CSMS URL is
given, the runtime (backend, controller, station, energy), the OCPP client, the local HTTP API and
the trace recorder.

The embedded CSMS and the recorder live for the whole process; the OCPP client and the local API
are rebuilt with the station after an OCPP Reset (an in-process restart).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import structlog

from chargepoint.api import LocalApi
from chargepoint.clock import Clock
from chargepoint.config import Config, parse_hostport
from chargepoint.home.services import home_service_factories
from chargepoint.recording import RecordingConnection, TraceRecorder
from chargepoint.runtime import Runtime

log = structlog.get_logger("app")


class StartupError(RuntimeError):
    """Something the charge point needs could not be started; the message says what and why."""


def ocpp_options(config: Config, csms_url: str) -> Any:
    from chargepoint.ocpp.options import OcppOptions

    o = config.ocpp
    return OcppOptions(
        csms_url=csms_url,
        cp_id=config.chargepoint.id,
        password=(o.password or None) if not o.password_hex else None,
        password_hex=o.password if o.password_hex and o.password else None,
        security_profile=o.security_profile,
        ca_file=Path(o.ca_file) if o.ca_file else None,
        client_cert=Path(o.client_cert) if o.client_cert else None,
        client_key=Path(o.client_key) if o.client_key else None,
        vendor=o.vendor,
        model=o.model,
        serial=o.serial,
        firmware=o.firmware,
        connectors=config.backend.connectors,
    )


class OcppFacade:
    """What the local API and the logs need to know of the OCPP client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def status(self) -> dict[str, Any]:
        return self.client.status()

    def transaction_id(self, connector: int) -> int | None:
        ctx = self.client.ctx
        tx = ctx.transactions.active(connector) if ctx and ctx.transactions else None
        return getattr(tx, "transaction_id", None) if tx is not None else None

    def connector_status(self, connector: int) -> str | None:
        ctx = self.client.ctx
        if ctx is None or ctx.status is None:
            return None
        return ctx.status.current_status(connector)


class OcppService:
    """The OCPP client as a runtime service; its Reset becomes a runtime restart."""

    def __init__(self, runtime: Runtime, csms_url: str, recorder: TraceRecorder | None) -> None:
        from chargepoint.ocpp.client import OcppClient

        cfg = runtime.config
        self.runtime = runtime
        self.client = OcppClient(runtime.clock, runtime.station, ocpp_options(cfg, csms_url), cfg.data_dir)
        if recorder is not None:
            self.client.wrap_connection = lambda ws: RecordingConnection(ws, recorder)
        runtime.ocpp = OcppFacade(self.client)
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.client.start()
        self._watch = asyncio.create_task(self._restart_on_reset(), name="ocpp-reset-watch")

    async def _restart_on_reset(self) -> None:
        await self.client.restart_requested.wait()
        log.info("ocpp_reset", kind=self.client.restart_kind)
        self.runtime.restart_requested.set()

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self.client.stop()


class RecorderAttachment:
    """Subscribes the process-wide recorder to the current station."""

    def __init__(self, runtime: Runtime, recorder: TraceRecorder) -> None:
        self.runtime = runtime
        self.recorder = recorder
        self._unsubscribe: Any = None

    async def start(self) -> None:
        assert self.runtime.station is not None
        self._unsubscribe = self.runtime.station.subscribe(self.recorder.station_item)
        board = self.runtime.station.board
        if hasattr(board, "control_listeners"):
            board.control_listeners.append(self.recorder.sim)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()


def trace_header_config(config: Config) -> dict[str, Any]:
    """What a trace needs to rebuild this charger in a replay; secrets (the AuthorizationKey) left out."""
    from dataclasses import asdict

    ocpp = {k: v for k, v in asdict(config.ocpp).items() if k not in ("password", "client_key")}
    return {
        "id": config.chargepoint.id,
        "backend": asdict(config.backend),
        "controller": asdict(config.controller),
        "ocpp": ocpp,
        "sim": dict(config.sim),
        "energy": dict(config.energy),
    }


def build_runtime(config: Config, clock: Clock, *, csms_url: str | None = None,
                  recorder: TraceRecorder | None = None) -> Runtime:
    """The runtime with its services: OCPP (when a CSMS URL is known), local API, recorder."""
    runtime = Runtime(config=config, clock=clock)
    url = csms_url or config.ocpp.csms_url
    if recorder is not None:
        runtime.service_factories.append(lambda rt: RecorderAttachment(rt, recorder))
    if config.http.listen:  # bound before OCPP starts: a taken port must fail before we boot
        host, port = parse_hostport(config.http.listen, "http.listen")
        runtime.service_factories.append(lambda rt: LocalApi(rt, host, port))
    if url:
        runtime.service_factories.append(lambda rt: OcppService(rt, url, recorder))
    runtime.service_factories.extend(home_service_factories(config))  # status page data, MQTT, metrics
    return runtime


async def run_chargepoint(config: Config, clock: Clock, *, ready: asyncio.Event | None = None,
                          runtime_holder: list[Runtime] | None = None) -> int:
    """``chargepoint run``: start everything, print where to look, run until SIGINT/SIGTERM."""
    csms = None
    url = config.ocpp.csms_url
    if not url:
        from chargepoint.csms import TestCsms

        csms = TestCsms(clock, config.csms.host, config.csms.port, http_port=config.csms.http_port)
        try:
            await csms.start()
        except OSError as exc:
            raise StartupError(
                f"cannot start the embedded test CSMS on {config.csms.host}:{config.csms.port}"
                f" (csms.port / csms.http_port): {exc.strerror or exc}"
            ) from None
        url = csms.url
    recorder = TraceRecorder(clock, config.log.record, config=trace_header_config(config)) \
        if config.log.record else None
    runtime = build_runtime(config, clock, csms_url=url, recorder=recorder)
    if runtime_holder is not None:
        runtime_holder.append(runtime)
    try:
        task = asyncio.create_task(runtime.run(), name="runtime")
        while (runtime.station is None or len(runtime.services) < len(runtime.service_factories)
               or not all(_started(s) for s in runtime.services)):
            if task.done():
                break
            await clock.sleep(0.05)
        if task.done() and task.exception() is not None:
            exc = task.exception()
            if isinstance(exc, OSError):
                raise StartupError(f"cannot start: {exc.strerror or exc} (check http.listen / backend.serial)")
            if isinstance(exc, ValueError | LookupError):
                raise StartupError(f"cannot start: {exc}")
            await task
        _print_banner(config, url, csms, runtime)
        if ready is not None:
            ready.set()
        await task
    finally:
        if csms is not None:
            await csms.stop()
        if recorder is not None:
            recorder.close()
    return 0


def _started(service: Any) -> bool:
    return getattr(service, "bound_port", True) is not None


def _print_banner(config: Config, url: str, csms: Any, runtime: Runtime) -> None:
    lines = [f"smartevse-chargepoint {config.chargepoint.id}: backend {config.backend.name}, "
             f"{config.backend.connectors} connector(s)", f"  OCPP endpoint   {url}/{config.chargepoint.id}"]
    if csms is not None:
        lines.append(f"  test CSMS API   {csms.http_url}  (GET /api/frames, POST /api/cps/{{id}}/call)")
    for service in runtime.services:
        if isinstance(service, LocalApi):
            base = f"http://{service.host}:{service.bound_port}"
            lines.append(f"  local API       {base}/api/status  (OpenAPI: {base}/api/openapi.json)")
            lines.append(f"  API auth        {service.auth_description}")
            if config.backend.name == "sim":
                lines.append(f"  try: curl -X POST {base}/api/sim/connectors/1/plug && "
                             f"curl -X POST -d '{{\"id_tag\":\"ABC123\"}}' {base}/api/sim/rfid")
    if config.log.record:
        lines.append(f"  recording to    {config.log.record}")
    print("\n".join(lines), flush=True)
