"""End to end over a real pty (pymodbus master <-> pymodbus node servers), real time: three nodes,
a StartTransaction per connector, a ChargePointMaxProfile of 32 A split across them, one unplugged."""

from __future__ import annotations

from chargepoint.clock import RealClock
from tests.rs485.rig import Rs485Rig


def test_three_nodes_over_pty_with_charge_point_max_profile(tmp_path):
    out: dict[str, object] = {}

    async def session(clock: RealClock) -> None:
        async with Rs485Rig(clock, tmp_path, pty=True, energy={"max_mains_a": 100, "max_circuit_a": 160}) as rig:
            assert rig.csms is not None
            txs = [await rig.start_charging(c, f"TAG{c}") for c in (1, 2, 3)]
            profile = {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "ChargePointMaxProfile",
                       "chargingProfileKind": "Absolute", "chargingSchedule": {
                           "chargingRateUnit": "A", "startSchedule": "2020-01-01T00:00:00Z",
                           "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32}]}}
            assert await rig.call("SetChargingProfile", {"connectorId": 0, "csChargingProfiles": profile}) == {
                "status": "Accepted"}
            await clock.sleep(8)
            last = rig.bus.log.broadcasts[-1]
            out["split"] = [last[1][a - 1] for a in rig.addresses]
            out["charging"] = last[2]
            mark = len(rig.csms.frames)
            rig.bus.unplug(rig.addresses[2])
            stop = await rig.csms.wait_for_frame(lambda f: f.action == "StopTransaction" and f.message_type == "CALL",
                                                 20, start=mark)
            out["stopped"] = stop.payload["transactionId"]
            out["txs"] = txs
            await clock.sleep(6)
            last = rig.bus.log.broadcasts[-1]
            out["after"] = [last[1][a - 1] for a in rig.addresses]

    clock = RealClock()
    clock.run(session(clock))
    assert len(set(out["txs"])) == 3
    assert len(out["charging"]) == 3, out
    assert sum(out["split"]) <= 320, out["split"]
    assert all(v >= 60 for v in out["split"]), out["split"]
    assert out["stopped"] == out["txs"][2]
    assert out["after"][2] == 0 and sum(out["after"]) <= 320, out["after"]
