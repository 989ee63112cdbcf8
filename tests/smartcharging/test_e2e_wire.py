"""Smart charging over the wire: errors and their codes, configuration limits, ClearChargingProfile
matrix, GetCompositeSchedule variants, persistence across a restart, offline operation, W -> A with the
phases in use, pause below MinCurrent, and MeterValues' Current.Offered."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chargepoint.controller.types import SetPhases, SubState
from chargepoint.csms import TestCsms
from chargepoint.services.smart_charging import TABLE
from tests.ocpp.session_rig import vrun
from tests.smartcharging.e2e_rig import ScRig, periods, profile

pytestmark = pytest.mark.usefixtures("ocpp_schema_check")


def offered(rig: ScRig, c: int = 1) -> float:
    return rig.station.snapshot(c).offered_current_a


def test_errors_name_the_field_with_the_right_code(tmp_path):
    async def main(clock):
        async with ScRig(clock, tmp_path) as rig:
            await rig.booted()
            good = profile(1, 0, "TxDefaultProfile", [(0, 16)])
            cases = [
                ({"connectorId": 5, "csChargingProfiles": good}, "PropertyConstraintViolation", "connectorId"),
                ({"connectorId": 1, "csChargingProfiles": {**good, "chargingProfilePurpose": "Foo"}},
                 "PropertyConstraintViolation", "chargingProfilePurpose"),
                ({"connectorId": 1, "csChargingProfiles": {**good, "chargingProfileKind": "Sometimes"}},
                 "PropertyConstraintViolation", "chargingProfileKind"),
                ({"connectorId": 1, "csChargingProfiles": profile(1, 0, "TxDefaultProfile", [(0, 16)], unit="kW")},
                 "PropertyConstraintViolation", "chargingRateUnit"),
                ({"connectorId": 1, "csChargingProfiles": profile(1, 0, "TxDefaultProfile", [(0, 7.25)])},
                 "PropertyConstraintViolation", "limit"),
                ({"connectorId": 1, "csChargingProfiles": {**good, "stackLevel": -1}},
                 "PropertyConstraintViolation", "stackLevel"),
                ({"connectorId": 1, "csChargingProfiles": {**good, "stackLevel": "0"}},
                 "TypeConstraintViolation", "stackLevel"),
                ({"connectorId": 1, "csChargingProfiles": {k: v for k, v in good.items() if k != "chargingSchedule"}},
                 "ProtocolError", "chargingSchedule"),
                ({"connectorId": 1, "csChargingProfiles": {**good, "colour": "red"}}, "FormationViolation", "colour"),
            ]
            for payload, code, field in cases:
                out = await rig.call("SetChargingProfile", payload)
                assert out.status == "error" and out.error_code == code, (payload, out)
                assert field in out.error_description, (field, out.error_description)
            empty = profile(1, 0, "TxDefaultProfile", [])
            out = await rig.call("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": empty})
            assert out.error_code == "PropertyConstraintViolation" and "chargingSchedulePeriod" in out.error_description
            # explicit nulls for optional fields are taken as absent
            nulls = {**good, "validFrom": None, "transactionId": None, "recurrencyKind": None}
            out = await rig.call("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": nulls})
            assert out.payload == {"status": "Accepted"}
            out = await rig.call("ClearChargingProfile", {"chargingProfilePurpose": "Nope"})
            assert out.error_code == "PropertyConstraintViolation"
            out = await rig.call("GetCompositeSchedule", {"connectorId": 1, "duration": 60, "chargingRateUnit": "kW"})
            assert out.error_code == "PropertyConstraintViolation" and "chargingRateUnit" in out.error_description
            out = await rig.call("GetCompositeSchedule", {"connectorId": 1, "duration": -1})
            assert out.error_code == "PropertyConstraintViolation" and "duration" in out.error_description
            out = await rig.call("GetCompositeSchedule", {"connectorId": 2, "duration": 60})
            assert out.payload == {"status": "Rejected"}
            # the session carries on
            out = await rig.call("GetCompositeSchedule", {"connectorId": 1, "duration": 60})
            assert out.payload["status"] == "Accepted" and periods(out.payload) == [(0, 16.0)]

    vrun(main)


def test_configuration_limits(tmp_path):
    """ChargeProfileMaxStackLevel, ChargingScheduleMaxPeriods, MaxChargingProfilesInstalled and
    ChargingScheduleAllowedChargingRateUnit (here: Current only) -> Rejected."""

    async def main(clock):
        keys = {"ChargeProfileMaxStackLevel": "3", "ChargingScheduleMaxPeriods": "4",
                "MaxChargingProfilesInstalled": "2", "ChargingScheduleAllowedChargingRateUnit": "Current"}
        async with ScRig(clock, tmp_path, keys=keys) as rig:
            await rig.booted()
            conf = await rig.call("GetConfiguration", {"key": list(keys)})
            assert {e["key"]: e["value"] for e in conf.payload["configurationKey"]} == keys

            async def status(pid, level=0, periods=((0, 16),), unit="A", connector=1):
                out = await rig.set_profile(connector, profile(pid, level, "TxDefaultProfile", list(periods),
                                                               unit=unit))
                return out.payload["status"]

            assert await status(1, level=4) == "Rejected"
            assert await status(1, level=3) == "Accepted"
            assert await status(2, periods=[(0, 16), (60, 8), (120, 6), (180, 10), (240, 12)]) == "Rejected"
            assert await status(2, periods=[(0, 16), (60, 8), (120, 6), (180, 10)]) == "Accepted"
            assert await status(3, unit="W", level=1) == "Rejected"
            assert await status(3, level=1) == "Rejected"  # a third profile: MaxChargingProfilesInstalled = 2
            assert await status(1, level=3) == "Accepted"  # replacing one is fine
            assert [p.profile.id for p in rig.sc.engine.installed()] == [2, 1]

    vrun(main)


CLEAR_MATRIX = [
    ({}, "Accepted", set()),
    ({"id": 2}, "Accepted", {1, 3, 4}),
    ({"id": 2, "connectorId": 1, "chargingProfilePurpose": "ChargePointMaxProfile"}, "Accepted", {1, 3, 4}),  # id wins
    ({"id": 99}, "Unknown", {1, 2, 3, 4}),
    ({"connectorId": 1}, "Accepted", {1, 4}),
    ({"connectorId": 0}, "Accepted", {2, 3}),
    ({"connectorId": 2}, "Unknown", {1, 2, 3, 4}),
    ({"chargingProfilePurpose": "TxDefaultProfile"}, "Accepted", {1}),
    ({"chargingProfilePurpose": "TxProfile"}, "Unknown", {1, 2, 3, 4}),
    ({"stackLevel": 1}, "Accepted", {1, 3, 4}),
    ({"stackLevel": 0}, "Accepted", {2, 3, 4}),
    ({"connectorId": 1, "stackLevel": 3}, "Accepted", {1, 2, 4}),
    ({"connectorId": 0, "stackLevel": 3}, "Unknown", {1, 2, 3, 4}),
    ({"connectorId": 0, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 2}, "Accepted", {1, 2, 3}),
    ({"connectorId": 0, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 1}, "Unknown", {1, 2, 3, 4}),
]


@pytest.mark.parametrize(("request_", "status", "left"), CLEAR_MATRIX)
def test_clear_matrix(tmp_path, request_, status, left):
    """No criteria = all; id wins over the other fields; otherwise the given fields are ANDed; nothing
    matched -> Unknown.  Installed: 1 = ChargePointMax on 0 (level 0), 2 = TxDefault on 1 (level 1),
    3 = TxDefault on 1 (level 3), 4 = TxDefault on 0 (level 2)."""

    async def main(clock):
        async with ScRig(clock, tmp_path) as rig:
            await rig.booted()
            for c, d in ((0, profile(1, 0, "ChargePointMaxProfile", [(0, 30)])),
                         (1, profile(2, 1, "TxDefaultProfile", [(0, 20)])),
                         (1, profile(3, 3, "TxDefaultProfile", [(0, 25)])),
                         (0, profile(4, 2, "TxDefaultProfile", [(0, 10)]))):
                assert (await rig.set_profile(c, d)).payload == {"status": "Accepted"}
            out = await rig.call("ClearChargingProfile", request_)
            assert out.payload == {"status": status}
            assert {p.profile.id for p in rig.sc.engine.installed()} == left
            assert {row["csChargingProfiles"]["chargingProfileId"] for row in rig.sc.store.load()} == left

    vrun(main)


def test_composite_station_total_units_and_phases(tmp_path):
    """Connector 0 = the station total; W uses the phases in use; limits are multiples of 0.1."""

    async def main(clock):
        async with ScRig(clock, tmp_path, connectors=2) as rig:
            await rig.booted()
            now = await rig.on_second()
            assert (await rig.set_profile(1, profile(1, 0, "TxDefaultProfile", [(0, 10), (600, 7.3)], start=now))
                    ).payload == {"status": "Accepted"}
            assert (await rig.set_profile(0, profile(2, 0, "ChargePointMaxProfile", [(0, 20), (300, 15)], start=now))
                    ).payload == {"status": "Accepted"}
            out = await rig.call("GetCompositeSchedule", {"connectorId": 0, "duration": 900, "chargingRateUnit": "A"})
            # connector 1: 10 then 7.3; connector 2: unlimited (32); the cap 20 then 15 binds
            assert periods(out.payload) == [(0, 20.0), (300, 15.0)]
            out = await rig.call("GetCompositeSchedule", {"connectorId": 1, "duration": 900, "chargingRateUnit": "W"})
            # 3 phases by default: 10 A = 6900 W, 7.3 A = 5037 W
            assert periods(out.payload) == [(0, 6900.0), (600, 5037.0)]
            out = await rig.call("GetCompositeSchedule", {"connectorId": 1, "duration": 900})
            assert out.payload["chargingSchedule"]["chargingRateUnit"] == "A"
            # a connector charging on one phase: W = A x 230 x 1
            await rig.charge(1)
            await rig.wait_status(1, "Charging")
            await rig.station.submit(SetPhases(1, 1))
            await rig.settle(30)
            assert rig.station.snapshot(1).phases == 1 and rig.station.snapshot(1).substate is SubState.C2
            out = await rig.call("GetCompositeSchedule", {"connectorId": 1, "duration": 60, "chargingRateUnit": "W"})
            assert periods(out.payload)[0][1] == 2300.0

    vrun(main)


def test_power_profile_uses_the_phases_in_use(tmp_path):
    """A W TxDefault (6900 W) is 10 A per phase on three phases and 30 A on one phase."""

    async def main(clock):
        async with ScRig(clock, tmp_path) as rig:
            await rig.booted()
            assert (await rig.set_profile(1, profile(1, 0, "TxDefaultProfile", [(0, 6900)], unit="W"))
                    ).payload == {"status": "Accepted"}
            await rig.charge(1)
            await rig.wait_status(1, "Charging")
            await rig.settle(5)
            assert offered(rig) == 10.0 and rig.board.ev_current(1) == (10.0, 10.0, 10.0)
            await rig.station.submit(SetPhases(1, 1))
            await rig.settle(60)
            snap = rig.station.snapshot(1)
            assert snap.phases == 1 and snap.substate is SubState.C2
            assert snap.limits["ocpp"] == 30.0 and offered(rig) == 30.0

    vrun(main)


def test_limit_below_min_current_pauses_and_resumes(tmp_path):
    """4 A (< MinCurrent 6 A) pauses energy through C1 -> B1 (SuspendedEVSE); 8 A resumes it."""

    async def main(clock):
        async with ScRig(clock, tmp_path) as rig:
            await rig.booted()
            await rig.charge(1)
            await rig.wait_status(1, "Charging")
            now = await rig.on_second()
            d = profile(1, 0, "TxDefaultProfile", [(0, 4), (600, 8)], start=now)
            assert (await rig.set_profile(1, d)).payload == {"status": "Accepted"}
            await rig.wait_status(1, "SuspendedEVSE")
            await rig.settle(10)
            snap = rig.station.snapshot(1)
            assert snap.substate is SubState.B1 and not snap.contactor_c1 and rig.board.ev_current(1)[0] == 0.0
            await clock.sleep((now + timedelta(seconds=605) - clock.now()).total_seconds())
            await rig.wait_status(1, "Charging", timeout=30)
            await rig.settle(5)
            assert offered(rig) == 8.0 and rig.board.ev_current(1)[0] == 8.0

    vrun(main)


def test_profiles_persist_across_a_restart(tmp_path):
    """Profiles survive the process: a new station + client on the same data dir restores them and
    applies them; a TxProfile of the transaction the restart stopped (PowerLoss) is gone."""

    async def main(clock):
        csms = TestCsms(clock, http_port=None, console_log=False)
        await csms.start()
        try:
            async with ScRig(clock, tmp_path, csms=csms) as rig:
                await rig.booted()
                await rig.charge(1)
                tx = await rig.wait_tx_id(1)
                for c, d in ((0, profile(1, 0, "ChargePointMaxProfile", [(0, 20)])),
                             (1, profile(2, 0, "TxDefaultProfile", [(0, 12), (3600, 9)], kind="Recurring",
                                         recurrency="Daily", start=clock.now().replace(microsecond=0))),
                             (1, profile(3, 0, "TxProfile", [(0, 7)], tx=tx))):
                    assert (await rig.set_profile(c, d)).payload == {"status": "Accepted"}
                await rig.settle(3)
                assert offered(rig) == 7.0
                before = await rig.call("GetCompositeSchedule", {"connectorId": 1, "duration": 7200})
                rows = rig.ctx.store.db.execute(f"SELECT profile_id FROM {TABLE} ORDER BY profile_id").fetchall()
                assert [r[0] for r in rows] == [1, 2, 3]
            async with ScRig(clock, tmp_path, csms=csms) as rig:  # the "reboot"
                await rig.booted()
                assert [p.profile.id for p in rig.sc.engine.installed()] == [1, 2]
                await rig.charge(1)
                await rig.wait_status(1, "Charging")
                await rig.settle(5)
                assert offered(rig) == 12.0  # the restored TxDefault (the TxProfile died with its transaction)
                after = await rig.call("GetCompositeSchedule", {"connectorId": 1, "duration": 7200})
                assert periods(after.payload)[0] == (0, 12.0) and periods(before.payload)[0] == (0, 7.0)
                assert rig.calls("StopTransaction")[0].payload["reason"] == "PowerLoss"
        finally:
            await csms.stop()

    vrun(main)


def test_offline_profiles_keep_applying(tmp_path):
    """A boundary passing while the CSMS is unreachable is applied on time; a profile received before
    going offline keeps limiting."""

    async def main(clock):
        async with ScRig(clock, tmp_path) as rig:
            await rig.booted()
            await rig.charge(1)
            await rig.wait_status(1, "Charging")
            now = await rig.on_second()
            d = profile(1, 0, "TxDefaultProfile", [(0, 16), (600, 8)], start=now)
            assert (await rig.set_profile(1, d)).payload == {"status": "Accepted"}
            await rig.settle(5)
            await rig.csms.go_offline(3600)
            await clock.sleep((now + timedelta(seconds=610) - clock.now()).total_seconds())
            assert not rig.client.connected
            t8 = rig.recorder.first_time(now, lambda p: p.amps == 8.0)
            assert t8 is not None and abs((t8 - now).total_seconds() - 600) < 0.01
            assert rig.board.ev_current(1)[0] == 8.0

    vrun(main)


def test_meter_values_report_the_offered_current(tmp_path):
    async def main(clock):
        keys = {"MeterValuesSampledData": "Current.Offered,Current.Import", "MeterValueSampleInterval": "60"}
        async with ScRig(clock, tmp_path, keys=keys) as rig:
            await rig.booted()
            assert (await rig.set_profile(1, profile(1, 0, "TxDefaultProfile", [(0, 11.5)], kind="Relative"))
                    ).payload == {"status": "Accepted"}
            await rig.charge(1)
            frame = await rig.wait_call("MeterValues", timeout=120)
            values = {v["measurand"]: v for v in frame.payload["meterValue"][0]["sampledValue"]}
            assert float(values["Current.Offered"]["value"]) == 11.5
            assert values["Current.Offered"]["unit"] == "A"

    vrun(main)


def test_without_smart_charging_not_supported(tmp_path):
    async def main(clock):
        async with ScRig(clock, tmp_path) as rig:
            await rig.booted()
            rig.sc.stop()
            rig.ctx.smart_charging = None
            out = await rig.set_profile(1, profile(1, 0, "TxDefaultProfile", [(0, 16)]))
            assert out.status == "error" and out.error_code == "NotSupported"

    vrun(main)


def test_station_cap_is_shared_between_connectors(tmp_path):
    """ChargePointMaxProfile 20 A on connector 0: one EV gets 20 A, two share 10 A + 10 A, and when one
    leaves the other gets 20 A again; the sum offered to charging EVs never exceeds the cap and the
    second EV's start is not turned into a pause (no SuspendedEVSE)."""

    async def main(clock):
        async with ScRig(clock, tmp_path, connectors=2) as rig:
            await rig.booted()
            assert (await rig.set_profile(0, profile(1, 0, "ChargePointMaxProfile", [(0, 20)]))
                    ).payload == {"status": "Accepted"}
            await rig.charge(1, "TAG1")
            await rig.wait_status(1, "Charging")
            await rig.settle(5)
            assert offered(rig, 1) == 20.0 and rig.board.ev_current(1)[0] == 20.0
            await rig.charge(2, "TAG2")
            await rig.wait_status(2, "Charging")
            await rig.settle(5)
            assert offered(rig, 1) == 10.0 and offered(rig, 2) == 10.0
            assert rig.board.ev_current(1)[0] + rig.board.ev_current(2)[0] == 20.0
            assert "SuspendedEVSE" not in rig.statuses(2)
            rig.board.unplug(1)
            await rig.wait_call("StopTransaction")
            await rig.settle(5)
            assert offered(rig, 2) == 20.0 and rig.board.ev_current(2)[0] == 20.0
            # never more than the cap drawn in total (sampled at every meter reading)
            for m in rig.recorder.meters:
                other = 3 - m.connector
                assert m.amps + rig.recorder.drawn_at(m.time, other) <= 20.0 + 1e-9, m

    vrun(main)


@pytest.mark.parametrize("correction_s", [-100.0, 100.0])
def test_boundary_follows_wall_clock_corrections(tmp_path, correction_s):
    """Boundaries are wall instants: when the wall clock is corrected (Heartbeat currentTime) after the
    timer was armed, the change still happens at the boundary's wall time (not 100 s early/late)."""

    async def main(clock):
        async with ScRig(clock, tmp_path) as rig:
            await rig.booted()
            await rig.charge(1)
            await rig.wait_status(1, "Charging")
            now = await rig.on_second()
            boundary = now + timedelta(seconds=600)
            d = profile(1, 0, "TxDefaultProfile", [(0, 16), (600, 8)], start=now)
            assert (await rig.set_profile(1, d)).payload == {"status": "Accepted"}
            await rig.settle(10)
            clock.set_wall_offset(clock.wall_offset + correction_s)
            await clock.sleep(700)
            t8 = rig.recorder.first_time(now, lambda p: p.amps == 8.0)
            assert t8 is not None and abs((t8 - boundary).total_seconds()) <= 1.5, (t8, boundary)

    vrun(main)
