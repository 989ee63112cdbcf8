"""MaxEnergyOnInvalidId (OCPP 1.6 §9.1, errata 3.17): after a StartTransaction.conf that is not
Accepted the EV may still get that much energy (counted from meterStart); then StopTransactionOnInvalidId
applies -- DeAuthorized with the cable held, or energy off while the transaction goes on.

The real charge point against the real test CSMS over loopback websockets, in virtual time."""

from __future__ import annotations

import pytest

from tests.ocpp.session_rig import Rig, vrun

pytestmark = pytest.mark.usefixtures("ocpp_schema_check")

ALLOWANCE_WH = 500


async def refused_start(rig: Rig, tag: str = "STOLEN") -> dict:
    """The local list lets ``tag`` start at once; the CSMS refuses it in StartTransaction.conf."""
    await rig.booted()
    await rig.call("SendLocalList", {"listVersion": 1, "updateType": "Full",
                                     "localAuthorizationList": [{"idTag": tag, "idTagInfo": {"status": "Accepted"}}]})
    rig.csms.behaviour.whitelist = {}
    rig.board.plug(1)
    rig.board.present_rfid(tag, 1)
    start = await rig.wait_call("StartTransaction")
    await rig.settle(5)
    return dict(start.payload)


def test_stop_deauthorized_once_the_allowance_is_delivered(tmp_path):
    async def main(clock):
        keys = {"LocalPreAuthorize": "true", "MaxEnergyOnInvalidId": str(ALLOWANCE_WH)}
        async with Rig(clock, tmp_path, keys=keys) as rig:
            start = await refused_start(rig)
            assert rig.ctx.transactions.active(1) is not None  # still charging within the allowance
            assert rig.station.snapshot(1).contactor_c1
            stop = await rig.wait_call("StopTransaction", timeout=600)
            assert stop.payload["reason"] == "DeAuthorized"
            delivered = stop.payload["meterStop"] - start["meterStart"]
            assert ALLOWANCE_WH <= delivered < ALLOWANCE_WH + 200, delivered
            await rig.settle(5)
            snap = rig.station.snapshot(1)
            assert not snap.contactor_c1 and snap.locked  # energy off, the cable held for its owner
            assert rig.ctx.transactions.held_lock(1) == ("STOLEN", None)

    vrun(main)


def test_energy_off_but_transaction_goes_on_with_stop_on_invalid_id_false(tmp_path):
    async def main(clock):
        keys = {"LocalPreAuthorize": "true", "MaxEnergyOnInvalidId": str(ALLOWANCE_WH),
                "StopTransactionOnInvalidId": "false"}
        async with Rig(clock, tmp_path, keys=keys) as rig:
            start = await refused_start(rig)
            for _ in range(120):
                if not rig.station.snapshot(1).contactor_c1:
                    break
                await rig.settle(5)
            assert not rig.station.snapshot(1).contactor_c1  # energy withheld...
            assert rig.ctx.transactions.active(1) is not None  # ...while the transaction goes on
            assert rig.calls("StopTransaction") == []
            meter = rig.station.latest_meter(1)
            assert meter is not None and meter.energy_import_wh - start["meterStart"] >= ALLOWANCE_WH
            await rig.settle(60)
            assert rig.board.ev_current(1) == (0.0, 0.0, 0.0)

    vrun(main)


def test_without_an_allowance_the_refused_transaction_stops_at_once(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path, keys={"LocalPreAuthorize": "true"}) as rig:
            start = await refused_start(rig)
            stop = await rig.wait_call("StopTransaction", timeout=30)
            assert stop.payload["reason"] == "DeAuthorized"
            assert stop.payload["meterStop"] - start["meterStart"] < ALLOWANCE_WH

    vrun(main)
