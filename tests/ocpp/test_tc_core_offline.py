"""OCTT cases about offline behaviour and the outbox: TC_032 (power loss), TC_036..TC_039
(connection loss, offline start/stop/transaction), retries, id patching, late/duplicate answers,
clock-aligned and stop-transaction meter data."""

from __future__ import annotations

import itertools

import pytest

from chargepoint.csms import ForcedError
from chargepoint.ocpp.errors import parse_rfc3339
from tests.ocpp.session_rig import Rig, vrun
from tests.ocpp.test_tc_core_transactions import charging

pytestmark = pytest.mark.usefixtures("ocpp_schema_check")


def test_tc_036_connection_loss_during_transaction(tmp_path):
    """Meter values sampled while offline are delivered after reconnect, in order, before the stop."""

    async def main(clock):
        async with Rig(clock, tmp_path, keys={"MeterValueSampleInterval": "10"}) as rig:
            tx = await charging(rig)
            await rig.csms.go_offline(95)
            await rig.settle(60)
            rig.board.present_rfid("TAG1", 1)  # stop while offline
            await rig.settle(5)
            stop = await rig.wait_call("StopTransaction", timeout=200)
            mvs = rig.calls("MeterValues")
            assert len(mvs) >= 5  # every 10 s during the ~60 s before the stop
            assert all(f.payload["transactionId"] == tx for f in mvs)
            assert mvs[-1].seq < stop.seq
            stamps = [f.payload["meterValue"][0]["timestamp"] for f in mvs]
            assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
            assert stop.payload["reason"] == "Local" and stop.payload["transactionId"] == tx
            assert len(rig.calls("BootNotification")) == 1

    vrun(main)


def test_tc_038_offline_stop_transaction(tmp_path):
    """TC_038: the connection is lost, the transaction stops while offline (EV unplugged); the CP
    queues the StopTransaction with the time the transaction really stopped and delivers it once the
    connection is back; the connector is Available meanwhile."""

    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            tx = await charging(rig)
            await rig.csms.go_offline(120)
            await rig.settle(20)
            stopped_at = clock.now()
            rig.board.unplug(1)
            await rig.settle(5)
            assert rig.calls("StopTransaction") == []  # offline: queued, not lost
            stop = await rig.wait_call("StopTransaction", timeout=300)
            assert (stop.time - stopped_at).total_seconds() >= 90  # delivered after the reconnect
            sent_stamp = parse_rfc3339(stop.payload["timestamp"])
            assert abs((sent_stamp - stopped_at).total_seconds()) < 2  # ... stamped when it happened
            assert stop.payload["transactionId"] == tx and stop.payload["reason"] == "EVDisconnected"
            await rig.wait_status(1, "Available")
            assert len(rig.calls("StopTransaction")) == 1

    vrun(main)


def test_tc_037_039_offline_transaction_id_patched(tmp_path):
    """A whole transaction offline: StartTransaction, MeterValues and StopTransaction are queued; the
    transactionId from the late StartTransaction.conf is patched into the queued ones."""

    async def main(clock):
        async with Rig(clock, tmp_path, keys={"MeterValueSampleInterval": "10", "AllowOfflineTxForUnknownId": "true"}) as rig:
            await rig.booted()
            rig.csms._tx_ids = iter(range(4711, 5000))  # a transactionId the CP cannot guess
            await rig.csms.go_offline(200)
            await rig.settle(1)
            rig.board.plug(1)
            rig.board.present_rfid("OFFLINE", 1)
            await rig.settle(60)
            rig.board.unplug(1)  # EV side stop, offline
            await rig.settle(5)
            assert rig.ctx.outbox.pending_transaction_messages() >= 3
            stop = await rig.wait_call("StopTransaction", timeout=300)
            start = rig.calls("StartTransaction")[0]
            assert start.seq < min(f.seq for f in rig.calls("MeterValues"))
            assert all(f.payload["transactionId"] == 4711 for f in rig.calls("MeterValues"))
            assert stop.payload["transactionId"] == 4711 and stop.payload["reason"] == "EVDisconnected"
            await rig.settle(1)
            assert rig.ctx.outbox.pending_transaction_messages() == 0

    vrun(main)


def test_transaction_message_retry_on_callerror(tmp_path):
    """CALLERROR -> retried after RetryInterval x attempts with a new unique id; dropped after
    TransactionMessageAttempts; the queue moves on."""

    async def main(clock):
        keys = {"TransactionMessageAttempts": "3", "TransactionMessageRetryInterval": "20"}
        async with Rig(clock, tmp_path, keys=keys) as rig:
            await rig.booted()
            rig.csms.behaviour.errors["StartTransaction"] = ForcedError("InternalError", 2)
            rig.board.plug(1)
            rig.board.present_rfid("TAG1", 1)
            await rig.wait_call("StartTransaction")
            await rig.settle(100)
            starts = rig.calls("StartTransaction")
            assert len(starts) == 3
            gaps = [(b.time - a.time).total_seconds() for a, b in itertools.pairwise(starts)]
            assert 19 <= gaps[0] <= 22 and 39 <= gaps[1] <= 42
            assert len({f.unique_id for f in starts}) == 3
            # all attempts fail -> dropped, later messages still go (with transactionId -1)
            rig.csms.behaviour.errors["StartTransaction"] = ForcedError("InternalError", 5)
            rig.board.present_rfid("TAG1", 1)
            await rig.wait_call("StopTransaction")
            m = rig.mark()
            rig.board.present_rfid("TAG2", 1)
            await rig.settle(1)
            rig.board.present_rfid("TAG2", 1)
            stop = await rig.wait_call("StopTransaction", start=m, timeout=200)
            assert stop.payload["transactionId"] == -1
            assert rig.ctx.outbox.stats.dropped == 1

    vrun(main)


def test_csms_never_answers_late_and_twice(tmp_path):
    """MessageTimeout bounds the wait; a late answer is ignored; the transaction message is resent with
    the same unique id; status messages overtake the transaction queue."""

    async def main(clock):
        async with Rig(clock, tmp_path, keys={"MessageTimeout": "10"}) as rig:
            await rig.booted()
            rig.csms.behaviour.delays["StartTransaction"] = 15  # later than MessageTimeout
            rig.board.plug(1)
            rig.board.present_rfid("TAG1", 1)
            await rig.wait_call("StartTransaction")
            await rig.settle(12)
            rig.csms.behaviour.delays.clear()
            await rig.settle(20)
            starts = rig.calls("StartTransaction")
            assert len(starts) == 2 and starts[0].unique_id == starts[1].unique_id
            assert rig.ctx.outbox.pending_transaction_messages() == 0
            assert rig.client.connections == 1

    vrun(main)


def _last_meter_wh(tmp_path):
    import sqlite3

    files = sorted(tmp_path.rglob("*.sqlite*")) + sorted(tmp_path.rglob("*.db"))
    path = next(f for f in files if f.suffix in (".sqlite", ".db", ".sqlite3"))
    with sqlite3.connect(path) as db:
        return db.execute("SELECT last_meter_wh FROM ocpp_transactions").fetchone()[0]


def test_tc_032_power_loss_stops_open_transaction(tmp_path):
    """The process dies during a transaction; on restart the transaction is stopped with PowerLoss and
    meterStop = the last persisted reading; exactly one StopTransaction."""

    async def main(clock):
        async with Rig(clock, tmp_path, keys={"MeterValueSampleInterval": "30"}) as rig:
            await charging(rig)
            await rig.settle(300)
            await rig.settle(3.5)  # between two 5 s persists
            energy_now = rig.station.latest_meter(1).energy_import_wh
            await rig.stop_client()  # no StopTransaction: like a power cut of the application
            assert rig.calls("StopTransaction") == []
            # a clean stop flushed the latest reading: nothing charged before the stop is lost
            persisted = _last_meter_wh(tmp_path)
            assert persisted == pytest.approx(energy_now, abs=1.0)
            m = rig.mark()
            await rig.start()
            stop = await rig.wait_call("StopTransaction", start=m)
            boot = next(f for f in rig.csms.frames[m:] if f.action == "BootNotification")
            assert boot.seq < stop.seq
            assert stop.payload["reason"] == "PowerLoss" and stop.payload["transactionId"] == 1
            assert stop.payload["meterStop"] == round(persisted)
            await rig.settle(1)  # the CALLRESULT reached the CP (else it is resent with the same unique id)
            await rig.stop_client()
            await rig.start()
            await rig.settle(10)
            assert len(rig.calls("StopTransaction")) == 1

    vrun(main)


def test_stop_txn_data_and_clock_aligned(tmp_path):
    async def main(clock):
        keys = {"StopTxnSampledData": "Energy.Active.Import.Register", "StopTxnAlignedData": "Power.Active.Import",
                "ClockAlignedDataInterval": "900", "MeterValuesAlignedData": "Energy.Active.Import.Register,Voltage"}
        async with Rig(clock, tmp_path, keys=keys) as rig:
            tx = await charging(rig)
            aligned = await rig.wait_call("MeterValues", timeout=1000)
            ts = aligned.payload["meterValue"][0]["timestamp"]
            assert ts.endswith(("00:00.000Z", "15:00.000Z", "30:00.000Z", "45:00.000Z"))
            assert aligned.payload["transactionId"] == tx
            ctxs = {sv["context"] for sv in aligned.payload["meterValue"][0]["sampledValue"]}
            assert ctxs == {"Sample.Clock"}
            rig.board.present_rfid("TAG1", 1)
            stop = await rig.wait_call("StopTransaction")
            data = stop.payload["transactionData"]
            contexts = [sv["context"] for mv in data for sv in mv["sampledValue"]]
            assert contexts.count("Transaction.Begin") == 2 and contexts.count("Transaction.End") == 2

    vrun(main)
