"""A 24 h TxDefault Daily profile through the whole stack: CSMS -> websocket -> OCPP handler -> engine ->
service timer -> controller -> HAL pilot -> sim EV, in virtual time.

Schedule (UTC, recurring daily from 00:00):  00:00 32 A (night) | 07:00 16 A (day) | 17:00 6 A (evening)
| 21:00 0 A (evening peak: no energy) | 23:00 32 A.  The run starts Monday 08:00 and lasts 24 h, so it
crosses 17:00, 21:00, 23:00 and 07:00."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from chargepoint.controller.types import SubState
from hal.types import PilotMode
from tests.ocpp.session_rig import vrun
from tests.smartcharging.e2e_rig import ScRig, profile

pytestmark = pytest.mark.usefixtures("ocpp_schema_check")

H = 3600
MIDNIGHT = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # the virtual clock starts 08:00 that day
DAILY = [(0, 32), (7 * H, 16), (17 * H, 6), (21 * H, 0), (23 * H, 32)]
BOUNDARIES = [  # (instant, new limit)
    (MIDNIGHT + timedelta(hours=17), 6.0),
    (MIDNIGHT + timedelta(hours=21), 0.0),
    (MIDNIGHT + timedelta(hours=23), 32.0),
    (MIDNIGHT + timedelta(hours=31), 16.0),
]
IEC_REACTION_S = 5.0
VOLTS, PHASES = 230.0, 3


def schedule_amps(t: datetime) -> float:
    sec = (t - MIDNIGHT).total_seconds() % 86400
    value = DAILY[0][1]
    for start, amps in DAILY:
        if sec >= start:
            value = amps
    return float(value)


def schedule_energy_wh(t0: datetime, t1: datetime) -> float:
    """Integral of the schedule (A per phase x 3 x 230 V) over [t0, t1]."""
    edges = sorted({t0, t1, *(b for b, _ in BOUNDARIES if t0 < b < t1)})
    return sum(schedule_amps(a) * PHASES * VOLTS * (b - a).total_seconds() / 3600 for a, b in pairwise(edges))


def test_daily_profile_drives_pilot_ev_and_energy(tmp_path):
    async def main(clock):
        async with ScRig(clock, tmp_path, sim={"meter_interval_s": 300.0}) as rig:
            await rig.booted()
            daily = profile(1, 0, "TxDefaultProfile", DAILY, kind="Recurring", recurrency="Daily", start=MIDNIGHT)
            out = await rig.set_profile(1, daily)
            assert out.payload == {"status": "Accepted"}
            await rig.charge(1)
            await rig.wait_status(1, "Charging")
            await rig.settle(10)
            rec = rig.recorder
            t_start = rec.first_time(clock.now() - timedelta(seconds=60), lambda m: m.amps > 0, "meters")
            assert t_start is not None
            snap = rig.station.snapshot(1)
            assert snap.offered_current_a == 16.0 and snap.binding_limit == "ocpp"
            assert rig.board.ev_current(1) == (16.0, 16.0, 16.0)
            e0, t_e0 = rig.board.energy_wh(1), clock.now()
            await clock.sleep((MIDNIGHT + timedelta(hours=32) - clock.now()).total_seconds())  # 08:00 next day
            e1, t_e1 = rig.board.energy_wh(1), clock.now()

            for boundary, amps in BOUNDARIES:
                # the pilot: PWM at the new current (or PWM withdrawn for 0 A) within the IEC allowance
                if amps > 0:
                    t_pilot = rec.first_time(boundary, lambda p, a=amps: p.mode is PilotMode.PWM and p.amps == a)
                else:
                    t_pilot = rec.first_time(boundary, lambda p: p.mode is not PilotMode.PWM)
                assert t_pilot is not None, f"no pilot change after {boundary}"
                assert (t_pilot - boundary).total_seconds() <= IEC_REACTION_S, (boundary, t_pilot)
                assert rec.offered_at(boundary - timedelta(seconds=1)) != amps  # it really changed there
                # the EV's real current follows within the allowance
                t_ev = rec.first_time(boundary, lambda m, a=amps: abs(m.amps - a) < 0.05, "meters")
                assert t_ev is not None and (t_ev - boundary).total_seconds() <= IEC_REACTION_S, (boundary, t_ev)
                # and stays there until the next boundary
                later = boundary + timedelta(minutes=30)
                assert rec.drawn_at(later) == pytest.approx(amps)

            # 21:00-23:00: energy paused through C1 -> B1 and resumed at 23:00
            assert rec.offered_at(MIDNIGHT + timedelta(hours=22)) == 0.0
            assert rec.drawn_at(MIDNIGHT + timedelta(hours=22)) == 0.0
            # the "ocpp" limit is what the schedule says at the end (day: 16 A)
            assert rig.station.snapshot(1).limits["ocpp"] == 16.0
            assert rig.station.snapshot(1).substate is SubState.C2

            # the meter's energy is the schedule's integral (within 1 %)
            expected = schedule_energy_wh(t_e0, t_e1)
            assert expected > 250_000  # ~24 h of 6..32 A on 3 phases: the check is not trivial
            assert e1 - e0 == pytest.approx(expected, rel=0.01)
            assert rig.csms.violations == []

    vrun(main)
