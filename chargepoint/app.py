"""Builds and runs what ``chargepoint run`` starts: the embedded test CSMS when no CSMS URL is
given, the runtime (backend, controller, station, energy), the OCPP client, the local HTTP API and
the trace recorder.

The embedded CSMS and the recorder live for the whole process; the OCPP client and the local API
are rebuilt with the station after an OCPP Reset (an in-process restart).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from chargepoint.api import LocalApi
from chargepoint.clock import Clock
from chargepoint.config import Config, parse_hostport
from chargepoint.home.services import home_service_factories
from chargepoint.recording import RecordingConnection, TraceRecorder
from chargepoint.runtime import Runtime, ServiceFactory, SourceFactory, launch
from chargepoint.services.rfid import RfidService

if TYPE_CHECKING:
    from chargepoint.csms import TestCsms
    from chargepoint.ocpp.client import OcppClient
    from chargepoint.ocpp.options import OcppOptions

log = structlog.get_logger("app")


class StartupError(RuntimeError):
    """Something the charge point needs could not be started; the message says what and why."""


def ocpp_options(config: Config, csms_url: str) -> OcppOptions:
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
        local_card_reader=config.rfid.mode != "ocpp",
    )


@dataclass(frozen=True)
class OcppTuning:
    """What a harness changes of the OCPP client that ``chargepoint run`` builds from the configuration:
    ``options`` replaces fields of :class:`~chargepoint.ocpp.options.OcppOptions` (initial configuration
    keys, reconnect backoff, ...); ``rng_seed`` makes the backoff jitter reproducible."""

    options: Mapping[str, Any] = field(default_factory=dict)
    rng_seed: int | None = None


class OcppFacade:
    """What the local API and the logs need to know of the OCPP client."""

    def __init__(self, client: OcppClient) -> None:
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

    async def local_access(self, connector: int, id_tag: str, granted: bool) -> None:
        """The charger's own RFID reader (enable_all / enable_one) switched access: the OCPP
        transaction follows (chargepoint/services/rfid.py)."""
        ctx = self.client.ctx
        assert ctx is not None and ctx.transactions is not None, "the OCPP client is set up at start"
        await ctx.transactions.local_access(connector, id_tag, granted)


class OcppService:
    """The OCPP client as a runtime service; its Reset becomes a runtime restart."""

    def __init__(self, runtime: Runtime, csms_url: str, recorder: TraceRecorder | None,
                 tuning: OcppTuning | None = None) -> None:
        from chargepoint.ocpp.client import OcppClient

        cfg = runtime.config
        tuning = tuning or OcppTuning()
        self.runtime = runtime
        options = replace(ocpp_options(cfg, csms_url), **tuning.options)
        assert runtime.station is not None, "the OCPP client is built after the station"
        self.client = OcppClient(runtime.clock, runtime.station, options, cfg.data_dir, rng_seed=tuning.rng_seed)
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
        await self.client.clock.cancel_and_wait(self._watch)
        await self.client.stop()


class StationSubscription:
    """Subscribes a listener that outlives the station (the process-wide recorder, a scenario's
    observers) to each new station; ``controls`` also hears the simulation controls of a sim board."""

    def __init__(self, runtime: Runtime, listener: Callable[[Any], None],
                 controls: Callable[..., None] | None = None) -> None:
        self.runtime = runtime
        self.listener = listener
        self.controls = controls
        self._unsubscribe: Callable[[], None] | None = None

    async def start(self) -> None:
        assert self.runtime.station is not None
        self._unsubscribe = self.runtime.station.subscribe(self.listener)
        board = self.runtime.station.board
        if self.controls is not None and hasattr(board, "control_listeners"):
            board.control_listeners.append(self.controls)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


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
                  recorder: TraceRecorder | None = None, ocpp: OcppTuning | None = None,
                  sources: Sequence[SourceFactory] = (), services: Sequence[ServiceFactory] = ()) -> Runtime:
    """The runtime with its services: recorder, local API (``http.listen``), OCPP (when a CSMS URL is
    known), then ``services`` (a harness's own, started last); ``sources`` are extra event sources of
    every station (:class:`~chargepoint.runtime.Runtime`)."""
    runtime = Runtime(config=config, clock=clock, source_factories=list(sources))
    url = csms_url or config.ocpp.csms_url
    if recorder is not None:
        runtime.service_factories.append(lambda rt: StationSubscription(rt, recorder.station_item, recorder.sim))
    if config.http.listen:  # bound before OCPP starts: a taken port must fail before we boot
        host, port = parse_hostport(config.http.listen, "http.listen")
        runtime.service_factories.append(lambda rt: LocalApi(rt, host, port))
    if url:
        runtime.service_factories.append(lambda rt: OcppService(rt, url, recorder, ocpp))
    runtime.service_factories.extend(home_service_factories(config))  # status page data, MQTT, metrics
    runtime.service_factories.append(lambda rt: RfidService(rt, config.rfid.mode, config.data_dir))
    runtime.service_factories += services
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
        try:
            task = await launch(runtime)
        except OSError as exc:
            raise StartupError(f"cannot start: {exc.strerror or exc} (check http.listen / backend.serial)") from None
        except (ValueError, LookupError) as exc:
            raise StartupError(f"cannot start: {exc}") from None
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


def _print_banner(config: Config, url: str, csms: TestCsms | None, runtime: Runtime) -> None:
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
