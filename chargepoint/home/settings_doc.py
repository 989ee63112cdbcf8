"""``GET /settings`` in the SmartEVSE firmware's JSON shape (smartevse.md §7.1), built from our state.

Units as in the firmware: currents in deci-amperes in ``phase_currents``, ``ev_meter.currents``,
``settings.charge_current`` / ``override_current`` and ``home_battery``; whole amperes for the other
settings; kWh with one decimal and kW with one decimal in ``ev_meter`` / ``mains_meter``; the CP duty
in the 1024 scale.  ``evse`` describes connector 1; with more connectors ``connectors`` (ours) lists
every connector in the same shape.  docs/HOME.md lists what differs from the firmware.
"""

from __future__ import annotations

from typing import Any

from chargepoint.controller.types import ConnectorSnapshot
from chargepoint.home.firmware import (
    ENABLE_C2_NAMES,
    FIRMWARE_MODE_VALUE,
    ModeId,
    cp_pwm,
    error_of,
    state_of,
)
from chargepoint.home.hub import HomeHub


def _kwh(wh: float | None) -> float:
    return round((wh or 0.0) / 1000.0, 1)


def evse_doc(hub: HomeHub, snap: ConnectorSnapshot, mode: ModeId) -> dict[str, Any]:
    runtime = hub.runtime
    energy = runtime.energy
    decision = energy.manager.last
    conn = decision.connectors.get(snap.connector) if decision is not None else None
    state_id, state = state_of(snap.substate)
    error_id, error = error_of(snap.faults, less_6a=bool(conn and conn.less_6a),
                               ct_nocomm="ct_nocomm" in energy.faults)
    stop_timer = decision.solar_stop_timer_s if decision is not None else None
    return {
        "connector": snap.connector,
        "temp": round(snap.temperature_c) if snap.temperature_c is not None else 0,
        "temp_max": round(runtime.config.controller.max_temperature_c),
        "connected": snap.ev_connected,
        "access": mode not in (ModeId.OFF, ModeId.PAUSE),
        "mode": FIRMWARE_MODE_VALUE[energy.settings.mode],
        "loadbl": 0,
        "pwm": cp_pwm(snap.pwm_duty_permille),
        "solar_stop_timer": round(stop_timer) if stop_timer is not None else 0,
        "state": state,
        "state_id": state_id,
        "error": error,
        "error_id": error_id,
        "rfid": "Not Installed" if hub.rfid_last is None else "Ready to read card",
        "rfid_lastread": hub.rfid_last or "",
        "binding_limit": snap.binding_limit,
    }


def _meter_description(runtime: Any, role: str, connector: int) -> tuple[str, int]:
    for meter in runtime.config.meters:
        if str(meter.get("role", "ev")).lower() == role and int(meter.get("connector", 1)) == connector:
            return str(meter.get("type", "custom")).upper(), int(meter.get("address", 0))
    if role == "mains":
        source = runtime.energy.mains_source
        if source == "api":
            return "API", 0
        return ("Sim house" if runtime.config.sim.get("house") is not None else "Disabled"), 0
    return runtime.station.backend_name.upper() + " meter", 0


def ev_meter_doc(hub: HomeHub, connector: int) -> dict[str, Any]:
    runtime = hub.runtime
    station = runtime.station
    snap = station.snapshot(connector)
    meter = snap.meter or station.latest_meter(connector)
    api = runtime.energy.ev_meter_api
    desc, address = _meter_description(runtime, "ev", connector)
    if api is not None and connector == 1:
        currents = [round(c * 10) for c in api.current_a]
        desc = "API"
    else:
        currents = [round(c * 10) for c in meter.current_a] if meter is not None else [0, 0, 0]
    power_w = meter.power_w if meter is not None else 0.0
    import_wh = meter.energy_import_wh if meter is not None else 0.0
    export_wh = meter.energy_export_wh if meter is not None else 0.0
    fed = hub.ev_energy
    if fed is not None and connector == 1:
        import_wh, export_wh, power_w = fed
    return {
        "description": desc,
        "address": address,
        "import_active_power": round(power_w / 1000.0, 1),
        "total_kwh": _kwh(import_wh),
        "charged_kwh": _kwh(hub.session_energy_wh(connector)),
        "currents": {"TOTAL": sum(currents), "L1": currents[0], "L2": currents[1], "L3": currents[2]},
        "import_active_energy": _kwh(import_wh),
        "export_active_energy": _kwh(export_wh),
    }


def phase_currents_doc(hub: HomeHub) -> dict[str, Any]:
    runtime = hub.runtime
    energy = runtime.energy
    clock = runtime.clock
    raw = energy.manager.meters.mains
    original = list(raw.da) if raw is not None else [0, 0, 0]
    decision = energy.manager.last
    corrected = [round(a * 10) for a in decision.mains_a] if decision is not None and decision.mains_a else original
    last = round(clock.timestamp() - (clock.monotonic() - raw.at)) if raw is not None else 0
    snap = runtime.station.snapshot(1)
    charging = snap.contactor_c1
    return {
        "TOTAL": sum(corrected), "L1": corrected[0], "L2": corrected[1], "L3": corrected[2],
        "last_data_update": last,
        "charging_L1": charging, "charging_L2": charging and snap.phases == 3,
        "charging_L3": charging and snap.phases == 3,
        "original_data": {"TOTAL": sum(original), "L1": original[0], "L2": original[1], "L3": original[2]},
    }


def settings_document(hub: HomeHub, mqtt_status: dict[str, Any] | None = None) -> dict[str, Any]:
    runtime = hub.runtime
    cfg = runtime.config
    station = runtime.station
    energy = runtime.energy
    s = energy.settings
    mode = hub.mode()
    snaps = station.snapshots()
    first = snaps[0]
    override = energy.override_a
    ocpp = getattr(runtime, "ocpp", None)
    ocpp_status = ocpp.status() if ocpp is not None else {}
    mains = station.latest_meter(0)
    mains_desc, _addr = _meter_description(runtime, "mains", 0)
    doc: dict[str, Any] = {
        "version": cfg.ocpp.firmware,
        "serialnr": cfg.ocpp.serial,
        "mode": mode.name,
        "mode_id": int(mode),
        "car_connected": first.ev_connected,
        "wifi": {"status": "NOT_APPLICABLE", "ssid": "", "rssi": 0, "bssid": ""},
        "evse": evse_doc(hub, first, mode),
        "settings": {
            "charge_current": round(first.offered_current_a * 10),
            "override_current": round(override * 10) if override is not None else 0,
            "current_min": s.min_current_a,
            "current_max": s.max_current_a,
            "current_main": s.max_mains_a,
            "current_max_circuit": s.max_circuit_a,
            "current_max_sum_mains": s.max_sum_mains_a,
            "max_sum_mains_time": s.max_sum_mains_time_min,
            "solar_max_import": s.import_current_a,
            "solar_start_current": s.start_current_a,
            "solar_stop_time": s.stop_time_min,
            "enable_C2": ENABLE_C2_NAMES[s.enable_c2],
            "modem": "Not present",
            "mains_meter": mains_desc,
            "starttime": 0,
            "stoptime": 0,
            "repeat": 0,
            "cablelock": int(hub.cable_lock),
            "lcdlock": 0,
        },
        "mqtt": mqtt_status or {"host": cfg.mqtt.host, "port": cfg.mqtt.port, "topic_prefix": "",
                                "username": cfg.mqtt.username, "password_set": bool(cfg.mqtt.password),
                                "status": "Disabled" if not cfg.mqtt.host else "Disconnected"},
        "ocpp": {
            "mode": "Enabled" if ocpp is not None else "Disabled",
            "backend_url": ocpp_status.get("csms_url", ""),
            "cb_id": ocpp_status.get("cp_id", cfg.chargepoint.id),
            "auth_key_set": bool(cfg.ocpp.password),
            "auto_auth": "Disabled",
            "auto_auth_idtag": "",
            "status": "Connected" if ocpp_status.get("connected") else "Disconnected",
            "registration": ocpp_status.get("registration", "None"),
        },
        "home_battery": {"current": hub.battery_da or 0, "last_update": round(hub.battery_at or 0)},
        "ev_meter": ev_meter_doc(hub, first.connector),
        "mains_meter": {"import_active_energy": _kwh(mains.energy_import_wh if mains else 0.0),
                        "export_active_energy": _kwh(mains.energy_export_wh if mains else 0.0)},
        "phase_currents": phase_currents_doc(hub),
        "backlight": {"timer": 0, "status": "N/A"},
    }
    if len(snaps) > 1:
        doc["connectors"] = [{**evse_doc(hub, snap, mode), "ev_meter": ev_meter_doc(hub, snap.connector),
                              "charge_current": round(snap.offered_current_a * 10)} for snap in snaps]
    return doc
