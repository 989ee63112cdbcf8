"""The MQTT bridge (aiomqtt): the firmware's topics on change plus a heartbeat, the retained
``<prefix>/connected`` online/offline last will, the ``<prefix>/Set/...`` subscriptions and Home
Assistant discovery (smartevse.md §7.2; docs/HOME.md).

Runs as a runtime service; it only reads the station / energy service and applies ``Set`` messages
through the same calls as the REST API.  A broker that goes away is reconnected with exponential
backoff (1 s doubling to 30 s); nothing else waits for MQTT.  A bad ``Set`` payload is logged with
its topic and ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import aiomqtt
import structlog

from chargepoint.energy.settings import Mode, SettingsError
from chargepoint.home.firmware import ModeId
from chargepoint.home.ha_discovery import discovery_messages
from chargepoint.home.hub import HomeHub, find_hub
from chargepoint.home.mqtt_topics import IGNORED_SET, SetCommand, parse_set, state_topics

log = structlog.get_logger("mqtt")

BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 30.0
#: changes are gathered this long before publishing (a burst of station events -> one publish)
COALESCE_S = 0.2


class MqttBridge:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        cfg = runtime.config
        self.cfg = cfg.mqtt
        self.prefix = cfg.mqtt.prefix or f"SmartEVSE-{cfg.ocpp.serial}"
        self.connected = False
        self.connections = 0
        self.published = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._client: aiomqtt.Client | None = None
        self._sent: dict[str, str] = {}

    # -- service -------------------------------------------------------------------------
    @property
    def hub(self) -> HomeHub:
        hub = find_hub(self.runtime)
        assert hub is not None, "the MQTT bridge needs the HomeHub service"
        return hub

    async def start(self) -> None:
        self.hub.mqtt_status = self.status
        self._task = asyncio.create_task(self._run(), name="mqtt-bridge")

    async def stop(self) -> None:
        client = self._client
        if client is not None and self.connected:
            with contextlib.suppress(Exception):  # a clean stop says offline itself (the will is for crashes)
                await asyncio.wait_for(client.publish(self._t("connected"), "offline", qos=1, retain=True), 2.0)
        await self.runtime.clock.cancel_and_wait(self._task)
        self._task = None

    def status(self) -> dict[str, Any]:
        return {"host": self.cfg.host, "port": self.cfg.port, "topic_prefix": self.prefix,
                "username": self.cfg.username, "password_set": bool(self.cfg.password),
                "status": "Connected" if self.connected else "Disconnected"}

    def _t(self, relative: str) -> str:
        return f"{self.prefix}/{relative}"

    # -- connection loop -------------------------------------------------------------------
    def _client_for(self) -> aiomqtt.Client:
        tls: ssl.SSLContext | None = None
        if self.cfg.tls:
            tls = ssl.create_default_context(cafile=self.cfg.ca_file or None)
        return aiomqtt.Client(
            self.cfg.host, self.cfg.port, username=self.cfg.username or None, password=self.cfg.password or None,
            identifier=f"{self.prefix}-chargepoint", keepalive=30, tls_context=tls,
            will=aiomqtt.Will(self._t("connected"), "offline", qos=1, retain=True),
        )

    async def _run(self) -> None:
        delay = BACKOFF_MIN_S
        clock = self.runtime.clock
        while True:
            try:
                async with self._client_for() as client:
                    self._client = client
                    self.connected = True
                    self.connections += 1
                    delay = BACKOFF_MIN_S
                    log.info("mqtt_connected", broker=f"{self.cfg.host}:{self.cfg.port}", prefix=self.prefix)
                    await self._session(client)
            except aiomqtt.MqttError as exc:
                self.last_error = str(exc)
                log.warning("mqtt_disconnected", broker=f"{self.cfg.host}:{self.cfg.port}", error=str(exc),
                            retry_in_s=delay)
            finally:
                self.connected = False
                self._client = None
            await clock.sleep(delay)
            delay = min(BACKOFF_MAX_S, delay * 2)

    async def _session(self, client: aiomqtt.Client) -> None:
        await client.publish(self._t("connected"), "online", qos=1, retain=True)
        if self.cfg.discovery:
            await self._publish_discovery(client)
        await client.subscribe(self._t("Set/#"), qos=1)
        self._sent = {}  # a new session republishes everything
        publisher = asyncio.create_task(self._publisher(client), name="mqtt-publisher")
        try:
            async for message in client.messages:
                await self._on_message(str(message.topic), message.payload)
        finally:
            await self.runtime.clock.cancel_and_wait(publisher)

    async def _publish_discovery(self, client: aiomqtt.Client) -> None:
        cfg = self.runtime.config
        device = {"identifiers": [self.prefix], "name": f"SmartEVSE {cfg.chargepoint.id}", "manufacturer": cfg.ocpp.vendor,
                  "model": cfg.ocpp.model, "sw_version": cfg.ocpp.firmware, "serial_number": cfg.ocpp.serial}
        messages = discovery_messages(self.prefix, self.cfg.discovery_prefix, self.runtime.station.connectors, device)
        for topic, payload in messages.items():
            await client.publish(topic, payload, qos=1, retain=True)
        log.info("mqtt_discovery_published", entities=len(messages))

    async def _publisher(self, client: aiomqtt.Client) -> None:
        clock = self.runtime.clock
        hub = self.hub
        version = -1
        heartbeat_at = clock.monotonic()
        while True:
            now = clock.monotonic()
            heartbeat = now >= heartbeat_at
            if heartbeat:
                heartbeat_at = now + self.cfg.heartbeat_s
            await self.publish_state(client, full=heartbeat)
            version = await hub.wait_change(version, max(0.0, min(1.0, heartbeat_at - clock.monotonic())))
            await clock.sleep(COALESCE_S)

    async def publish_state(self, client: aiomqtt.Client, *, full: bool = False) -> int:
        if self.runtime.station is None or self.runtime.energy is None:
            return 0
        topics = state_topics(self.hub)
        count = 0
        for topic, payload in topics.items():
            if full or self._sent.get(topic) != payload:
                await client.publish(self._t(topic), payload, qos=0, retain=True)
                self._sent[topic] = payload
                count += 1
        self.published += count
        return count

    # -- Set topics ----------------------------------------------------------------------------
    async def _on_message(self, topic: str, raw: Any) -> None:
        name = topic[len(self._t("Set/")):] if topic.startswith(self._t("Set/")) else topic
        payload = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else str(raw)
        if name in IGNORED_SET:
            log.info("mqtt_set_not_supported", topic=topic, payload=payload)
            return
        try:
            command = parse_set(name, payload)
            await self.apply(command)
        except (ValueError, SettingsError) as exc:
            log.warning("mqtt_bad_payload", topic=topic, payload=payload[:200], error=str(exc))
            return
        log.info("mqtt_set", topic=topic, payload=payload)
        self.hub.notify()

    async def apply(self, command: SetCommand) -> None:
        """Apply a parsed Set command (ValueError / SettingsError when the running settings refuse it)."""
        hub = self.hub
        energy = self.runtime.energy
        name, value = command.name, command.value
        if name == "Mode":
            await hub.set_mode(value if isinstance(value, ModeId) else ModeId(value))
        elif name == "CurrentOverride":
            if energy.settings.mode == Mode.SOLAR:
                raise ValueError("CurrentOverride: not accepted in Solar mode")
            s = energy.settings
            if value != 0 and not s.min_current_a * 10 <= value <= s.max_current_a * 10:
                raise ValueError(f"CurrentOverride: must be 0 or {s.min_current_a * 10}..{s.max_current_a * 10} dA,"
                                 f" got {value}")
            await energy.update({"override_current_a": value / 10 if value else None})
        elif name == "CurrentMaxSumMains":
            await energy.update({"max_sum_mains_a": value})
        elif name == "MainsMeter":
            if energy.mains_source != "api":
                raise ValueError(f"MainsMeter: the mains currents come from a meter ({energy.mains_source!r});"
                                 " set [energy] mains_meter = \"api\"")
            hub.feed_mains(*value)
        elif name == "EVMeter":
            currents, power, energy_wh = value
            if currents is not None:
                energy.feed_ev_meter_api(currents[0] / 10, currents[1] / 10, currents[2] / 10,
                                         None if power is None else float(power),
                                         None if energy_wh is None else float(energy_wh))
            if power is not None or energy_wh is not None:
                old = hub.ev_energy or (0.0, 0.0, 0.0)
                hub.ev_energy = (float(energy_wh) if energy_wh is not None else old[0], old[1],
                                 float(power) if power is not None else old[2])
        elif name == "HomeBatteryCurrent":
            hub.feed_battery(value)
        elif name == "EnableC2":
            await energy.update({"enable_c2": value.value})
        elif name == "CableLock":
            await hub.set_cable_lock(bool(value))
