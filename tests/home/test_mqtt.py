"""The MQTT bridge against a REAL mosquitto broker (its own process), real time, sim backend."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import structlog

from chargepoint.app import build_runtime
from chargepoint.clock import RealClock
from chargepoint.config import load_config
from chargepoint.controller import Authorize
from chargepoint.controller.types import SubState
from chargepoint.home.ha_discovery import discovery_messages
from chargepoint.runtime import Runtime
from tests.home.broker import Mosquitto

PREFIX = "SmartEVSE-T1"


class Recorder:
    """A subscriber that keeps the last payload per topic and the arrival time of each."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.last: dict[str, str] = {}
        self.first_at: dict[str, float] = {}
        self.count: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                async with aiomqtt.Client("127.0.0.1", self.port) as client:
                    await client.subscribe("#")
                    self.ready.set()
                    async for m in client.messages:
                        topic = str(m.topic)
                        payload = m.payload.decode() if isinstance(m.payload, bytes) else str(m.payload)
                        self.last[topic] = payload
                        self.first_at.setdefault(topic, loop.time())
                        self.count[topic] = self.count.get(topic, 0) + 1
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.ready.wait(), 5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def wait(self, predicate: Any, seconds: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not predicate():
            assert loop.time() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.05)


async def publish(port: int, topic: str, payload: str) -> None:
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.publish(topic, payload, qos=1)


def _config(tmp_path: Path, port: int, **overrides: Any) -> Any:
    cfg = load_config(env={}, overrides={"chargepoint.data_dir": str(tmp_path), "http.listen": "",
                                         "mqtt.host": "127.0.0.1", "mqtt.port": port, "mqtt.prefix": PREFIX,
                                         **overrides})
    return replace(cfg, energy={"mains_meter": "api"})


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Mosquitto]:
    b = Mosquitto(tmp_path)
    await b.start()
    yield b
    b.kill()


@pytest.fixture
async def rec(broker: Mosquitto) -> AsyncIterator[Recorder]:
    r = Recorder(broker.port)
    await r.start()
    yield r
    await r.stop()


async def _run(cfg: Any) -> Runtime:
    runtime = build_runtime(cfg, RealClock())
    await runtime.start()
    return runtime


async def _charge(runtime: Runtime) -> None:
    station = runtime.station
    assert station is not None
    station.board.plug(1, cable_a=32.0)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not station.snapshot(1).ev_connected:
        assert loop.time() < deadline
        await asyncio.sleep(0.05)
    await station.submit(Authorize(1, True))
    while station.snapshot(1).substate != SubState.C2:
        assert loop.time() < deadline, station.snapshot(1)
        await asyncio.sleep(0.05)


async def test_discovery_for_every_entity_within_5_s_and_the_state_topics(tmp_path: Path, broker: Mosquitto,
                                                                          rec: Recorder) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    runtime = await _run(_config(tmp_path, broker.port))
    try:
        expected = discovery_messages(PREFIX, "homeassistant", 1, {})
        await rec.wait(lambda: all(t in rec.last for t in expected), 5.0, "every discovery config")
        assert max(rec.first_at[t] for t in expected) - started < 5.0
        for topic in expected:
            config = json.loads(rec.last[topic])
            assert config["availability_topic"] == f"{PREFIX}/connected"
            assert config["state_topic"].startswith(PREFIX + "/")
            assert config["unique_id"] and config["device"]["identifiers"] == [PREFIX]
        assert len(expected) >= 30
        mode = json.loads(rec.last[f"homeassistant/select/{PREFIX}/mode/config"])
        assert mode["command_topic"] == f"{PREFIX}/Set/Mode" and "Solar" in mode["options"]
        await rec.wait(lambda: rec.last.get(f"{PREFIX}/State") == "Ready to Charge", 3, "State")
        assert rec.last[f"{PREFIX}/connected"] == "online"
        for name in ("Mode", "Error", "Access", "ChargeCurrent", "ChargeCurrentOverride", "MaxCurrent", "NrOfPhases",
                     "EVPlugState", "CPPWM", "MainsCurrentL1", "MainsCurrentL3", "EVCurrentL1", "EVChargePower",
                     "EVEnergyCharged", "EVTotalEnergyCharged", "HomeBatteryCurrent", "RFIDLastRead", "OCPP",
                     "OCPPConnection"):
            assert f"{PREFIX}/{name}" in rec.last, name
        assert rec.last[f"{PREFIX}/Mode"] == "Normal" and rec.last[f"{PREFIX}/MaxCurrent"] == "160"
        # on change: plugging in is published at once
        await _charge(runtime)
        await rec.wait(lambda: rec.last.get(f"{PREFIX}/State") == "Charging", 3, "State Charging")
        assert rec.last[f"{PREFIX}/EVPlugState"] == "Connected"
    finally:
        await runtime.stop()
    # a clean stop leaves the retained offline
    await rec.wait(lambda: rec.last.get(f"{PREFIX}/connected") == "offline", 3, "connected offline")


async def test_set_current_override_100_offers_10_a_within_one_energy_cycle(tmp_path: Path, broker: Mosquitto,
                                                                             rec: Recorder) -> None:
    runtime = await _run(_config(tmp_path, broker.port))
    try:
        await _charge(runtime)
        station = runtime.station
        assert station is not None and station.snapshot(1).offered_current_a == 16.0
        await rec.wait(lambda: rec.last.get(f"{PREFIX}/State") == "Charging", 3, "Charging")
        loop = asyncio.get_running_loop()
        sent = loop.time()
        await publish(broker.port, f"{PREFIX}/Set/CurrentOverride", "100")
        await rec.wait(lambda: station.snapshot(1).offered_current_a == 10.0, 2.0, "10 A offered")  # one cycle = 2 s
        assert loop.time() - sent < 2.0
        assert station.snapshot(1).binding_limit == "override"
        await rec.wait(lambda: rec.last.get(f"{PREFIX}/ChargeCurrentOverride") == "100", 3, "override topic")
        await rec.wait(lambda: rec.last.get(f"{PREFIX}/ChargeCurrent") == "100", 3, "ChargeCurrent")
        # the other Set topics
        await publish(broker.port, f"{PREFIX}/Set/Mode", "Smart")
        await publish(broker.port, f"{PREFIX}/Set/MainsMeter", "50:60:-70")
        await publish(broker.port, f"{PREFIX}/Set/HomeBatteryCurrent", "-30")
        await publish(broker.port, f"{PREFIX}/Set/EnableC2", "Auto")
        await publish(broker.port, f"{PREFIX}/Set/CurrentMaxSumMains", "40")
        await publish(broker.port, f"{PREFIX}/Set/EVMeter", "60:61:62:4100:12345")
        assert runtime.energy is not None
        await rec.wait(lambda: runtime.energy.ev_meter_api is not None, 3, "EVMeter applied")
        s = runtime.energy.settings
        assert (s.mode, s.enable_c2, s.max_sum_mains_a) == ("smart", "auto", 40)
        assert runtime.energy.manager.meters.mains.da == (50, 60, -70)
        await rec.wait(lambda: rec.last.get(f"{PREFIX}/HomeBatteryCurrent") == "-30", 3, "battery topic")
        await rec.wait(lambda: rec.last.get(f"{PREFIX}/EVChargePower") == "4100", 3, "EV power topic")
        await publish(broker.port, f"{PREFIX}/Set/Mode", "Pause")
        await rec.wait(lambda: station.snapshot(1).substate in (SubState.C1, SubState.B1), 3, "paused")
        await rec.wait(lambda: rec.last.get(f"{PREFIX}/Access") == "Pause", 3, "Access Pause")
    finally:
        await runtime.stop()


async def test_bad_payloads_are_logged_with_the_topic_and_ignored(tmp_path: Path, broker: Mosquitto,
                                                                  rec: Recorder) -> None:
    runtime = await _run(_config(tmp_path, broker.port))
    try:
        await rec.wait(lambda: f"{PREFIX}/Mode" in rec.last, 5, "Mode topic")
        assert runtime.energy is not None
        before = runtime.energy.settings
        bad = [("Set/CurrentOverride", "abc"), ("Set/CurrentOverride", "20"), ("Set/Mode", "Turbo"),
               ("Set/MainsMeter", "1:2"), ("Set/MainsMeter", "1:2:5000"), ("Set/EnableC2", "9"),
               ("Set/CurrentMaxSumMains", "5"), ("Set/EVMeter", "1:2:3"), ("Set/CableLock", "yes"),
               ("Set/Bogus", "1")]
        with structlog.testing.capture_logs() as logs:
            for topic, payload in bad:
                await publish(broker.port, f"{PREFIX}/{topic}", payload)
            await publish(broker.port, f"{PREFIX}/Set/CurrentOverride", "80")  # a good one still works
            await rec.wait(lambda: runtime.energy.override_a == 8.0, 3, "good message after bad ones")
        warned = [e for e in logs if e.get("event") == "mqtt_bad_payload"]
        assert sorted((e["topic"], e["payload"]) for e in warned) == sorted(
            (f"{PREFIX}/{t}", p) for t, p in bad)
        assert all(e["error"] for e in warned)
        assert runtime.energy.settings == before
    finally:
        await runtime.stop()


async def test_per_connector_topic_tree(tmp_path: Path, broker: Mosquitto, rec: Recorder) -> None:
    runtime = await _run(_config(tmp_path, broker.port, **{"backend.connectors": 2}))
    try:
        expected = discovery_messages(PREFIX, "homeassistant", 2, {})
        await rec.wait(lambda: all(t in rec.last for t in expected), 5.0, "discovery")
        await rec.wait(lambda: f"{PREFIX}/Connector2/State" in rec.last, 3, "connector tree")
        assert rec.last[f"{PREFIX}/Connector1/State"] == "Ready to Charge"
        assert f"{PREFIX}/State" not in rec.last and f"{PREFIX}/Mode" in rec.last
        c2 = json.loads(rec.last[f"homeassistant/sensor/{PREFIX}/connector2_state/config"])
        assert c2["state_topic"] == f"{PREFIX}/Connector2/State" and c2["name"] == "Connector 2 State"
    finally:
        await runtime.stop()


async def test_broker_gone_for_30_s_loses_no_charging_and_the_topics_resume(tmp_path: Path, broker: Mosquitto,
                                                                             rec: Recorder) -> None:
    runtime = await _run(_config(tmp_path, broker.port))
    loop = asyncio.get_running_loop()
    try:
        await _charge(runtime)
        station = runtime.station
        assert station is not None
        await rec.wait(lambda: rec.last.get(f"{PREFIX}/State") == "Charging", 3, "Charging")
        energy_before = station.latest_meter(1).energy_import_wh  # type: ignore[union-attr]
        broker.kill()
        await rec.stop()
        outage_end = loop.time() + 30.0
        while loop.time() < outage_end:  # charging never stops while the broker is away
            snap = station.snapshot(1)
            assert snap.substate == SubState.C2 and snap.contactor_c1 and snap.offered_current_a == 16.0, snap
            await asyncio.sleep(0.25)
        energy_after = station.latest_meter(1).energy_import_wh  # type: ignore[union-attr]
        assert energy_after > energy_before
        await broker.start()  # same port, empty (no persistence): the bridge must republish
        fresh = Recorder(broker.port)
        await fresh.start()
        try:
            # reconnect backoff caps at 30 s
            await fresh.wait(lambda: fresh.last.get(f"{PREFIX}/State") == "Charging", 35, "topics resumed")
            assert fresh.last.get(f"{PREFIX}/connected") == "online"
            assert f"homeassistant/select/{PREFIX}/mode/config" in fresh.last
            await publish(broker.port, f"{PREFIX}/Set/CurrentOverride", "120")
            await fresh.wait(lambda: station.snapshot(1).offered_current_a == 12.0, 3, "Set after reconnect")
        finally:
            await fresh.stop()
    finally:
        await runtime.stop()
