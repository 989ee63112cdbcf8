"""Home Assistant MQTT discovery (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery):
one retained config message per entity under ``<discovery_prefix>/<component>/<node>/<object>/config``.

The charger appears as one device with its sensors, the Mode and EnableC2 selects, the override
current and MaxSumMains numbers and the CableLock switch; every entity follows ``<prefix>/connected``
(online/offline).  Values in dA are shown in A through ``value_template``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from chargepoint.home.firmware import ENABLE_C2_NAMES, MQTT_MODE_NAMES
from chargepoint.home.mqtt_topics import CONNECTOR_TOPICS, connector_prefix

DA_TO_A = "{{ (value | float / 10) | round(1) }}"


@dataclass(frozen=True, slots=True)
class Entity:
    component: str  # sensor | select | number | switch
    topic: str  # the state topic (relative to the prefix)
    name: str
    extra: tuple[tuple[str, Any], ...] = ()


def _sensor(topic: str, name: str, **extra: Any) -> Entity:
    return Entity("sensor", topic, name, tuple(extra.items()))


def _current(topic: str, name: str) -> Entity:
    return _sensor(topic, name, unit_of_measurement="A", device_class="current", state_class="measurement",
                   value_template=DA_TO_A)


STATION_ENTITIES: tuple[Entity, ...] = (
    Entity("select", "Mode", "Mode", (("options", list(MQTT_MODE_NAMES.values())), ("command_topic", "Set/Mode"))),
    Entity("select", "EnableC2", "Enable C2", (("options", list(ENABLE_C2_NAMES.values())),
                                                ("command_topic", "Set/EnableC2"))),
    Entity("number", "ChargeCurrentOverride", "Charge current override",
           (("command_topic", "Set/CurrentOverride"), ("min", 0), ("max", 80), ("step", 0.1),
            ("unit_of_measurement", "A"), ("device_class", "current"), ("mode", "box"),
            ("value_template", DA_TO_A), ("command_template", "{{ (value | float * 10) | int }}"))),
    Entity("number", "CurrentMaxSumMains", "Max sum of mains currents",
           (("command_topic", "Set/CurrentMaxSumMains"), ("min", 0), ("max", 600), ("step", 1),
            ("unit_of_measurement", "A"), ("device_class", "current"), ("mode", "box"))),
    Entity("switch", "CableLock", "Cable lock", (("command_topic", "Set/CableLock"), ("payload_on", "1"),
                                                  ("payload_off", "0"), ("state_on", "Enabled"),
                                                  ("state_off", "Disabled"))),
    _sensor("Access", "Access"),
    _current("MaxCurrent", "Max current"),
    _current("MainsCurrentL1", "Mains current L1"),
    _current("MainsCurrentL2", "Mains current L2"),
    _current("MainsCurrentL3", "Mains current L3"),
    _sensor("MainsImportActiveEnergy", "Mains import energy", unit_of_measurement="Wh", device_class="energy",
            state_class="total_increasing"),
    _sensor("MainsExportActiveEnergy", "Mains export energy", unit_of_measurement="Wh", device_class="energy",
            state_class="total_increasing"),
    _current("HomeBatteryCurrent", "Home battery current"),
    _sensor("RFIDLastRead", "RFID last read"),
    _sensor("OCPP", "OCPP"),
    _sensor("OCPPConnection", "OCPP connection"),
)

CONNECTOR_ENTITIES: tuple[Entity, ...] = (
    _sensor("State", "State"),
    _sensor("Error", "Error"),
    _current("ChargeCurrent", "Charge current"),
    _sensor("NrOfPhases", "Phases", state_class="measurement"),
    _sensor("EVPlugState", "EV plug state"),
    _sensor("CPPWM", "CP PWM", state_class="measurement"),
    _sensor("ESPTemp", "Temperature", unit_of_measurement="°C", device_class="temperature",
            state_class="measurement"),
    _current("EVCurrentL1", "EV current L1"),
    _current("EVCurrentL2", "EV current L2"),
    _current("EVCurrentL3", "EV current L3"),
    _sensor("EVChargePower", "EV charge power", unit_of_measurement="W", device_class="power",
            state_class="measurement"),
    _sensor("EVEnergyCharged", "EV energy charged", unit_of_measurement="Wh", device_class="energy",
            state_class="total"),
    _sensor("EVTotalEnergyCharged", "EV total energy", unit_of_measurement="Wh", device_class="energy",
            state_class="total_increasing"),
    _sensor("BindingLimit", "Binding limit"),
    _sensor("SolarStopTimer", "Solar stop timer", unit_of_measurement="s", device_class="duration"),
)
assert all(e.topic in CONNECTOR_TOPICS for e in CONNECTOR_ENTITIES)


def node_id(prefix: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", prefix)


def _object_id(topic: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", topic).strip("_").lower()


def discovery_messages(prefix: str, discovery_prefix: str, connectors: int, device: dict[str, Any]) -> dict[str, str]:
    """{config topic: JSON payload} for every entity (retained by the caller)."""
    node = node_id(prefix)
    out: dict[str, str] = {}
    entities: list[tuple[Entity, str, str]] = [(e, e.topic, e.name) for e in STATION_ENTITIES]
    for n in range(1, connectors + 1):
        base = connector_prefix(n, connectors)
        label = f"Connector {n} " if connectors > 1 else ""
        entities.extend((e, base + e.topic, label + e.name) for e in CONNECTOR_ENTITIES)
    for entity, topic, name in entities:
        obj = _object_id(topic)
        config: dict[str, Any] = {
            "name": name,
            "unique_id": f"{node}_{obj}",
            "object_id": f"{node}_{obj}",
            "state_topic": f"{prefix}/{topic}",
            "availability_topic": f"{prefix}/connected",
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device,
        }
        for key, value in entity.extra:
            config[key] = f"{prefix}/{value}" if key == "command_topic" else value
        out[f"{discovery_prefix}/{entity.component}/{node}/{obj}/config"] = json.dumps(config, sort_keys=True)
    return out
