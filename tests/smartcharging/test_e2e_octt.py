"""The OCTT 1.6 smart-charging cases (Charge Point as SUT) end to end: the test CSMS sends the CALLs over
a real websocket, the answers are checked on the wire and the effect on the HAL pilot (and the sim EV)
is checked through the station.  Engine-level versions with exact numbers: test_octt.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chargepoint.smartcharging import Purpose
from hal.types import PilotMode
from tests.ocpp.session_rig import vrun
from tests.smartcharging.e2e_rig import ScRig, periods, profile

pytestmark = pytest.mark.usefixtures("ocpp_schema_check")

DEVIATION = 5


def offered(rig: ScRig, c: int = 1) -> float:
    return rig.station.snapshot(c).offered_current_a


def test_tc_056_tx_default_profile(tmp_path):
    """TC_056: TxDefaultProfile (6 A, 1 phase, duration 304 s, validFrom/validTo) before the transaction:
    Accepted, GetCompositeSchedule shows it, the transaction charges at 6 A, and at the duration end the
    limit is gone."""

    async def main(clock):
        async with ScRig(clock, tmp_path) as rig:
            await rig.booted()
            t0 = await rig.on_second()
            d = profile(41, 0, "TxDefaultProfile", [(0, 6.0, 1)], start=t0, duration=304, valid_from=t0,
                        valid_to=t0 + timedelta(seconds=308))
            assert (await rig.set_profile(1, d)).payload == {"status": "Accepted"}
            out = await rig.call("GetCompositeSchedule", {"connectorId": 1, "duration": 300, "chargingRateUnit": "A"})
            assert out.payload["status"] == "Accepted" and out.payload["connectorId"] == 1
            assert out.payload["chargingSchedule"] == {
                "duration": 300, "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0, "numberPhases": 1}]}
            await rig.charge(1)
            await rig.wait_status(1, "Charging")
            await rig.settle(5)
            assert offered(rig) == 6.0 and rig.board.ev_current(1) == (6.0, 6.0, 6.0)
            # duration over at t0 + 304: no limit any more, the EV gets the local maximum
            await clock.sleep((t0 + timedelta(seconds=305) - clock.now()).total_seconds())
            t_up = rig.recorder.first_time(t0 + timedelta(seconds=300), lambda p: p.amps == 32.0)
            assert t_up is not None and (t_up - (t0 + timedelta(seconds=304))).total_seconds() < 0.01
            assert "ocpp" not in rig.station.snapshot(1).limits
            assert rig.csms.violations == []

    vrun(main)


@pytest.mark.parametrize("kind", ["Absolute", "Relative"])
def test_tc_057_tx_profile(tmp_path, kind):
    """TC_057: during a transaction a TxProfile with the transaction's id (Absolute or Relative; 10 A,
    8.5 A from 120 s, duration 300) is Accepted and drives the pilot; after it, the TxDefault applies."""

    async def main(clock):
        async with ScRig(clock, tmp_path) as rig:
            await rig.booted()
            assert (await rig.set_profile(0, profile(1, 0, "TxDefaultProfile", [(0, 16)], kind="Relative"))
                    ).payload == {"status": "Accepted"}
            await rig.charge(1)
            tx_id = await rig.wait_tx_id(1)
            await rig.settle(5)
            assert offered(rig) == 16.0
            tx_start = rig.ctx.transactions.active(1).start_time
            now = await rig.on_second()
            base = now if kind == "Absolute" else tx_start
            d = profile(2, 0, "TxProfile", [(0, 10), (120, 8.5)], kind=kind, duration=300, tx=tx_id,
                        start=now if kind == "Absolute" else None,
                        valid_from=now if kind == "Absolute" else None,
                        valid_to=now + timedelta(hours=1) if kind == "Absolute" else None)
            assert (await rig.set_profile(1, d)).payload == {"status": "Accepted"}
            await rig.settle(3)
            assert offered(rig) == 10.0 and rig.board.ev_current(1)[0] == 10.0
            await clock.sleep((base + timedelta(seconds=301) - clock.now()).total_seconds())
            rec = rig.recorder
            t85 = rec.first_time(base + timedelta(seconds=100), lambda p: p.amps == 8.5)
            t16 = rec.first_time(base + timedelta(seconds=200), lambda p: p.amps == 16.0)
            assert t85 is not None and abs((t85 - base).total_seconds() - 120) < 0.01
            assert t16 is not None and abs((t16 - base).total_seconds() - 300) < 0.01
            assert rig.sc.engine.profile(2).profile.transaction_id == tx_id

    vrun(main)


def test_tc_058_1_tx_profile_without_transaction(tmp_path):
    """TC_058_1: no transaction: a TxProfile (with or without transactionId) is Rejected, nothing kept."""

    async def main(clock):
        async with ScRig(clock, tmp_path) as rig:
            await rig.booted()
            for tx in (123, None):
                out = await rig.set_profile(1, profile(3, 0, "TxProfile", [(0, 10)], tx=tx))
                assert out.payload == {"status": "Rejected"}
            assert rig.sc.engine.installed() == []
            out = await rig.call("GetCompositeSchedule", {"connectorId": 1, "duration": 60})
            assert periods(out.payload) == [(0, 32.0)]  # no limit: the hardware maximum

    vrun(main)


def test_tc_058_2_tx_profile_wrong_transaction_id(tmp_path):
    """TC_058_2: a TxProfile naming another transaction is Rejected; the running one is not limited."""

    async def main(clock):
        async with ScRig(clock, tmp_path) as rig:
            await rig.booted()
            await rig.charge(1)
            tx_id = await rig.wait_tx_id(1)
            out = await rig.set_profile(1, profile(3, 0, "TxProfile", [(0, 10)], tx=tx_id + 1))
            assert out.payload == {"status": "Rejected"}
            await rig.settle(5)
            assert rig.sc.engine.installed() == [] and "ocpp" not in rig.station.snapshot(1).limits
            assert offered(rig) == 32.0

    vrun(main)


def test_tc_059_remote_start_with_charging_profile(tmp_path):
    """TC_059: RemoteStartTransaction with a Relative TxProfile (6 A, 12 A from 60 s): the transaction
    follows it from its start, the profile is bound to the id StartTransaction.conf gave, GetComposite-
    Schedule shows it, a SetChargingProfile for that id with the same stackLevel replaces it, and it is
    deleted with the transaction."""

    async def main(clock):
        async with ScRig(clock, tmp_path) as rig:
            await rig.booted()
            cp = profile(9, 0, "TxProfile", [(0, 6.0, 3), (60, 12.0, 3)], kind="Relative")
            out = await rig.call("RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 1, "chargingProfile": cp})
            assert out.payload == {"status": "Accepted"}
            await rig.settle(1)
            rig.board.plug(1)
            await rig.wait_call("StartTransaction")
            tx_id = await rig.wait_tx_id(1)
            tx_start = rig.ctx.transactions.active(1).start_time
            assert rig.sc.engine.profile(9).profile.transaction_id == tx_id
            await rig.settle(10)
            assert offered(rig) == 6.0
            assert max(m.amps for m in rig.recorder.meters) <= 6.0  # the EV never drew more
            pwm = [p.amps for p in rig.recorder.pilots if p.mode is PilotMode.PWM]
            assert pwm[0] == 6.0  # the first PWM already carries the profile (applied ahead of the start)
            await clock.sleep((tx_start + timedelta(seconds=61) - clock.now()).total_seconds())
            t12 = rig.recorder.first_time(tx_start, lambda p: p.amps == 12.0)
            assert t12 is not None and abs((t12 - tx_start).total_seconds() - 60) < 0.01
            now = await rig.on_second()
            out = await rig.call("GetCompositeSchedule", {"connectorId": 1, "duration": 120, "chargingRateUnit": "A"})
            assert out.payload["scheduleStart"].startswith(now.strftime("%Y-%m-%dT%H:%M:%S"))
            assert out.payload["chargingSchedule"]["duration"] == 120
            assert periods(out.payload) == [(0, 12.0)]
            out = await rig.set_profile(1, profile(10, 0, "TxProfile", [(0, 7)], tx=tx_id))
            assert out.payload == {"status": "Accepted"}
            await rig.settle(3)
            assert [p.profile.id for p in rig.sc.engine.installed()] == [10] and offered(rig) == 7.0
            out = await rig.call("RemoteStopTransaction", {"transactionId": tx_id})
            assert out.payload == {"status": "Accepted"}
            await rig.wait_call("StopTransaction")
            await rig.settle(1)
            assert rig.sc.engine.installed() == []
            assert rig.sc.store.load() == []

    vrun(main)


def test_tc_060_remote_start_with_wrong_purpose(tmp_path):
    """TC_060: RemoteStartTransaction whose chargingProfile is not a TxProfile is Rejected; nothing is
    kept and no transaction starts."""

    async def main(clock):
        async with ScRig(clock, tmp_path) as rig:
            await rig.booted()
            for purpose in ("TxDefaultProfile", "ChargePointMaxProfile"):
                cp = profile(9, 0, purpose, [(0, 6)], kind="Relative")
                out = await rig.call("RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 1,
                                                                "chargingProfile": cp})
                assert out.payload == {"status": "Rejected"}
            rig.board.plug(1)
            await rig.settle(10)
            assert rig.calls("StartTransaction") == []
            assert rig.sc.engine.pending_tx_profile(1) is None and rig.sc.engine.installed() == []

    vrun(main)


def test_remote_start_with_a_malformed_tx_profile_is_rejected(tmp_path):
    """A TxProfile the engine would refuse (first period not at 0) gives Rejected up front, not
    Accepted-then-dropped; no transaction starts."""

    async def main(clock):
        async with ScRig(clock, tmp_path) as rig:
            await rig.booted()
            cp = profile(9, 0, "TxProfile", [(30, 6), (60, 10)], kind="Relative")
            out = await rig.call("RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 1,
                                                            "chargingProfile": cp})
            assert out.payload == {"status": "Rejected"}
            rig.board.plug(1)
            await rig.settle(10)
            assert rig.calls("StartTransaction") == []
            assert rig.sc.engine.pending_tx_profile(1) is None

    vrun(main)


def _tc_066_profiles(start, unit, scale, tx_id):
    return [
        (0, profile(1, 0, "ChargePointMaxProfile", [(0, 10 * scale, 3)], unit=unit, start=start,
                    duration=86400 + DEVIATION)),
        (1, profile(2, 0, "TxDefaultProfile", [(0, 6 * scale, 3), (80, 10 * scale, 3), (200, 8 * scale, 3)],
                    unit=unit, start=start, duration=300 + DEVIATION)),
        (1, profile(3, 0, "TxProfile", [(0, 8 * scale, 3), (50, 11 * scale, 3), (140, 16 * scale, 3),
                                        (200, 6 * scale, 3), (240, 12 * scale, 3)],
                    unit=unit, start=start, duration=260 + DEVIATION, tx=tx_id)),
    ]


@pytest.mark.parametrize(("unit", "scale"), [("A", 1), ("W", 1000)])
def test_tc_066_get_composite_schedule(tmp_path, unit, scale):
    """TC_066: ChargePointMax + TxDefault + TxProfile (5 periods) set over the wire; GetCompositeSchedule
    (400 s, unit) answers the per-interval minimum from the time of receipt; the pilot follows it."""

    async def main(clock):
        async with ScRig(clock, tmp_path) as rig:
            await rig.booted()
            await rig.charge(1)
            tx_id = await rig.wait_tx_id(1)
            await rig.settle(5)
            now = await rig.on_second()
            start = now - timedelta(seconds=DEVIATION)
            for c, d in _tc_066_profiles(start, unit, scale, tx_id):
                assert (await rig.set_profile(c, d)).payload == {"status": "Accepted"}
            out = await rig.call("GetCompositeSchedule", {"connectorId": 1, "duration": 400, "chargingRateUnit": unit})
            assert out.payload["status"] == "Accepted"
            assert out.payload["scheduleStart"].startswith(now.strftime("%Y-%m-%dT%H:%M:%S"))
            sched = out.payload["chargingSchedule"]
            assert sched["duration"] == 400 and sched["chargingRateUnit"] == unit and "startSchedule" not in sched
            expected = [(0, 8), (45, 10), (195, 6), (235, 10), (260, 8), (300, 10)]
            assert periods(out.payload) == [(s, float(v * scale)) for s, v in expected]
            # the pilot follows the same schedule (A per phase; W / (230 V x 3) for the W variant)
            await clock.sleep((now + timedelta(seconds=301) - clock.now()).total_seconds())
            for s, v in expected:
                amps = v if unit == "A" else int(v * 1000 / 690 * 10) / 10
                assert rig.recorder.offered_at(now + timedelta(seconds=s + 0.5)) == amps, (s, v)

    vrun(main)


def test_tc_067_clear_charging_profile(tmp_path):
    """TC_067: a TxDefaultProfile is cleared by id, by connector + purpose + stackLevel and with no
    criteria (Accepted each time, the limit disappears from the pilot); a clear matching nothing is
    Unknown."""

    async def main(clock):
        async with ScRig(clock, tmp_path) as rig:
            await rig.booted()
            await rig.charge(1)
            await rig.settle(10)
            d = profile(5, 1, "TxDefaultProfile", [(0, 6), (60, 8), (200, 10)], kind="Relative", duration=400)
            for clear, status in (({"id": 5}, "Accepted"),
                                  ({"connectorId": 1, "chargingProfilePurpose": "TxProfile", "stackLevel": 1},
                                   "Unknown"),
                                  ({"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 1},
                                   "Accepted"),
                                  ({}, "Accepted")):
                if not rig.sc.engine.installed():
                    assert (await rig.set_profile(1, d)).payload == {"status": "Accepted"}
                    await rig.settle(3)
                    assert offered(rig) == 6.0
                out = await rig.call("ClearChargingProfile", clear)
                assert out.payload == {"status": status}, clear
                await rig.settle(3)
                assert offered(rig) == (32.0 if status == "Accepted" else 6.0)
            assert (await rig.call("ClearChargingProfile", {"id": 5})).payload == {"status": "Unknown"}

    vrun(main)


def test_tc_072_stacking(tmp_path):
    """TC_072: TxDefault stack 0 (6/8/10 A, 400 s) and stack 1 (10/7 A, 150 s): the composite and the
    pilot follow stack 1 while it lasts, then stack 0."""

    async def main(clock):
        async with ScRig(clock, tmp_path) as rig:
            await rig.booted()
            await rig.charge(1)
            await rig.settle(10)
            now = await rig.on_second()
            start = now - timedelta(seconds=DEVIATION)
            vf, vt = start, now + timedelta(seconds=DEVIATION + 401)
            p0 = profile(11, 0, "TxDefaultProfile", [(0, 6), (100, 8), (200, 10)], start=start,
                         duration=400 + DEVIATION, valid_from=vf, valid_to=vt)
            p1 = profile(12, 1, "TxDefaultProfile", [(0, 10), (100, 7)], start=start, duration=150 + DEVIATION,
                         valid_from=vf, valid_to=vt)
            assert (await rig.set_profile(1, p0)).payload == {"status": "Accepted"}
            assert (await rig.set_profile(1, p1)).payload == {"status": "Accepted"}
            out = await rig.call("GetCompositeSchedule", {"connectorId": 1, "duration": 350, "chargingRateUnit": "A"})
            expected = [(0, 10.0), (95, 7.0), (150, 8.0), (195, 10.0)]
            assert periods(out.payload) == expected
            await clock.sleep((now + timedelta(seconds=360) - clock.now()).total_seconds())
            for s, v in expected:
                assert rig.recorder.offered_at(now + timedelta(seconds=s + 0.5)) == v

    vrun(main)


def test_tc_082_tx_default_during_transaction(tmp_path):
    """TC_082 (errata 3.8): a TxDefaultProfile set or updated during a transaction without TxProfile
    applies at once; clearing it lets the transaction charge unlimited; a connector with its own
    TxProfile is not affected."""

    async def main(clock):
        async with ScRig(clock, tmp_path, connectors=2) as rig:
            await rig.booted()
            await rig.charge(1, "TAG1")
            await rig.charge(2, "TAG2")
            tx2 = await rig.wait_tx_id(2)
            await rig.settle(10)
            assert offered(rig, 1) == 32.0 and offered(rig, 2) == 32.0
            assert (await rig.set_profile(2, profile(20, 0, "TxProfile", [(0, 12)], tx=tx2))
                    ).payload == {"status": "Accepted"}
            assert (await rig.set_profile(0, profile(21, 0, "TxDefaultProfile", [(0, 10)], kind="Relative"))
                    ).payload == {"status": "Accepted"}
            await rig.settle(3)
            assert offered(rig, 1) == 10.0 and offered(rig, 2) == 12.0
            assert rig.board.ev_current(1)[0] == 10.0
            assert (await rig.set_profile(0, profile(21, 0, "TxDefaultProfile", [(0, 7)], kind="Relative"))
                    ).payload == {"status": "Accepted"}
            await rig.settle(3)
            assert offered(rig, 1) == 7.0 and offered(rig, 2) == 12.0
            assert (await rig.call("ClearChargingProfile", {"id": 21})).payload == {"status": "Accepted"}
            await rig.settle(3)
            assert offered(rig, 1) == 32.0 and offered(rig, 2) == 12.0
            assert [p.profile.purpose for p in rig.sc.engine.installed()] == [Purpose.TX]
            assert all(p.mode is PilotMode.PWM for p in rig.recorder.pilots[-2:])

    vrun(main)


def test_remote_start_profile_dropped_when_no_transaction_starts(tmp_path):
    """RemoteStart with a profile, but no EV arrives before ConnectionTimeOut: the profile is dropped
    and a later local start charges without it."""

    async def main(clock):
        async with ScRig(clock, tmp_path, keys={"ConnectionTimeOut": "30"}) as rig:
            await rig.booted()
            cp = profile(9, 0, "TxProfile", [(0, 6.0)], kind="Relative")
            out = await rig.call("RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 1, "chargingProfile": cp})
            assert out.payload == {"status": "Accepted"}
            await rig.settle(5)
            assert rig.sc.engine.pending_tx_profile(1) is not None
            await rig.settle(40)
            assert rig.sc.engine.pending_tx_profile(1) is None
            assert "ocpp" not in rig.station.snapshot(1).limits
            await rig.charge(1, "TAG2")
            await rig.wait_status(1, "Charging")
            await rig.settle(5)
            assert offered(rig) == 32.0 and rig.sc.engine.installed() == []

    vrun(main)
