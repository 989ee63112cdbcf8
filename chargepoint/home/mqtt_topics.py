"""What the MQTT bridge publishes and how it reads ``Set`` payloads (smartevse.md §7.2, §4.8, §5.6).

``state_topics(hub)`` -> {relative topic: payload} with the firmware's names and units (currents in
dA, energies in Wh, power in W, CP duty in the 1024 scale).  With one connector every topic sits
directly under the prefix, as on the firmware; with more, the per-connector topics move to
``Connector<n>/<Topic>`` and the station-wide ones (Mode, mains, battery, OCPP) stay at the top.

``SetCommand`` parsing is pure: ``parse_set(topic, payload)`` raises ValueError naming what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chargepoint.controller.types import ConnectorSnapshot
from chargepoint.energy.measurements import check_api_da
from chargepoint.home.firmware import (
    ENABLE_C2_NAMES,
    MQTT_MODE_NAMES,
    ModeId,
    access_name,
    parse_enable_c2,
    parse_mqtt_mode,
)
from chargepoint.home.hub import HomeHub
from chargepoint.home.settings_doc import ev_meter_doc, evse_doc, phase_currents_doc

#: topics that exist once per connector (moved to Connector<n>/ with several connectors)
CONNECTOR_TOPICS: tuple[str, ...] = (
    "State", "Error", "ChargeCurrent", "NrOfPhases", "EVPlugState", "CPPWM", "CPPWMOverride", "ESPTemp",
    "EVCurrentL1", "EVCurrentL2", "EVCurrentL3", "EVChargePower", "EVEnergyCharged", "EVTotalEnergyCharged",
    "EVImportActiveEnergy", "EVExportActiveEnergy", "BindingLimit", "SolarStopTimer",
)


def connector_topics(hub: HomeHub, snap: ConnectorSnapshot, mode: ModeId) -> dict[str, str]:
    evse = evse_doc(hub, snap, mode)
    ev = ev_meter_doc(hub, snap.connector)
    meter = snap.meter or hub.runtime.station.latest_meter(snap.connector)
    import_wh = meter.energy_import_wh if meter is not None else 0.0
    export_wh = meter.energy_export_wh if meter is not None else 0.0
    power_w = meter.power_w if meter is not None else 0.0
    if hub.ev_energy is not None and snap.connector == 1:
        import_wh, export_wh, power_w = hub.ev_energy
    cur = ev["currents"]
    return {
        "State": evse["state"],
        "Error": evse["error"],
        "ChargeCurrent": str(round(snap.offered_current_a * 10)),
        "NrOfPhases": str(snap.phases),
        "EVPlugState": "Connected" if snap.ev_connected else "Disconnected",
        "CPPWM": str(evse["pwm"]),
        "CPPWMOverride": "-1",
        "ESPTemp": str(evse["temp"]),
        "EVCurrentL1": str(cur["L1"]), "EVCurrentL2": str(cur["L2"]), "EVCurrentL3": str(cur["L3"]),
        "EVChargePower": str(round(power_w)),
        "EVEnergyCharged": str(round(hub.session_energy_wh(snap.connector))),
        "EVTotalEnergyCharged": str(round(import_wh)),
        "EVImportActiveEnergy": str(round(import_wh)),
        "EVExportActiveEnergy": str(round(export_wh)),
        "BindingLimit": snap.binding_limit,
        "SolarStopTimer": str(evse["solar_stop_timer"]),
    }


def station_topics(hub: HomeHub, mode: ModeId) -> dict[str, str]:
    runtime = hub.runtime
    energy = runtime.energy
    s = energy.settings
    phase = phase_currents_doc(hub)
    mains = runtime.station.latest_meter(0)
    ocpp = getattr(runtime, "ocpp", None)
    connected = bool(ocpp.status().get("connected")) if ocpp is not None else False
    override = energy.override_a
    return {
        "Mode": MQTT_MODE_NAMES[mode],
        "Access": access_name(mode),
        "ChargeCurrentOverride": str(round(override * 10) if override is not None else 0),
        "MaxCurrent": str(s.max_current_a * 10),
        "CurrentMaxSumMains": str(s.max_sum_mains_a),
        "EnableC2": ENABLE_C2_NAMES[s.enable_c2],
        "MainsCurrentL1": str(phase["L1"]), "MainsCurrentL2": str(phase["L2"]), "MainsCurrentL3": str(phase["L3"]),
        "MainsImportActiveEnergy": str(round(mains.energy_import_wh if mains else 0.0)),
        "MainsExportActiveEnergy": str(round(mains.energy_export_wh if mains else 0.0)),
        "HomeBatteryCurrent": str(hub.battery_da or 0),
        "RFID": "Not Installed" if hub.rfid_last is None else "Ready to read card",
        "RFIDLastRead": hub.rfid_last or "",
        "CableLock": "Enabled" if hub.cable_lock else "Disabled",
        "OCPP": "Enabled" if ocpp is not None else "Disabled",
        "OCPPConnection": "Connected" if connected else "Disconnected",
        "LoadBl": "0",
    }


def connector_prefix(n: int, connectors: int) -> str:
    return "" if connectors == 1 else f"Connector{n}/"


def state_topics(hub: HomeHub) -> dict[str, str]:
    mode = hub.mode()
    snaps = hub.runtime.station.snapshots()
    out = station_topics(hub, mode)
    for snap in snaps:
        base = connector_prefix(snap.connector, len(snaps))
        for name, value in connector_topics(hub, snap, mode).items():
            out[base + name] = value
    return out


# ------------------------------------------------------------------------------ Set topics
@dataclass(frozen=True, slots=True)
class SetCommand:
    """A parsed ``Set/<name>`` message; ``value`` is typed per name (see :func:`parse_set`)."""

    name: str
    value: Any


def _int(payload: str, what: str) -> int:
    text = payload.strip()
    digits = text[1:] if text[:1] in "+-" else text
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 9):
        raise ValueError(f"{what}: must be an integer, got {payload!r}")
    return int(text)


def _ev_meter(payload: str) -> tuple[tuple[int, int, int] | None, int | None, int | None]:
    parts = payload.strip().split(":")
    if len(parts) != 5:
        raise ValueError(f"EVMeter: must be L1:L2:L3:P:E (dA, dA, dA, W, Wh; -1 = unknown), got {payload!r}")
    values = [_int(p, name) for p, name in zip(parts, ("L1", "L2", "L3", "P", "E"), strict=True)]
    currents = None
    if all(v != -1 for v in values[:3]):
        checked = [check_api_da(name, v) for name, v in zip(("L1", "L2", "L3"), values[:3], strict=True)]
        currents = (checked[0], checked[1], checked[2])
    power = values[3] if values[3] != -1 else None
    energy = values[4] if values[4] != -1 else None
    if energy is not None and energy < 0:
        raise ValueError(f"E: must be >= 0 Wh or -1, got {energy}")
    return currents, power, energy


SUPPORTED_SET = ("Mode", "CurrentOverride", "CurrentMaxSumMains", "MainsMeter", "EVMeter", "HomeBatteryCurrent",
                 "EnableC2", "CableLock")
#: the firmware's Set topics we take but do not act on (LEDs, PWM override, ISO 15118)
IGNORED_SET = ("CPPWMOverride", "RequiredEVCCID", "ColorOff", "ColorNormal", "ColorSmart", "ColorSolar",
               "ColorCustom", "CustomButton")


def parse_set(name: str, payload: str) -> SetCommand:
    """Parse one Set payload; ValueError says what is wrong.  Ranges are checked where they do not
    depend on the running settings (override and modes are checked when applied)."""
    if name == "Mode":
        return SetCommand(name, parse_mqtt_mode(payload))
    if name == "CurrentOverride":
        return SetCommand(name, _int(payload, name))
    if name == "CurrentMaxSumMains":
        value = _int(payload, name)
        if value != 0 and not 10 <= value <= 600:
            raise ValueError(f"CurrentMaxSumMains: must be 0 or 10..600 A, got {value}")
        return SetCommand(name, value)
    if name == "MainsMeter":
        parts = payload.strip().split(":")
        if len(parts) != 3:
            raise ValueError(f"MainsMeter: must be L1:L2:L3 in dA, got {payload!r}")
        return SetCommand(name, tuple(check_api_da(n, _int(p, n)) for n, p in zip(("L1", "L2", "L3"), parts,
                                                                                   strict=True)))
    if name == "EVMeter":
        return SetCommand(name, _ev_meter(payload))
    if name == "HomeBatteryCurrent":
        return SetCommand(name, check_api_da(name, _int(payload, name)))
    if name == "EnableC2":
        return SetCommand(name, parse_enable_c2(payload))
    if name == "CableLock":
        value = _int(payload, name)
        if value not in (0, 1):
            raise ValueError(f"CableLock: must be 0 or 1, got {value}")
        return SetCommand(name, bool(value))
    raise ValueError(f"unknown Set topic {name!r}; known: {', '.join(SUPPORTED_SET)}")
