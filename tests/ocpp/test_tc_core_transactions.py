"""OCTT core cases about charging sessions: TC_003, TC_004_1/2, TC_005_1/2/3, TC_007, TC_010,
TC_011_1/2, TC_012, TC_023, TC_026, TC_027, TC_028."""

from __future__ import annotations

import pytest

from tests.ocpp.session_rig import Rig, vrun

pytestmark = pytest.mark.usefixtures("ocpp_schema_check")

SAMPLED = {"MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Current.Offered"}


def seq(rig: Rig, connector: int = 1) -> list[str]:
    out: list[str] = []
    for s in rig.statuses(connector):
        if not out or out[-1] != s:
            out.append(s)
    return out


def test_tc_003_plugin_first(tmp_path):
    """TC_003: plug -> Preparing, card -> Authorize + StartTransaction -> Charging, meter values,
    card again -> StopTransaction(Local) -> Finishing, unplug -> Available."""

    async def main(clock):
        async with Rig(clock, tmp_path, keys={**SAMPLED, "MeterValueSampleInterval": "60"}) as rig:
            await rig.booted()
            rig.board.plug(1)
            await rig.wait_status(1, "Preparing")
            rig.board.present_rfid("TAG1", 1)
            start = await rig.wait_call("StartTransaction")
            assert start.payload["idTag"] == "TAG1" and start.payload["connectorId"] == 1
            assert rig.calls("Authorize")[0].payload == {"idTag": "TAG1"}
            await rig.wait_status(1, "Charging", timeout=30)
            mv = await rig.wait_call("MeterValues", timeout=200)
            assert mv.payload["transactionId"] == 1
            measurands = {sv["measurand"] for sv in mv.payload["meterValue"][0]["sampledValue"]}
            assert measurands == {"Energy.Active.Import.Register", "Power.Active.Import", "Current.Import",
                                  "Current.Offered"}
            offered = [sv for sv in mv.payload["meterValue"][0]["sampledValue"] if sv["measurand"] == "Current.Offered"]
            assert float(offered[0]["value"]) == rig.station.snapshot(1).offered_current_a
            await rig.settle(600)
            rig.board.present_rfid("TAG1", 1)
            stop = await rig.wait_call("StopTransaction")
            assert stop.payload["reason"] == "Local" and stop.payload["transactionId"] == 1
            assert stop.payload["meterStop"] > start.payload["meterStart"]
            await rig.wait_status(1, "Finishing", timeout=30)
            m = rig.mark()
            rig.board.unplug(1)
            await rig.wait_status(1, "Available", timeout=30, start=m)
            # SuspendedEV for the ~1 s until the EV draws (PWM offered, no current) is correct
            assert [s for s in seq(rig) if s != "SuspendedEV"] == ["Available", "Preparing", "Charging", "Finishing",
                                                                     "Available"]
            n_mv = len(rig.calls("MeterValues"))
            assert 9 <= n_mv <= 12  # every 60 s for ~10 min
            assert rig.csms.violations == []

    vrun(main)


def test_tc_004_1_identification_first(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            rig.board.present_rfid("TAG1", 1)
            await rig.wait_status(1, "Preparing")
            await rig.settle(10)
            assert rig.calls("StartTransaction") == []
            rig.board.plug(1)
            await rig.wait_call("StartTransaction")
            await rig.wait_status(1, "Charging", timeout=30)

    vrun(main)


def test_tc_004_2_connection_timeout(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path, keys={"ConnectionTimeOut": "30"}) as rig:
            await rig.booted()
            rig.board.present_rfid("TAG1", 1)
            await rig.wait_status(1, "Preparing")
            await rig.wait_status(1, "Available", timeout=40, start=rig.mark())
            rig.board.plug(1)
            await rig.settle(10)
            assert rig.calls("StartTransaction") == []
            assert seq(rig)[-1] == "Preparing"

    vrun(main)


async def charging(rig: Rig, tag: str = "TAG1") -> int:
    await rig.booted()
    rig.board.plug(1)
    rig.board.present_rfid(tag, 1)
    await rig.wait_call("StartTransaction")
    await rig.wait_status(1, "Charging", timeout=30)
    await rig.settle(2)
    return rig.ctx.transactions.active(1).transaction_id


def test_tc_005_1_ev_side_disconnect_stops(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await charging(rig)
            m = rig.mark()
            rig.board.unplug(1)
            stop = await rig.wait_call("StopTransaction")
            assert stop.payload["reason"] == "EVDisconnected"
            await rig.wait_status(1, "Available", timeout=30, start=m)
            assert "Finishing" not in seq(rig)[-2:]

    vrun(main)


def test_tc_005_3_ev_side_disconnect_keeps_transaction(tmp_path):
    """StopTransactionOnEVSideDisconnect=false: SuspendedEV, the transaction goes on; plugging back
    resumes charging."""

    async def main(clock):
        async with Rig(clock, tmp_path, keys={"StopTransactionOnEVSideDisconnect": "false"}) as rig:
            await charging(rig)
            m = rig.mark()
            rig.board.unplug(1)
            sn = await rig.wait_status(1, "SuspendedEV", timeout=30, start=m)
            assert sn.payload.get("info") == "EV side disconnected"
            await rig.settle(30)
            assert rig.calls("StopTransaction") == []
            assert rig.ctx.transactions.active(1) is not None

    vrun(main)


def test_tc_005_2_stop_key_changed_then_unplug(tmp_path):
    """ChangeConfiguration StopTransactionOnEVSideDisconnect=true during the session applies."""

    async def main(clock):
        async with Rig(clock, tmp_path, keys={"StopTransactionOnEVSideDisconnect": "false"}) as rig:
            await charging(rig)
            out = await rig.call("ChangeConfiguration", {"key": "StopTransactionOnEVSideDisconnect", "value": "true"})
            assert out.payload == {"status": "Accepted"}
            rig.board.unplug(1)
            stop = await rig.wait_call("StopTransaction")
            assert stop.payload["reason"] == "EVDisconnected"

    vrun(main)


def test_tc_007_cached_id_offline(tmp_path):
    """TC_007: an idTag accepted before is started from the cache while the CSMS is unreachable."""

    async def main(clock):
        async with Rig(clock, tmp_path, keys={"LocalAuthorizeOffline": "true"}) as rig:
            await charging(rig, "CACHED")
            rig.board.present_rfid("CACHED", 1)
            await rig.wait_call("StopTransaction")
            m = rig.mark()
            rig.board.unplug(1)
            await rig.wait_status(1, "Available", timeout=30, start=m)
            n_start = len(rig.calls("StartTransaction"))
            await rig.csms.go_offline(100)
            await rig.settle(1)
            rig.board.plug(1)
            rig.board.present_rfid("CACHED", 1)
            await rig.settle(5)
            assert rig.ctx.transactions.active(1) is not None  # started offline
            m = rig.mark()
            await rig.wait_call("StartTransaction", timeout=200, start=m)
            assert len(rig.calls("StartTransaction")) == n_start + 1

    vrun(main)


def test_tc_010_remote_start_cable_first(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            rig.board.plug(1)
            await rig.wait_status(1, "Preparing")
            out = await rig.call("RemoteStartTransaction", {"idTag": "REMOTE", "connectorId": 1})
            assert out.payload == {"status": "Accepted"}
            start = await rig.wait_call("StartTransaction")
            assert start.payload["idTag"] == "REMOTE"
            await rig.wait_status(1, "Charging", timeout=30)
            assert rig.calls("Authorize") == []  # AuthorizeRemoteTxRequests=false

    vrun(main)


def test_tc_011_1_remote_start_first_with_authorize(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path, keys={"AuthorizeRemoteTxRequests": "true"}) as rig:
            await rig.booted()
            out = await rig.call("RemoteStartTransaction", {"idTag": "REMOTE"})
            assert out.payload == {"status": "Accepted"}
            await rig.wait_call("Authorize")
            await rig.wait_status(1, "Preparing")
            rig.board.plug(1)
            await rig.wait_call("StartTransaction")
            await rig.wait_status(1, "Charging", timeout=30)
            # the reply came before the Authorize request
            frames = rig.csms.frames
            i_reply = next(i for i, f in enumerate(frames) if f.action == "RemoteStartTransaction"
                           and f.message_type == "CALLRESULT")
            i_auth = next(i for i, f in enumerate(frames) if f.action == "Authorize")
            assert i_reply < i_auth

    vrun(main)


def test_tc_011_2_remote_start_timeout(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path, keys={"ConnectionTimeOut": "20"}) as rig:
            await rig.booted()
            out = await rig.call("RemoteStartTransaction", {"idTag": "REMOTE", "connectorId": 1})
            assert out.payload == {"status": "Accepted"}
            await rig.wait_status(1, "Preparing")
            await rig.wait_status(1, "Available", timeout=30, start=rig.mark())
            assert rig.calls("StartTransaction") == []

    vrun(main)


def test_tc_012_remote_stop(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            tx = await charging(rig)
            out = await rig.call("RemoteStopTransaction", {"transactionId": tx})
            assert out.payload == {"status": "Accepted"}
            stop = await rig.wait_call("StopTransaction")
            assert stop.payload["reason"] == "Remote" and stop.payload["transactionId"] == tx
            await rig.wait_status(1, "Finishing", timeout=30)

    vrun(main)


@pytest.mark.parametrize("status", ["Invalid", "Blocked", "Expired"])
def test_tc_023_authorize_not_accepted(tmp_path, status):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            rig.csms.behaviour.whitelist = {"BAD": status}
            await rig.booted()
            rig.board.plug(1)
            rig.board.present_rfid("BAD", 1)
            await rig.wait_call("Authorize")
            await rig.settle(10)
            assert rig.calls("StartTransaction") == []
            assert not rig.station.snapshot(1).authorized

    vrun(main)


def test_start_transaction_conf_invalid_deauthorizes(tmp_path):
    """StartTransaction.conf not Accepted + StopTransactionOnInvalidId -> StopTransaction DeAuthorized."""

    async def main(clock):
        async with Rig(clock, tmp_path, keys={"AllowOfflineTxForUnknownId": "true", "LocalAuthorizeOffline": "true"}) as rig:
            await rig.booted()
            rig.csms.behaviour.whitelist = {"OTHER": "Accepted"}
            await rig.csms.go_offline(30)
            await rig.settle(1)
            rig.board.plug(1)
            rig.board.present_rfid("UNKNOWN", 1)  # unknown offline -> allowed
            await rig.settle(5)
            assert rig.ctx.transactions.active(1) is not None
            stop = await rig.wait_call("StopTransaction", timeout=200)
            assert stop.payload["reason"] == "DeAuthorized"
            assert stop.payload["transactionId"] == 1  # the id the CSMS gave, patched in

    vrun(main)


def test_tc_026_remote_start_rejected_busy(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await charging(rig)
            out = await rig.call("RemoteStartTransaction", {"idTag": "X", "connectorId": 1})
            assert out.payload == {"status": "Rejected"}

    vrun(main)


def test_tc_027_remote_start_connector_zero(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            out = await rig.call("RemoteStartTransaction", {"idTag": "X", "connectorId": 0})
            assert out.payload == {"status": "Rejected"}
            out = await rig.call("RemoteStartTransaction", {"idTag": "X", "connectorId": 7})
            assert out.payload == {"status": "Rejected"}

    vrun(main)


def test_tc_028_remote_stop_unknown(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await charging(rig)
            out = await rig.call("RemoteStopTransaction", {"transactionId": 999})
            assert out.payload == {"status": "Rejected"}

    vrun(main)


def test_remote_start_with_charging_profile_limits_current(tmp_path):
    """RemoteStartTransaction.chargingProfile (TxProfile, no transactionId) is handed to smart charging
    and bounds what the pilot offers; a profile with another purpose is Rejected."""

    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            bad = {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
                   "chargingProfileKind": "Relative",
                   "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0,
                                                                                              "limit": 10.0}]}}
            out = await rig.call("RemoteStartTransaction", {"idTag": "R", "connectorId": 1, "chargingProfile": bad})
            assert out.payload == {"status": "Rejected"}
            good = dict(bad, chargingProfilePurpose="TxProfile")
            out = await rig.call("RemoteStartTransaction", {"idTag": "R", "connectorId": 1, "chargingProfile": good})
            assert out.payload == {"status": "Accepted"}
            rig.board.plug(1)
            await rig.wait_call("StartTransaction")
            await rig.wait_status(1, "Charging", timeout=30)
            await rig.settle(5)
            assert rig.station.snapshot(1).offered_current_a == pytest.approx(10.0)

    vrun(main)
