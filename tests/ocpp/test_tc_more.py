"""OCTT 1.6 cases not covered elsewhere: TC_062 (DataTransfer to the charge point), TC_068/TC_069
(stop with the same idTag / an idTag of the same parent), TC_070/TC_071 (sampled and clock-aligned
meter values), TC_085 (Basic authentication, security profile 1), and errata 3.17 (a DeAuthorized
transaction keeps the cable locked until its owner returns).

The real charge point (sim board -> controller -> station -> OcppClient) against the real test CSMS
over loopback websockets, in virtual time."""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime

import pytest
from websockets.asyncio.server import serve

from chargepoint.csms import TestCsms
from chargepoint.ocpp.errors import parse_rfc3339
from tests.ocpp.session_rig import Rig, vrun

pytestmark = pytest.mark.usefixtures("ocpp_schema_check")

SAMPLED = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Current.Offered"
ALIGNED = "Energy.Active.Import.Register,Voltage"


def entry(tag: str, status: str = "Accepted", **info) -> dict:
    return {"idTag": tag, "idTagInfo": {"status": status, **info}}


async def start_with_card(rig: Rig, tag: str = "TAG1") -> int:
    """Booted CP, EV plugged, card presented: the transaction runs; returns its CSMS transactionId."""
    await rig.booted()
    rig.board.plug(1)
    rig.board.present_rfid(tag, 1)
    await rig.wait_call("StartTransaction")
    await rig.wait_status(1, "Charging", timeout=30)
    await rig.settle(2)
    tx = rig.ctx.transactions.active(1)
    assert tx is not None and tx.transaction_id is not None
    return tx.transaction_id


def meter_values(rig: Rig, context: str, start: int = 0) -> list:
    """MeterValues CALLs (after frame ``start``) whose sampled values all have ``context``."""
    out = []
    for f in rig.calls("MeterValues"):
        if f.seq < start:
            continue
        contexts = {sv.get("context") for mv in f.payload["meterValue"] for sv in mv["sampledValue"]}
        if contexts == {context}:
            out.append(f)
    return out


def measurands(frame) -> set[str]:
    return {sv["measurand"] for mv in frame.payload["meterValue"] for sv in mv["sampledValue"]}


def stamp(frame) -> datetime:
    return parse_rfc3339(frame.payload["meterValue"][0]["timestamp"])


# --------------------------------------------------------------------------------- TC_062
def test_tc_062_data_transfer_to_the_charge_point(tmp_path):
    """TC_062: the CSMS sends DataTransfer to the CP.  A vendorId the CP does not know is answered
    UnknownVendorId; a known vendor with a messageId it does not implement is answered
    UnknownMessageId (also when messageId is absent); an implemented message gets its handler's answer."""

    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            out = await rig.call("DataTransfer", {"vendorId": "com.unknown.vendor", "messageId": "Hello",
                                                  "data": "x"})
            assert out.status == "result" and out.payload == {"status": "UnknownVendorId"}
            received: list[str | None] = []

            def echo(data: str | None) -> tuple[str, str | None]:
                received.append(data)
                return "Accepted", (data or "").upper()

            rig.ctx.data_transfer["org.smartevse"] = {"Echo": echo}
            out = await rig.call("DataTransfer", {"vendorId": "org.smartevse", "messageId": "NoSuchMessage",
                                                  "data": "x"})
            assert out.payload == {"status": "UnknownMessageId"}
            out = await rig.call("DataTransfer", {"vendorId": "org.smartevse"})
            assert out.payload == {"status": "UnknownMessageId"}
            assert received == []
            out = await rig.call("DataTransfer", {"vendorId": "org.smartevse", "messageId": "Echo", "data": "hi"})
            assert out.payload == {"status": "Accepted", "data": "HI"}
            assert received == ["hi"]
            # the vendor id is matched exactly (OCPP identifierString, case-sensitive)
            out = await rig.call("DataTransfer", {"vendorId": "ORG.SMARTEVSE", "messageId": "Echo"})
            assert out.payload == {"status": "UnknownVendorId"}
            assert rig.csms.violations == []

    vrun(main)


# --------------------------------------------------------------------------------- TC_068
def test_tc_068_stop_with_the_same_id_tag(tmp_path):
    """TC_068: a transaction started with an RFID card is stopped by presenting the same card: the CP
    sends StopTransaction with reason Local and that idTag, without another Authorize (the same idTag
    may always stop its own transaction)."""

    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            tx_id = await start_with_card(rig, "TAG1")
            assert [f.payload for f in rig.calls("Authorize")] == [{"idTag": "TAG1"}]
            await rig.settle(30)
            m = rig.mark()
            rig.board.present_rfid("TAG1", 1)
            stop = await rig.wait_call("StopTransaction", start=m)
            assert stop.payload["reason"] == "Local"
            assert stop.payload["idTag"] == "TAG1" and stop.payload["transactionId"] == tx_id
            assert len(rig.calls("Authorize")) == 1  # no Authorize for the stop
            await rig.wait_status(1, "Finishing", timeout=30, start=m)
            assert rig.ctx.transactions.active(1) is None
            assert not rig.station.snapshot(1).authorized
            assert len(rig.calls("StopTransaction")) == 1

    vrun(main)


# --------------------------------------------------------------------------------- TC_069
def test_tc_069_stop_with_an_id_tag_of_the_same_parent(tmp_path):
    """TC_069: TAG1 and TAG2 share parentIdTag PARENT (local authorisation list).  A transaction started
    with TAG1 is not stopped by a card of another group (OTHER, parent ELSEWHERE) but is stopped by
    TAG2: StopTransaction reason Local with idTag TAG2."""

    async def main(clock):
        async with Rig(clock, tmp_path, keys={"LocalPreAuthorize": "true"}) as rig:
            await rig.booted()
            out = await rig.call("SendLocalList", {"listVersion": 3, "updateType": "Full", "localAuthorizationList": [
                entry("TAG1", parentIdTag="PARENT"), entry("TAG2", parentIdTag="PARENT"),
                entry("OTHER", parentIdTag="ELSEWHERE")]})
            assert out.payload == {"status": "Accepted"}
            rig.board.plug(1)
            rig.board.present_rfid("TAG1", 1)
            start = await rig.wait_call("StartTransaction")
            assert start.payload["idTag"] == "TAG1"
            await rig.wait_status(1, "Charging", timeout=30)
            await rig.settle(2)
            tx_id = rig.ctx.transactions.active(1).transaction_id
            rig.board.present_rfid("OTHER", 1)
            await rig.settle(10)
            assert rig.calls("StopTransaction") == []
            assert rig.ctx.transactions.active(1) is not None and rig.station.snapshot(1).authorized
            m = rig.mark()
            rig.board.present_rfid("TAG2", 1)
            stop = await rig.wait_call("StopTransaction", start=m)
            assert stop.payload["reason"] == "Local"
            assert stop.payload["idTag"] == "TAG2" and stop.payload["transactionId"] == tx_id
            assert rig.calls("Authorize") == []  # all three known from the local list
            await rig.wait_status(1, "Finishing", timeout=30, start=m)
            assert len(rig.calls("StopTransaction")) == 1

    vrun(main)


# --------------------------------------------------------------------------------- TC_070
def test_tc_070_sampled_meter_values(tmp_path):
    """TC_070: with MeterValueSampleInterval = 30 s during a transaction the CP sends MeterValues every
    30 s from the transaction start, with exactly the MeterValuesSampledData measurands, context
    Sample.Periodic and the transactionId.  Setting the interval to 0 stops them."""

    async def main(clock):
        async with Rig(clock, tmp_path, keys={"MeterValuesSampledData": SAMPLED,
                                              "MeterValueSampleInterval": "30"}) as rig:
            await rig.booted()
            rig.board.plug(1)
            rig.board.present_rfid("TAG1", 1)
            start = await rig.wait_call("StartTransaction")
            t0 = parse_rfc3339(start.payload["timestamp"])
            await rig.settle(100)
            tx_id = rig.ctx.transactions.active(1).transaction_id
            periodic = meter_values(rig, "Sample.Periodic")
            assert len(periodic) == 3  # at +30, +60, +90 s
            assert meter_values(rig, "Sample.Clock") == []  # ClockAlignedDataInterval is 0
            for k, f in enumerate(periodic, start=1):
                assert f.payload["connectorId"] == 1 and f.payload["transactionId"] == tx_id
                assert measurands(f) == set(SAMPLED.split(","))
                assert abs((stamp(f) - t0).total_seconds() - 30 * k) < 0.01
            gaps = [(b.time - a.time).total_seconds() for a, b in itertools.pairwise(periodic)]
            assert all(abs(g - 30) < 0.5 for g in gaps)
            out = await rig.call("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "0"})
            assert out.payload == {"status": "Accepted"}
            m = rig.mark()
            await rig.settle(90)
            assert meter_values(rig, "Sample.Periodic", start=m) == []
            # a new interval applies at once, still counted from the transaction start
            out = await rig.call("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "20"})
            assert out.payload == {"status": "Accepted"}
            m = rig.mark()
            await rig.settle(50)
            again = meter_values(rig, "Sample.Periodic", start=m)
            assert len(again) in (2, 3)
            for f in again:
                offset = (stamp(f) - t0).total_seconds()
                assert abs(offset / 20 - round(offset / 20)) < 0.001, offset
            assert rig.csms.violations == []

    vrun(main)


# --------------------------------------------------------------------------------- TC_071
def test_tc_071_clock_aligned_meter_values(tmp_path):
    """TC_071: with ClockAlignedDataInterval = 60 s the CP sends MeterValues at wall-clock multiples of
    60 s since 00:00 UTC, with the MeterValuesAlignedData measurands and context Sample.Clock.  Idle,
    they carry no transactionId; during a transaction they carry its transactionId (errata 3.16)."""

    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            for key, value in (("MeterValuesAlignedData", ALIGNED), ("ClockAlignedDataInterval", "60")):
                out = await rig.call("ChangeConfiguration", {"key": key, "value": value})
                assert out.payload == {"status": "Accepted"}
            await rig.settle(150)
            idle = [f for f in meter_values(rig, "Sample.Clock") if f.payload["connectorId"] == 1]
            assert len(idle) in (2, 3)
            assert all("transactionId" not in f.payload for f in idle)
            m = rig.mark()
            tx_id = await start_with_card(rig, "TAG1")
            await rig.settle(150)
            during = [f for f in meter_values(rig, "Sample.Clock", start=m) if f.payload["connectorId"] == 1]
            assert len(during) in (2, 3)
            assert all(f.payload["transactionId"] == tx_id for f in during)
            for f in idle + during:
                ts = stamp(f)
                midnight = ts.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
                assert (ts - midnight).total_seconds() % 60 == 0, ts
                assert measurands(f) == set(ALIGNED.split(","))
            stamps = [stamp(f) for f in idle + during]
            assert len(set(stamps)) == len(stamps)  # one per boundary
            assert meter_values(rig, "Sample.Periodic") == []  # MeterValueSampleInterval is 0
            # connector 0 (the mains meter), when there is one, never carries a transactionId
            assert all("transactionId" not in f.payload for f in meter_values(rig, "Sample.Clock")
                       if f.payload["connectorId"] == 0)
            assert rig.csms.violations == []

    vrun(main)


# --------------------------------------------------------------------------------- TC_085
KEY = bytes(range(0x30, 0x44))  # 20 bytes
WRONG = bytes(range(0x60, 0x74))


def test_tc_085_basic_authentication_valid_credentials(tmp_path):
    """TC_085: security profile 1.  The CSMS requires HTTP Basic auth for the CP identity; the CP opens
    the websocket with user = its identity and password = the AuthorizationKey and boots.  With a wrong
    key the CSMS answers 401 and the CP keeps retrying with a growing delay (no crash, no frame sent)."""

    async def main(clock):
        # wrong key: a real websocket server that refuses with 401 and records each attempt
        attempts: list[tuple[float, str | None]] = []

        def refuse(connection, request):
            attempts.append((clock.monotonic(), request.headers.get("Authorization")))
            return connection.respond(401, "basic authentication required\n")

        async def handler(ws):  # never reached
            raise AssertionError("a refused connection must not be served")

        server = await serve(handler, "127.0.0.1", 0, process_request=refuse)
        port = next(iter(server.sockets)).getsockname()[1]
        try:
            async with Rig(clock, tmp_path / "wrong", start_client=False,
                           options={"csms_url": f"ws://127.0.0.1:{port}/ocpp", "security_profile": 1,
                                    "password_hex": WRONG.hex()}) as rig:
                await rig.start()
                await rig.settle(60)
                assert rig.task is not None and not rig.task.done()  # still running
                assert "401" in (rig.client.last_error or "")
                assert len(attempts) >= 4
                for _, header in attempts:
                    assert header is not None and header.startswith("Basic ")
                    assert base64.b64decode(header[6:]) == b"CP-1:" + WRONG
                gaps = [b[0] - a[0] for a, b in itertools.pairwise(attempts)]
                assert all(g >= 0.5 for g in gaps)  # backoff, not a tight loop
                assert gaps[-1] > gaps[0]  # growing (min 1 s, factor, jitter)
                assert max(gaps) <= 10.0 * 1.3  # capped at reconnect_max_s (+ jitter)
                await rig.stop_client()
        finally:
            server.close()
            await server.wait_closed()

        # valid credentials: the test CSMS checks the Basic header for CP-1
        csms = TestCsms(clock, http_port=None, console_log=False, passwords={"CP-1": KEY})
        await csms.start()
        try:
            async with Rig(clock, tmp_path / "valid", csms=csms, start_client=False,
                           options={"security_profile": 1, "password_hex": KEY.hex()}) as rig:
                await rig.start()
                boot = await rig.wait_call("BootNotification", timeout=30)
                assert boot.payload["chargePointSerialNumber"] == "SN-1"
                await rig.booted()
                assert rig.client.connections == 1  # accepted on the first attempt
                out = await rig.call("GetConfiguration", {"key": ["SecurityProfile"]})
                assert out.payload["configurationKey"][0]["value"] == "1"
                assert rig.csms.violations == []
        finally:
            await csms.stop()

    vrun(main)


# ------------------------------------------------------------------------ errata 3.17
async def deauthorized_session(rig: Rig, tag: str) -> None:
    """``tag`` starts a transaction the CSMS then refuses in StartTransaction.conf: StopTransaction
    DeAuthorized follows."""
    rig.board.plug(1)
    rig.board.present_rfid(tag, 1)
    start = await rig.wait_call("StartTransaction")
    assert start.payload["idTag"] == tag
    stop = await rig.wait_call("StopTransaction", timeout=200)
    assert stop.payload["reason"] == "DeAuthorized"
    await rig.settle(2)
    assert rig.ctx.transactions.active(1) is None


def test_deauthorized_keeps_the_cable_locked_until_the_same_id_tag(tmp_path):
    """Errata 3.17: StartTransaction.conf Invalid with StopTransactionOnInvalidId=true -> StopTransaction
    DeAuthorized, energy off, but the cable stays locked (also after the EV unplugs) until the same
    idTag is presented again; another card does not unlock it."""

    async def main(clock):
        async with Rig(clock, tmp_path, keys={"LocalPreAuthorize": "true"}) as rig:
            await rig.booted()
            # the local list lets STOLEN start at once; the CSMS no longer knows it
            await rig.call("SendLocalList", {"listVersion": 1, "updateType": "Full",
                                             "localAuthorizationList": [entry("STOLEN"), entry("OTHER")]})
            rig.csms.behaviour.whitelist = {"OTHER": "Accepted"}
            await deauthorized_session(rig, "STOLEN")
            snap = rig.station.snapshot(1)
            assert snap.locked and not snap.authorized and not snap.contactor_c1
            assert rig.board.ev_current(1) == (0.0, 0.0, 0.0)
            await rig.settle(60)
            assert rig.station.snapshot(1).locked
            m = rig.mark()
            rig.board.unplug(1)
            await rig.wait_status(1, "Available", timeout=30, start=m)
            await rig.settle(10)
            assert rig.station.snapshot(1).locked  # the cable stays in the socket, locked
            rig.board.present_rfid("OTHER", 1)
            await rig.settle(10)
            assert rig.station.snapshot(1).locked
            assert rig.ctx.transactions.held_lock(1) == ("STOLEN", None)
            n_auth = len(rig.calls("Authorize"))
            rig.board.present_rfid("STOLEN", 1)
            await rig.settle(5)
            assert not rig.station.snapshot(1).locked
            assert rig.ctx.transactions.held_lock(1) is None
            assert len(rig.calls("Authorize")) == n_auth  # the owner's card needs no authorisation
            assert rig.calls("StartTransaction")[-1].payload["idTag"] == "STOLEN"  # nothing new started
            assert len(rig.calls("StopTransaction")) == 1

    vrun(main)


def test_deauthorized_lock_released_by_an_id_tag_of_the_same_parent(tmp_path):
    """Errata 3.17 with a parentIdTag: KID (parent FAMILY) is DeAuthorized by the CSMS; NEIGHBOUR
    (parent STREET) cannot unlock the cable, MUM (parent FAMILY) can (after the EV left).  Then a fresh
    session with MUM locks and unlocks as usual."""

    async def main(clock):
        async with Rig(clock, tmp_path, keys={"LocalPreAuthorize": "true"}) as rig:
            await rig.booted()
            await rig.call("SendLocalList", {"listVersion": 1, "updateType": "Full", "localAuthorizationList": [
                entry("KID", parentIdTag="FAMILY"), entry("MUM", parentIdTag="FAMILY"),
                entry("NEIGHBOUR", parentIdTag="STREET")]})
            rig.csms.behaviour.whitelist = {"MUM": "Accepted", "NEIGHBOUR": "Accepted"}
            await deauthorized_session(rig, "KID")
            assert rig.station.snapshot(1).locked
            m = rig.mark()
            rig.board.unplug(1)
            await rig.wait_status(1, "Available", timeout=30, start=m)
            rig.board.present_rfid("NEIGHBOUR", 1)
            await rig.settle(10)
            assert rig.station.snapshot(1).locked and rig.ctx.transactions.held_lock(1) == ("KID", "FAMILY")
            rig.board.present_rfid("NEIGHBOUR", 1)  # again: cancels NEIGHBOUR's own authorisation
            await rig.settle(2)
            rig.board.present_rfid("MUM", 1)
            await rig.settle(5)
            assert rig.ctx.transactions.held_lock(1) is None
            assert not rig.station.snapshot(1).locked
            assert rig.ctx.transactions.pending(1) is None  # MUM's card only released the hold
            assert len(rig.calls("StopTransaction")) == 1
            # a new session locks and unlocks as usual
            rig.board.plug(1)
            rig.board.present_rfid("MUM", 1)
            await rig.wait_status(1, "Charging", timeout=30, start=m)
            assert rig.station.snapshot(1).locked
            rig.board.present_rfid("MUM", 1)
            stop = await rig.wait_call("StopTransaction", start=m)
            assert stop.payload["reason"] == "Local"
            await rig.settle(10)
            assert not rig.station.snapshot(1).locked and rig.ctx.transactions.held_lock(1) is None

    vrun(main)


def test_unlock_connector_ends_a_deauthorized_lock_hold(tmp_path):
    """UnlockConnector (operator) unlocks a cable held after DeAuthorized and forgets the hold."""

    async def main(clock):
        async with Rig(clock, tmp_path, keys={"LocalPreAuthorize": "true"}) as rig:
            await rig.booted()
            await rig.call("SendLocalList", {"listVersion": 1, "updateType": "Full",
                                             "localAuthorizationList": [entry("STOLEN")]})
            rig.csms.behaviour.whitelist = {}
            await deauthorized_session(rig, "STOLEN")
            assert rig.station.snapshot(1).locked
            out = await rig.call("UnlockConnector", {"connectorId": 1})
            assert out.payload == {"status": "Unlocked"}
            assert rig.ctx.transactions.held_lock(1) is None
            await rig.settle(10)
            assert not rig.station.snapshot(1).locked

    vrun(main)
