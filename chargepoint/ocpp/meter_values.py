"""Meter values from the station: sampled values per measurand, the periodic sampler of a
transaction (MeterValueSampleInterval, from the transaction start) and the clock-aligned sampler
(ClockAlignedDataInterval, aligned to 00:00 UTC of the corrected wall clock).

Values come from the connector's latest MeterReading (energy, power, per-phase current and voltage,
SoC) and its controller snapshot (Current.Offered = what the pilot really offers, temperature).
A measurand without a source right now (no SoC, no temperature sensor) is left out.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from chargepoint.ocpp.errors import format_datetime
from chargepoint.ocpp.ports import StationView
from chargepoint.ocpp.rules.transactions import KeyReader

PHASES = ("L1", "L2", "L3")


def _num(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}"


def sampled_values(station: StationView, connector: int, measurands: list[str], context: str) -> list[dict[str, Any]]:
    """SampledValue list for ``measurands`` of ``connector`` (0 = mains meter) right now."""
    meter = station.latest_meter(connector)
    snap = station.snapshot(connector) if connector > 0 else None
    out: list[dict[str, Any]] = []
    phases = (snap.phases if snap is not None and snap.contactor_c1 else 3) if snap is not None else 3

    def add(measurand: str, value: str, unit: str, phase: str | None = None, location: str = "Outlet") -> None:
        sv: dict[str, Any] = {"value": value, "context": context, "format": "Raw", "measurand": measurand,
                              "location": location if connector > 0 else "Inlet", "unit": unit}
        if phase:
            sv["phase"] = phase
        out.append(sv)

    for m in measurands:
        if m == "Energy.Active.Import.Register" and meter is not None:
            add(m, _num(meter.energy_import_wh, 0), "Wh")
        elif m == "Energy.Active.Export.Register" and meter is not None:
            add(m, _num(meter.energy_export_wh, 0), "Wh")
        elif m == "Power.Active.Import" and meter is not None:
            add(m, _num(max(0.0, meter.power_w)), "W")
        elif m == "Current.Import" and meter is not None:
            for i, ph in enumerate(PHASES[:max(1, phases)]):
                add(m, _num(max(0.0, meter.current_a[i]), 2), "A", ph)
        elif m == "Voltage" and meter is not None:
            for i, ph in enumerate(PHASES[:max(1, phases)]):
                add(m, _num(meter.voltage_v[i]), "V", ph + "-N")
        elif m == "Current.Offered" and snap is not None:
            add(m, _num(snap.offered_current_a), "A")
        elif m == "Temperature" and snap is not None and snap.temperature_c is not None:
            add(m, _num(snap.temperature_c), "Celsius", location="Body")
        elif m == "SoC" and meter is not None and meter.soc_percent is not None:
            add(m, _num(meter.soc_percent, 0), "Percent", location="EV")
    return out


def meter_value(timestamp: datetime, values: list[dict[str, Any]]) -> dict[str, Any]:
    return {"timestamp": format_datetime(timestamp), "sampledValue": values}


def next_aligned(now: datetime, interval_s: int) -> datetime:
    """The next instant after ``now`` that is a multiple of ``interval_s`` since 00:00 UTC."""
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since = (now - midnight).total_seconds()
    k = math.floor(since / interval_s + 1e-9) + 1
    return midnight + timedelta(seconds=k * interval_s)


def stop_measurands(keys: KeyReader) -> list[str]:
    """Measurands of StopTransaction.transactionData (StopTxnSampledData + StopTxnAlignedData)."""
    seen: list[str] = []
    for name in ("StopTxnSampledData", "StopTxnAlignedData"):
        listed = keys.get(name)
        for m in listed if isinstance(listed, list) else []:
            if m not in seen:
                seen.append(m)
    return seen
