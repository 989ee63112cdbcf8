"""OCTT reservation cases (TC_046..TC_053) through the real charge point (sim board -> controller ->
station -> OcppClient) against the test CSMS, in virtual time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chargepoint.ocpp.errors import format_datetime
from tests.ocpp.session_rig import Rig, vrun

pytestmark = pytest.mark.usefixtures("ocpp_schema_check")


def reserve(rig: Rig, connector: int, id_tag: str, reservation_id: int, seconds: float = 3600,
            parent: str | None = None) -> dict:
    payload = {"connectorId": connector, "idTag": id_tag, "reservationId": reservation_id,
               "expiryDate": format_datetime(rig.clock.now() + timedelta(seconds=seconds))}
    if parent is not None:
        payload["parentIdTag"] = parent
    return payload


async def started(rig: Rig, id_tag: str, within: float = 60) -> dict:
    frame = await rig.wait_call("StartTransaction", lambda p: p["idTag"] == id_tag, within)
    return frame.payload


def test_tc_046_reserved_connector_local_start(tmp_path):
    """TC_046: ReserveNow -> Reserved; the reserved idTag starts locally; StartTransaction carries
    the reservationId and the reservation is gone."""

    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            out = await rig.call("ReserveNow", reserve(rig, 1, "TAG1", 11))
            assert out.payload == {"status": "Accepted"}
            await rig.wait_status(1, "Reserved")
            rig.board.present_rfid("TAG1", 1)
            await rig.settle(1)
            rig.board.plug(1)
            start = await started(rig, "TAG1")
            assert start["reservationId"] == 11 and start["connectorId"] == 1
            await rig.wait_status(1, "Charging")
            assert rig.ctx.reservations.all() == []
            assert rig.csms.violations == []

    vrun(main)


def test_tc_046_other_tag_cannot_use_the_reserved_connector(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            await rig.call("ReserveNow", reserve(rig, 1, "TAG1", 12))
            await rig.wait_status(1, "Reserved")
            rig.board.present_rfid("INTRUDER", 1)
            rig.board.plug(1)
            await rig.settle(30)
            assert rig.calls("StartTransaction") == []
            assert rig.ctx.reservations.reserved_for(1) is not None

    vrun(main)


def test_tc_047_reservation_expires(tmp_path):
    """TC_047: at expiryDate the reservation ends and the connector is Available again."""

    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            await rig.call("ReserveNow", reserve(rig, 1, "TAG1", 13, seconds=120))
            reserved = await rig.wait_status(1, "Reserved")
            available = await rig.wait_call(
                "StatusNotification", lambda p: p["connectorId"] == 1 and p["status"] == "Available",
                timeout=300, start=reserved.seq)
            assert 115 <= (available.time - reserved.time).total_seconds() <= 125
            assert rig.ctx.reservations.all() == []

    vrun(main)


def test_tc_048_1_faulted(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            rig.board.inject_fault(1, "overtemp", True)
            await rig.wait_status(1, "Faulted")
            out = await rig.call("ReserveNow", reserve(rig, 1, "TAG1", 14))
            assert out.payload == {"status": "Faulted"}

    vrun(main)


def test_tc_048_2_occupied(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            rig.board.plug(1)
            await rig.wait_status(1, "Preparing")
            out = await rig.call("ReserveNow", reserve(rig, 1, "TAG1", 15))
            assert out.payload == {"status": "Occupied"}

    vrun(main)


def test_tc_048_2_already_reserved_is_occupied_and_same_id_replaces(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            assert (await rig.call("ReserveNow", reserve(rig, 1, "TAG1", 16))).payload == {"status": "Accepted"}
            assert (await rig.call("ReserveNow", reserve(rig, 1, "TAG2", 17))).payload == {"status": "Occupied"}
            assert (await rig.call("ReserveNow", reserve(rig, 1, "TAG3", 16))).payload == {"status": "Accepted"}
            assert [r.id_tag for r in rig.ctx.reservations.all()] == ["TAG3"]

    vrun(main)


def test_tc_048_3_unavailable(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            out = await rig.call("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
            assert out.payload == {"status": "Accepted"}
            await rig.wait_status(1, "Unavailable")
            out = await rig.call("ReserveNow", reserve(rig, 1, "TAG1", 18))
            assert out.payload == {"status": "Unavailable"}

    vrun(main)


def test_tc_048_4_rejected(tmp_path):
    """Rejected: connector 0 without ReserveConnectorZeroSupported, an unknown connector, an expiry
    in the past."""

    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            rig.ctx.keys.set_internal("ReserveConnectorZeroSupported", False)
            assert (await rig.call("ReserveNow", reserve(rig, 0, "TAG1", 19))).payload == {"status": "Rejected"}
            assert (await rig.call("ReserveNow", reserve(rig, 7, "TAG1", 20))).payload == {"status": "Rejected"}
            assert (await rig.call("ReserveNow", reserve(rig, 1, "TAG1", 21, seconds=-5))).payload == {
                "status": "Rejected"}
            assert rig.ctx.reservations.all() == []

    vrun(main)


def test_reservation_ends_when_the_connector_faults(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            await rig.call("ReserveNow", reserve(rig, 1, "TAG1", 22))
            await rig.wait_status(1, "Reserved")
            rig.board.inject_fault(1, "rcd", True)
            await rig.wait_status(1, "Faulted")
            assert rig.ctx.reservations.all() == []

    vrun(main)


def test_tc_049_reservation_of_the_charge_point(tmp_path):
    """TC_049: connectorId 0 with two connectors: one stays free for the reserved idTag; the other can be
    used by anyone; then only the reserved idTag can take the last free connector."""

    async def main(clock):
        async with Rig(clock, tmp_path, connectors=2) as rig:
            await rig.booted()
            out = await rig.call("ReserveNow", reserve(rig, 0, "TAG1", 23))
            assert out.payload == {"status": "Accepted"}
            assert rig.ctx.status.current_status(1) == "Available"  # two free connectors, one reservation
            rig.board.present_rfid("OTHER", 1)
            rig.board.plug(1)
            await started(rig, "OTHER")
            await rig.wait_status(2, "Reserved")  # now connector 2 is the one kept free
            # a second station-wide reservation would leave no connector for the first one
            assert (await rig.call("ReserveNow", reserve(rig, 0, "TAG9", 24))).payload == {"status": "Occupied"}
            assert (await rig.call("ReserveNow", reserve(rig, 2, "TAG9", 24))).payload == {"status": "Occupied"}
            rig.board.present_rfid("TAG1", 2)
            rig.board.plug(2)
            start = await started(rig, "TAG1")
            assert start["connectorId"] == 2 and start["reservationId"] == 23
            assert rig.ctx.reservations.all() == []

    vrun(main)


def test_tc_050_reserved_connector_remote_start(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            await rig.call("ReserveNow", reserve(rig, 1, "TAG1", 25))
            await rig.wait_status(1, "Reserved")
            out = await rig.call("RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 1})
            assert out.payload == {"status": "Accepted"}
            rig.board.plug(1)
            start = await started(rig, "TAG1")
            assert start["reservationId"] == 25

    vrun(main)


def test_remote_start_for_another_tag_on_a_reserved_connector_is_rejected(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            await rig.call("ReserveNow", reserve(rig, 1, "TAG1", 26))
            await rig.wait_status(1, "Reserved")
            out = await rig.call("RemoteStartTransaction", {"idTag": "TAG2", "connectorId": 1})
            assert out.payload == {"status": "Rejected"}
            rig.board.plug(1)
            await clock.sleep(30)
            assert rig.calls("StartTransaction") == []
            assert [r.reservation_id for r in rig.ctx.reservations.all()] == [26]

    vrun(main)


def test_tc_051_cancel_reservation(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            await rig.call("ReserveNow", reserve(rig, 1, "TAG1", 26))
            reserved = await rig.wait_status(1, "Reserved")
            out = await rig.call("CancelReservation", {"reservationId": 26})
            assert out.payload == {"status": "Accepted"}
            await rig.wait_call("StatusNotification", lambda p: p["connectorId"] == 1 and p["status"] == "Available",
                                start=reserved.seq)
            assert rig.ctx.reservations.all() == []

    vrun(main)


def test_tc_052_cancel_unknown_reservation(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            out = await rig.call("CancelReservation", {"reservationId": 999})
            assert out.payload == {"status": "Rejected"}

    vrun(main)


def test_tc_053_reserved_connector_used_with_parent_id_tag(tmp_path):
    """TC_053: reserved for TAG1 with parentIdTag FAMILY; TAG2, whose parent (local list) is FAMILY,
    may start on it; StartTransaction carries the reservationId."""

    async def main(clock):
        async with Rig(clock, tmp_path, keys={"LocalPreAuthorize": "true"}) as rig:
            await rig.booted()
            out = await rig.call("SendLocalList", {
                "listVersion": 1, "updateType": "Full",
                "localAuthorizationList": [
                    {"idTag": "TAG2", "idTagInfo": {"status": "Accepted", "parentIdTag": "FAMILY"}},
                    {"idTag": "STRANGER", "idTagInfo": {"status": "Accepted", "parentIdTag": "OTHERS"}},
                ]})
            assert out.payload == {"status": "Accepted"}
            await rig.call("ReserveNow", reserve(rig, 1, "TAG1", 27, parent="FAMILY"))
            await rig.wait_status(1, "Reserved")
            rig.board.present_rfid("STRANGER", 1)
            await rig.settle(2)
            assert rig.ctx.transactions.pending(1) is None  # refused: another parent
            rig.board.present_rfid("TAG2", 1)
            await rig.settle(1)
            rig.board.plug(1)
            start = await started(rig, "TAG2")
            assert start["reservationId"] == 27
            assert rig.calls("Authorize") == []  # decided from the local list (LocalPreAuthorize)

    vrun(main)


def test_reservations_survive_a_restart(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            await rig.call("ReserveNow", reserve(rig, 1, "TAG1", 28, seconds=600))
            await rig.wait_status(1, "Reserved")
            await rig.stop_client()
            await rig.start()
            assert [r.reservation_id for r in rig.ctx.reservations.all()] == [28]
            assert rig.ctx.status.current_status(1) == "Reserved"
            mark = len(rig.csms.frames)
            await rig.wait_call("StatusNotification", lambda p: p["connectorId"] == 1 and p["status"] == "Available",
                                timeout=700, start=mark)
            assert rig.ctx.reservations.all() == []

    vrun(main)


def test_tc_048_2_occupied_while_an_authorisation_waits_for_the_plug(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            rig.board.present_rfid("TAG9", 1)
            await rig.wait_status(1, "Preparing")
            out = await rig.call("ReserveNow", reserve(rig, 1, "TAG1", 29))
            assert out.payload == {"status": "Occupied"}

    vrun(main)
