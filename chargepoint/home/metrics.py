"""``GET /metrics`` in the Prometheus text format (prometheus-client), one registry per runtime.

Read at scrape time from the running parts: per connector IEC (sub)state, offered / drawn current,
energy, faults; the OCPP connection, registration, connections / reconnects, outbox depth and the age
of the oldest queued transaction message; the MQTT link.  Observed as they happen: the OCPP CALL
latency histogram (time from our CALL to its CALLRESULT / CALLERROR, per action, taken on the
websocket through the client's ``wrap_connection`` hook, in program-clock seconds) and the energy
manager's cycle time (the CPU seconds of one regulation step).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chargepoint.controller.types import Fault, SubState
from chargepoint.home.hub import drawn_a, find_hub

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CYCLE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


class LatencyConnection:
    """Wraps the OCPP websocket: times each CALL we send until its answer arrives."""

    def __init__(self, connection: Any, clock: Any, observe: Callable[[str, float], None]) -> None:
        self._connection = connection
        self._clock = clock
        self._observe = observe
        self._pending: dict[str, tuple[str, float]] = {}

    async def send(self, message: Any) -> None:
        text = message.decode() if isinstance(message, bytes) else str(message)
        if text.startswith("[2"):
            frame = _frame(text)
            if frame is not None and len(frame) >= 3 and len(self._pending) < 1000:
                self._pending[str(frame[1])] = (str(frame[2]), self._clock.monotonic())
        await self._connection.send(message)

    async def recv(self) -> Any:
        message = await self._connection.recv()
        text = message.decode() if isinstance(message, bytes) else str(message)
        if text.startswith(("[3", "[4")):
            frame = _frame(text)
            sent = self._pending.pop(str(frame[1]), None) if frame is not None and len(frame) >= 2 else None
            if sent is not None:
                self._observe(sent[0], self._clock.monotonic() - sent[1])
        return message

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def _frame(text: str) -> list[Any] | None:
    try:
        frame = json.loads(text)
    except ValueError:
        return None
    return frame if isinstance(frame, list) else None


def _queued_at(payload: dict[str, Any]) -> str | None:
    if isinstance(payload.get("timestamp"), str):
        return str(payload["timestamp"])
    values = payload.get("meterValue")
    if isinstance(values, list) and values and isinstance(values[0], dict):
        ts = values[0].get("timestamp")
        return ts if isinstance(ts, str) else None
    return None


def outbox_oldest_age_s(client: Any, now: datetime) -> float:
    """Age of the oldest queued transaction message, from the event time it carries (0 when empty)."""
    ctx = getattr(client, "ctx", None)
    if ctx is None or ctx.outbox is None:
        return 0.0
    row = ctx.outbox.db.execute("SELECT payload FROM tx_outbox WHERE cp_id=? ORDER BY id LIMIT 1",
                                (ctx.outbox.db.cp_id,)).fetchone()
    if row is None:
        return 0.0
    try:
        stamp = _queued_at(json.loads(row[0]))
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None
    except ValueError:
        return 0.0
    return max(0.0, (now - when).total_seconds()) if when is not None and when.tzinfo else 0.0


class StateCollector(Collector):
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        runtime = self.runtime
        station = runtime.station
        if station is None:
            return
        yield from self._connectors(station)
        yield from self._ocpp()
        energy = runtime.energy
        if energy is not None:
            cycles = CounterMetricFamily("chargepoint_energy_cycles", "Energy-manager regulation cycles run")
            cycles.add_metric([], energy.cycles)
            yield cycles
            faults = GaugeMetricFamily("chargepoint_energy_fault", "Energy-manager faults (ct_nocomm)",
                                       labels=["fault"])
            faults.add_metric(["ct_nocomm"], 1.0 if "ct_nocomm" in energy.faults else 0.0)
            yield faults
        hub = find_hub(runtime)
        mqtt = GaugeMetricFamily("chargepoint_mqtt_connected", "1 while the MQTT broker link is up")
        mqtt.add_metric([], 1.0 if hub is not None and hub.mqtt_status and
                        hub.mqtt_status()["status"] == "Connected" else 0.0)
        yield mqtt

    def _connectors(self, station: Any) -> Iterator[Metric]:
        hub = find_hub(self.runtime)
        state = GaugeMetricFamily("chargepoint_connector_state", "1 for the connector's current IEC 61851 substate",
                                  labels=["connector", "state"])
        offered = GaugeMetricFamily("chargepoint_connector_offered_current_amperes", "Current offered by the PWM",
                                    labels=["connector"])
        target = GaugeMetricFamily("chargepoint_connector_limit_amperes", "Current allowed by every limit",
                                   labels=["connector", "binding"])
        actual = GaugeMetricFamily("chargepoint_connector_current_amperes", "Current drawn per phase",
                                   labels=["connector", "phase"])
        peak = GaugeMetricFamily("chargepoint_connector_drawn_current_amperes", "Highest phase current drawn",
                                 labels=["connector"])
        energy = CounterMetricFamily("chargepoint_connector_energy_import_watt_hours", "Meter energy imported",
                                     labels=["connector"])
        session = GaugeMetricFamily("chargepoint_connector_session_energy_watt_hours", "Energy of the session",
                                    labels=["connector"])
        faults = GaugeMetricFamily("chargepoint_connector_fault", "1 while the fault is active",
                                   labels=["connector", "fault"])
        for snap in station.snapshots():
            c = str(snap.connector)
            for sub in SubState:
                state.add_metric([c, str(sub)], 1.0 if snap.substate == sub else 0.0)
            offered.add_metric([c], snap.offered_current_a)
            target.add_metric([c, snap.binding_limit], snap.target_current_a)
            meter = snap.meter or station.latest_meter(snap.connector)
            for phase, amps in zip(("L1", "L2", "L3"), meter.current_a if meter else (0.0, 0.0, 0.0), strict=True):
                actual.add_metric([c, phase], amps)
            peak.add_metric([c], drawn_a(station, snap))
            energy.add_metric([c], meter.energy_import_wh if meter else 0.0)
            session.add_metric([c], hub.session_energy_wh(snap.connector) if hub is not None else 0.0)
            for fault in Fault:
                faults.add_metric([c, str(fault)], 1.0 if fault in snap.faults else 0.0)
        yield from (state, offered, target, actual, peak, energy, session, faults)

    def _ocpp(self) -> Iterator[Metric]:
        ocpp = getattr(self.runtime, "ocpp", None)
        client = getattr(ocpp, "client", None)
        connected = GaugeMetricFamily("chargepoint_ocpp_connected", "1 while the CSMS websocket is open")
        connected.add_metric([], 1.0 if client is not None and client.connected else 0.0)
        yield connected
        if client is None:
            return
        status = client.status()
        registration = GaugeMetricFamily("chargepoint_ocpp_registration", "1 for the registration status",
                                         labels=["status"])
        for name in ("Accepted", "Pending", "Rejected", "Unknown", "None"):
            registration.add_metric([name], 1.0 if status.get("registration") == name else 0.0)
        connections = CounterMetricFamily("chargepoint_ocpp_connections", "Websocket connections opened")
        connections.add_metric([], client.connections)
        reconnects = CounterMetricFamily("chargepoint_ocpp_reconnects", "Connections after the first one")
        reconnects.add_metric([], max(0, client.connections - 1))
        depth = GaugeMetricFamily("chargepoint_ocpp_outbox_depth", "Transaction messages queued for the CSMS")
        depth.add_metric([], float(status.get("queued_transaction_messages", 0)))
        age = GaugeMetricFamily("chargepoint_ocpp_outbox_oldest_age_seconds",
                                "Age of the oldest queued transaction message (0 when empty)")
        age.add_metric([], outbox_oldest_age_s(client, self.runtime.clock.now()))
        yield from (registration, connections, reconnects, depth, age)


class Metrics:
    """The runtime service that owns the registry; built after the OCPP service so it can time CALLs."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.registry = CollectorRegistry(auto_describe=False)
        self.call_latency = Histogram("chargepoint_ocpp_call_latency_seconds",
                                      "Time from a CALL to its CALLRESULT/CALLERROR", ["action"],
                                      buckets=LATENCY_BUCKETS, registry=self.registry)
        self.cycle_time = Histogram("chargepoint_energy_cycle_seconds", "CPU time of one energy-manager cycle",
                                    buckets=CYCLE_BUCKETS, registry=self.registry)
        self.registry.register(StateCollector(runtime))
        client = getattr(getattr(runtime, "ocpp", None), "client", None)
        if client is not None:
            previous = client.wrap_connection
            clock = runtime.clock

            def wrap(ws: Any) -> Any:
                inner = previous(ws) if previous is not None else ws
                return LatencyConnection(inner, clock, self._observe_call)

            client.wrap_connection = wrap

    def _observe_call(self, action: str, seconds: float) -> None:
        self.call_latency.labels(action).observe(seconds)

    async def start(self) -> None:
        energy = self.runtime.energy
        if energy is not None:
            energy.cycle_observers.append(self.cycle_time.observe)

    async def stop(self) -> None:
        energy = self.runtime.energy
        if energy is not None and self.cycle_time.observe in energy.cycle_observers:
            energy.cycle_observers.remove(self.cycle_time.observe)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def find_metrics(runtime: Any) -> Metrics | None:
    return next((s for s in getattr(runtime, "services", ()) if isinstance(s, Metrics)), None)


async def get_metrics(request: web.Request) -> web.Response:
    from chargepoint.api.app import RUNTIME_KEY

    metrics = find_metrics(request.app[RUNTIME_KEY])
    if metrics is None or request.app[RUNTIME_KEY].station is None:
        return web.Response(status=503, text="metrics are not running\n", content_type="text/plain")
    return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})
