"""End-to-end rig for smart charging: the OCPP session rig (sim board -> controller -> station ->
OcppClient against the real test CSMS over loopback websockets, virtual time) with a 32 A controller,
an EV with a battery too large to fill in a day, and recorders of what reaches the HAL."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from backends.sim import create_backend
from chargepoint.controller import Controller
from chargepoint.controller.types import ControllerSettings
from chargepoint.csms import TestCsms
from chargepoint.station import Station
from hal.types import MeterReading, PilotMode, SetPilot
from tests.ocpp.session_rig import Rig


class ScRig(Rig):
    def __init__(self, clock: Any, data_dir: Any, *, max_current_a: float = 32.0, sim: dict[str, Any] | None = None,
                 **kw: Any) -> None:
        sim = {"ev_capacity_kwh": 5000.0, "ev_soc": 1.0, "ev_update_s": 600.0, **(sim or {})}
        super().__init__(clock, data_dir, sim=sim, **kw)
        self.max_current_a = max_current_a

    async def __aenter__(self) -> ScRig:
        if self.csms is None:
            self.csms = TestCsms(self.clock, http_port=None, console_log=False)
            await self.csms.start()
        self.board = create_backend(self.clock, self.sim_options)
        self.controller = Controller(
            ControllerSettings(connectors=self.connectors, max_current_a=self.max_current_a),
            self.board.capabilities)
        self.station = Station(self.clock, self.board, self.controller)
        self.recorder = Recorder(self.clock, self.station)
        await self.station.start()
        if self.start_client:
            await self.start()
        return self

    @property
    def sc(self) -> Any:
        return self.ctx.smart_charging

    async def set_profile(self, connector: int, profile: dict[str, Any]) -> Any:
        return await self.call("SetChargingProfile", {"connectorId": connector, "csChargingProfiles": profile})

    async def charge(self, connector: int = 1, tag: str = "TAG1") -> dict[str, Any]:
        """Present a card, plug in; returns the StartTransaction payload once the CSMS got it."""
        n = len(self.csms.frames)
        self.board.present_rfid(tag, connector)
        await self.settle(1)
        self.board.plug(connector)
        frame = await self.wait_call("StartTransaction", lambda p: p["connectorId"] == connector, start=n)
        return frame.payload

    def transaction_id(self, connector: int = 1) -> int:
        tx = self.ctx.transactions.active(connector)
        assert tx is not None and tx.transaction_id is not None
        return tx.transaction_id

    async def wait_tx_id(self, connector: int = 1, within: float = 30.0) -> int:
        end = self.clock.monotonic() + within
        while self.clock.monotonic() < end:
            tx = self.ctx.transactions.active(connector)
            if tx is not None and tx.transaction_id is not None:
                return tx.transaction_id
            await self.clock.sleep(0.1)
        raise AssertionError("no transaction id")

    async def on_second(self, frac: float = 0.2) -> datetime:
        """Sleep to ``frac`` past the next whole wall second (whole-second composite schedules)."""
        now = self.clock.now()
        await self.clock.sleep(1 - now.microsecond / 1e6 + frac)
        return self.clock.now().replace(microsecond=0)


@dataclass(frozen=True)
class Pilot:
    time: datetime
    connector: int
    mode: PilotMode
    duty: int
    amps: float


@dataclass(frozen=True)
class Meter:
    time: datetime
    connector: int
    amps: float  # L1
    energy_wh: float


class Recorder:
    """Every SetPilot the controller commands and every EV meter reading, with wall timestamps."""

    def __init__(self, clock: Any, station: Station) -> None:
        self.clock = clock
        self.pilots: list[Pilot] = []
        self.meters: list[Meter] = []
        station.subscribe(self._on)

    def _on(self, item: Any) -> None:
        now = self.clock.now()
        if isinstance(item, SetPilot):
            self.pilots.append(Pilot(now, item.connector, item.mode, item.duty_permille, item.current_a))
        elif isinstance(item, MeterReading) and item.connector > 0:
            self.meters.append(Meter(now, item.connector, item.current_a[0], item.energy_import_wh))

    def offered_at(self, t: datetime, connector: int = 1) -> float:
        """The current encoded on the pilot at ``t`` (0 without PWM)."""
        value = 0.0
        for p in self.pilots:
            if p.connector != connector:
                continue
            if p.time > t:
                break
            value = p.amps if p.mode is PilotMode.PWM else 0.0
        return value

    def drawn_at(self, t: datetime, connector: int = 1) -> float:
        value = 0.0
        for m in self.meters:
            if m.connector != connector:
                continue
            if m.time > t:
                break
            value = m.amps
        return value

    def first_time(self, after: datetime, pred: Any, series: str = "pilots", connector: int = 1) -> datetime | None:
        for x in getattr(self, series):
            if x.connector == connector and x.time >= after and pred(x):
                return x.time
        return None


def whole(t: datetime) -> datetime:
    return t.replace(microsecond=0)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ceil_s(t: datetime) -> datetime:
    return whole(t) + timedelta(seconds=math.ceil(t.microsecond / 1e6))


def profile(pid: int, level: int = 0, purpose: str = "TxDefaultProfile", periods: Any = ((0, 16),), *,
            kind: str = "Absolute", unit: str = "A", start: datetime | None = None, duration: int | None = None,
            valid_from: datetime | None = None, valid_to: datetime | None = None, recurrency: str | None = None,
            tx: int | None = None) -> dict[str, Any]:
    """A camelCase csChargingProfiles dict as a CSMS sends it."""
    sched: dict[str, Any] = {"chargingRateUnit": unit, "chargingSchedulePeriod": []}
    for p in periods:
        pd: dict[str, Any] = {"startPeriod": p[0], "limit": p[1]}
        if len(p) > 2:
            pd["numberPhases"] = p[2]
        sched["chargingSchedulePeriod"].append(pd)
    if duration is not None:
        sched["duration"] = duration
    if start is not None:
        sched["startSchedule"] = iso(start)
    d: dict[str, Any] = {"chargingProfileId": pid, "stackLevel": level, "chargingProfilePurpose": purpose,
                         "chargingProfileKind": kind, "chargingSchedule": sched}
    if recurrency is not None:
        d["recurrencyKind"] = recurrency
    if valid_from is not None:
        d["validFrom"] = iso(valid_from)
    if valid_to is not None:
        d["validTo"] = iso(valid_to)
    if tx is not None:
        d["transactionId"] = tx
    return d


def periods(payload: dict[str, Any]) -> list[tuple[int, float]]:
    return [(p["startPeriod"], p["limit"]) for p in payload["chargingSchedule"]["chargingSchedulePeriod"]]
