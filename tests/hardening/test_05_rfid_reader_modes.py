"""Issue 12, point 5: the RFID reader's modes (smartevse.md §3.5, §2.4/2.5, §6) -- EnableAll, EnableOne,
the card list on the charger (100 cards), the 60 s AccessTimer, learning and deleting cards -- next to
OCPP authorisation.  The pure reader, then the production runtime over real HTTP (no CSMS), then with
the OCPP client and a real test CSMS over a loopback websocket (scenarios.stack), all in virtual time."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chargepoint.access import (
    ACCESS_TIMER_S,
    MAX_CARDS,
    CardError,
    CardListFull,
    Deleted,
    Grant,
    Learned,
    Refused,
    Revoke,
    RfidReader,
    UnknownCard,
)
from chargepoint.api.app import LocalApi
from chargepoint.app import build_runtime
from chargepoint.clock import VirtualClock
from chargepoint.config import load_config
from chargepoint.runtime import Runtime, launch

NO_EV: dict[int, bool] = {1: False}
EV: dict[int, bool] = {1: True}


# --------------------------------------------------------------------------- the pure reader


def test_enable_all_any_learnt_card_toggles_unknown_cards_are_refused() -> None:
    r = RfidReader("enable_all", ["aa11", "BB22"])
    assert r.cards == ["AA11", "BB22"]  # stored upper case, like the firmware's hex UIDs
    [d] = r.present(0.0, "CC33", 0, EV)
    assert isinstance(d, Refused) and "not a learnt card" in d.reason
    [d] = r.present(1.0, "aa11", 0, EV)
    assert d == Grant(1, "AA11", "card presented")
    [d] = r.present(2.0, "BB22", 0, EV)  # EnableAll: another learnt card switches it off
    assert isinstance(d, Revoke) and d.connector == 1 and d.uid == "AA11"
    assert r.access == {}


def test_enable_one_only_the_card_that_enabled_may_disable() -> None:
    r = RfidReader("enable_one", ["AA11", "BB22"])
    assert isinstance(r.present(0.0, "AA11", 0, EV)[0], Grant)
    [d] = r.present(1.0, "BB22", 0, EV)
    assert isinstance(d, Refused) and "only its card (AA11)" in d.reason
    [d] = r.present(1.5, "BB22", 1, EV)  # a per-connector reader: the same rule
    assert isinstance(d, Refused) and "only card AA11" in d.reason
    assert 1 in r.access
    [d] = r.present(2.0, "AA11", 0, EV)
    assert isinstance(d, Revoke) and d.uid == "AA11"
    assert isinstance(r.present(3.0, "BB22", 0, EV)[0], Grant)  # access off: any learnt card enables


def test_access_timer_lapses_60_s_after_a_swipe_without_an_ev() -> None:
    r = RfidReader("enable_all", ["AA11"])
    [g] = r.present(100.0, "AA11", 0, NO_EV)
    assert isinstance(g, Grant) and "within 60 s" in g.reason
    assert r.next_deadline() == 100.0 + ACCESS_TIMER_S
    assert r.tick(159.9) == []
    [d] = r.tick(160.0)
    assert isinstance(d, Revoke) and "AccessTimer" in d.reason
    assert r.access == {} and r.next_deadline() is None


def test_plugging_in_stops_the_access_timer_and_unplugging_ends_access() -> None:
    r = RfidReader("enable_all", ["AA11"])
    r.present(0.0, "AA11", 0, NO_EV)
    r.ev_changed(30.0, 1, True)
    assert r.tick(1000.0) == [] and 1 in r.access and r.next_deadline() is None
    r.ev_changed(2000.0, 1, False)  # the session is over: the next driver needs a card
    assert r.access == {}
    [d] = r.present(2001.0, "AA11", 0, EV)
    assert isinstance(d, Grant)  # the same card starts a new session rather than stopping an old one


def test_access_ended_elsewhere_makes_the_next_swipe_start_again() -> None:
    r = RfidReader("enable_all", ["AA11"])
    r.present(0.0, "AA11", 0, EV)
    assert r.access_lost(1) and not r.access_lost(1)
    assert isinstance(r.present(1.0, "AA11", 0, EV)[0], Grant)


def test_card_list_holds_the_firmwares_100_cards_and_checks_ids() -> None:
    r = RfidReader("enable_all", [f"{i:012X}" for i in range(MAX_CARDS)])
    assert len(r.cards) == 100
    with pytest.raises(CardListFull, match="full"):
        r.add("FFFFFFFFFFFF")
    r.add("000000000000")  # already there: not a second slot
    for bad, why in [("", "1..20"), ("A" * 21, "1..20"), ("AB CD", "printable"), ("AB\x00", "printable")]:
        with pytest.raises(CardError, match=why):
            RfidReader("enable_all").add(bad)
    with pytest.raises(UnknownCard):
        r.delete("FEEDFEEDFEED")
    with pytest.raises(CardError, match="mode"):
        RfidReader("sometimes")


def test_learning_and_deleting_by_presenting_cards() -> None:
    r = RfidReader("enable_one")
    r.arm(0.0, "learn")
    assert r.present(1.0, "aa11", 0, EV) == [Learned("AA11")]  # learnt, not an access decision
    assert r.present(50.0, "BB22", 0, EV) == [Learned("BB22")]  # the window restarts with each card
    assert r.access == {}
    assert r.tick(109.9) == [] and r.armed == "learn"
    r.tick(110.0)
    assert r.armed is None
    assert isinstance(r.present(111.0, "AA11", 0, EV)[0], Grant)
    r.arm(112.0, "delete")
    assert r.present(113.0, "AA11", 0, EV) == [Revoke(1, "AA11", "card deleted"), Deleted("AA11")]
    [d] = r.present(114.0, "CC33", 0, EV)
    assert isinstance(d, Refused) and "nothing to delete" in d.reason
    assert r.cards == ["BB22"]
    r.arm(115.0, None)
    assert r.delete_all() == [Deleted("BB22")] and r.cards == []


def test_mode_ocpp_decides_nothing() -> None:
    r = RfidReader("ocpp", ["AA11"])
    assert not r.local and r.present(0.0, "AA11", 0, EV) == [] and r.access == {}


def test_a_charger_wide_reader_picks_the_connector() -> None:
    r = RfidReader("enable_all", ["AA11", "BB22", "CC33"], connectors=2)
    ev = {1: False, 2: True}
    assert r.present(0.0, "AA11", 0, ev)[0] == Grant(2, "AA11", "card presented")  # the waiting EV first
    g = r.present(1.0, "BB22", 0, ev)[0]
    assert isinstance(g, Grant) and g.connector == 1  # then a free connector, with the AccessTimer
    assert isinstance(r.present(2.0, "AA11", 0, ev)[0], Revoke)  # the card's own session
    r.present(3.0, "AA11", 0, ev)
    d = r.present(4.0, "CC33", 0, ev)[0]  # all in use, EnableAll: the first one goes off
    assert isinstance(d, Revoke) and d.connector == 1


# --------------------------------------------------------------------------- the runtime, over HTTP


@asynccontextmanager
async def charger(tmp_path: Path, mode: str, clock: VirtualClock, energy: dict[str, Any] | None = None,
                  sim: dict[str, Any] | None = None, **overrides: Any) -> AsyncIterator[tuple[Runtime, Any]]:
    """``chargepoint run`` without a CSMS: sim backend, the local API on a free port, the home
    services (the firmware's REST routes) -- everything ``build_runtime`` wires.  ``overrides``:
    more ``section.key`` settings, written ``section__key``."""
    config = load_config(env={}, overrides={"chargepoint.data_dir": str(tmp_path), "http.listen": "127.0.0.1:0",
                                            "rfid.mode": mode,
                                            **{k.replace("__", "."): v for k, v in overrides.items()}})
    runtime = build_runtime(replace(config, energy=dict(energy or {}), sim=dict(sim or {})), clock)
    task = await launch(runtime)
    api = next(s for s in runtime.services if isinstance(s, LocalApi))
    session = aiohttp.ClientSession(base_url=f"http://127.0.0.1:{api.bound_port}")
    try:
        yield runtime, session
    finally:
        await session.close()
        runtime.stop_requested.set()
        await task


async def call(session: aiohttp.ClientSession, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
    async with session.request(method, path, data=data, headers={"Content-Type": "application/json"}) as resp:
        return resp.status, await resp.json()


def test_enable_one_over_the_api_without_a_csms(tmp_path: Path) -> None:
    clock = VirtualClock()

    async def main() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with charger(tmp_path, "enable_one", clock) as (runtime, s):
            assert (await call(s, "POST", "/api/rfid/cards", {"uid": "04a1b2c3d4e5f6"}))[0] == 200
            assert (await call(s, "POST", "/api/rfid/cards", {"uid": "AABBCCDDEEFF"}))[0] == 200
            await call(s, "POST", "/api/sim/connectors/1/plug", {})
            await clock.sleep(2)
            await call(s, "POST", "/api/sim/rfid", {"id_tag": "DEADBEEF0000"})  # unknown
            await clock.sleep(5)
            seen["unknown"] = runtime.station.snapshot(1).authorized
            await call(s, "POST", "/api/sim/rfid", {"id_tag": "04A1B2C3D4E5F6"})
            await clock.sleep(10)
            snap = runtime.station.snapshot(1)
            seen["charging"] = (snap.authorized, str(snap.iec_state), snap.contactor_c1)
            await call(s, "POST", "/api/sim/rfid", {"id_tag": "AABBCCDDEEFF"})  # EnableOne: refused
            await clock.sleep(5)
            seen["other_card"] = runtime.station.snapshot(1).contactor_c1
            _, doc = await call(s, "GET", "/api/rfid")
            seen["status"] = doc
            await call(s, "POST", "/api/sim/rfid", {"id_tag": "04A1B2C3D4E5F6"})  # the owner ends it
            await clock.sleep(10)
            snap = runtime.station.snapshot(1)
            seen["ended"] = (snap.authorized, snap.contactor_c1)
        saved = json.loads((tmp_path / "rfid_cards.json").read_text())
        seen["saved"] = saved["cards"]
        return seen

    r = clock.run(main())
    assert r["unknown"] is False
    assert r["charging"] == (True, "C", True)
    assert r["other_card"] is True
    assert r["status"]["mode"] == "enable_one" and r["status"]["access"][0]["card"] == "04A1B2C3D4E5F6"
    assert r["status"]["access"][0]["lapses_in_s"] is None  # an EV is connected: no AccessTimer
    assert r["status"]["last"][-1]["decision"] == "refused"
    assert r["ended"] == (False, False)
    assert r["saved"] == ["04A1B2C3D4E5F6", "AABBCCDDEEFF"]


def test_access_timer_over_the_api_a_late_plug_in_does_not_charge(tmp_path: Path) -> None:
    clock = VirtualClock()

    async def main() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with charger(tmp_path, "enable_all", clock) as (runtime, s):
            await call(s, "POST", "/api/rfid/cards", {"uid": "AA11"})
            await call(s, "POST", "/api/sim/rfid", {"id_tag": "AA11"})
            await clock.sleep(59)
            seen["at_59"] = ((await call(s, "GET", "/api/rfid"))[1]["access"], runtime.station.snapshot(1).authorized)
            await clock.sleep(2)
            seen["at_61"] = (await call(s, "GET", "/api/rfid"))[1]["access"]
            await call(s, "POST", "/api/sim/connectors/1/plug", {})
            await clock.sleep(10)
            seen["late"] = runtime.station.snapshot(1).contactor_c1
            await call(s, "POST", "/api/sim/rfid", {"id_tag": "AA11"})  # swipe with the EV there: charges
            await clock.sleep(10)
            seen["swiped"] = runtime.station.snapshot(1).contactor_c1
            await call(s, "POST", "/api/sim/connectors/1/unplug", {})
            await clock.sleep(2)
            await call(s, "POST", "/api/sim/connectors/1/plug", {})  # the next driver, no card
            await clock.sleep(10)
            seen["replug"] = runtime.station.snapshot(1).contactor_c1
        return seen

    r = clock.run(main())
    access, authorized = r["at_59"]
    assert access[0]["card"] == "AA11" and 0 < access[0]["lapses_in_s"] <= 1.0 and authorized
    assert r["at_61"] == []
    assert r["late"] is False and r["swiped"] is True and r["replug"] is False


def test_card_routes_answer_bad_input_with_4xx_naming_the_field(tmp_path: Path) -> None:
    clock = VirtualClock()

    async def main() -> list[tuple[str, int, Any]]:
        out = []
        async with charger(tmp_path, "ocpp", clock) as (_runtime, s):
            for method, path, body in [
                ("POST", "/api/rfid/cards", {}),
                ("POST", "/api/rfid/cards", {"uid": "AB CD"}),
                ("POST", "/api/rfid/cards", {"uid": 12}),
                ("POST", "/api/rfid/cards", {"uid": "AA", "extra": 1}),
                ("POST", "/api/rfid/cards", "[1]"),
                ("DELETE", "/api/rfid/cards/NOPE", None),
                ("POST", "/api/rfid/learn", {"action": "learn"}),  # mode ocpp: 409
                ("POST", "/api/rfid/learn", {"action": "forget"}),
                ("POST", "/api/rfid/learn", {}),
            ]:
                status, doc = await call(s, method, path, body)
                out.append((path, status, doc.get("field")))
            assert (await call(s, "POST", "/api/rfid/cards", {"uid": "aa11"}))[1]["learnt"] == "AA11"
            assert (await call(s, "DELETE", "/api/rfid/cards/aa11"))[0] == 200
            for i in range(MAX_CARDS):
                await call(s, "POST", "/api/rfid/cards", {"uid": f"C{i:03d}"})
            out.append(("full", *(lambda r: (r[0], r[1]["field"]))(await call(s, "POST", "/api/rfid/cards",
                                                                            {"uid": "ONEMORE"}))))
            out.append(("all", *(lambda r: (r[0], r[1]["deleted"]))(await call(s, "DELETE", "/api/rfid/cards"))))
        return out

    assert clock.run(main()) == [
        ("/api/rfid/cards", 400, "uid"), ("/api/rfid/cards", 400, "uid"), ("/api/rfid/cards", 400, "uid"),
        ("/api/rfid/cards", 400, "extra"), ("/api/rfid/cards", 400, None), ("/api/rfid/cards/NOPE", 404, "uid"),
        ("/api/rfid/learn", 409, "action"), ("/api/rfid/learn", 400, "action"), ("/api/rfid/learn", 400, "action"),
        ("full", 409, "uid"), ("all", 200, 100),
    ]


def test_learning_by_presenting_a_card_over_the_api(tmp_path: Path) -> None:
    clock = VirtualClock()

    async def main() -> dict[str, Any]:
        async with charger(tmp_path, "enable_all", clock) as (runtime, s):
            status, doc = await call(s, "POST", "/api/rfid/learn", {"action": "learn"})
            assert status == 200 and doc["armed"] == "learn"
            await call(s, "POST", "/api/sim/rfid", {"id_tag": "0123456789ab"})
            await clock.sleep(1)
            learnt = (await call(s, "GET", "/api/rfid"))[1]
            await clock.sleep(61)
            after = (await call(s, "GET", "/api/rfid"))[1]
            return {"learnt": learnt, "after": after, "authorized": runtime.station.snapshot(1).authorized}

    r = clock.run(main())
    assert r["learnt"]["cards"] == ["0123456789AB"] and r["learnt"]["access"] == []
    assert r["after"]["armed"] is None and r["authorized"] is False


# --------------------------------------------------------------------------- with OCPP (a real test CSMS)


def test_enable_all_with_ocpp_starts_without_authorize_and_stops_local(tmp_path: Path) -> None:
    """The card list decides; the OCPP transaction follows with the card as idTag and no Authorize
    (the firmware's beginTransaction_authorized), the second swipe stops it with reason Local."""
    from chargepoint.config import RfidSection
    from scenarios.schema import ChargePointSpec
    from scenarios.stack import Stack

    clock = VirtualClock()

    async def main() -> list[tuple[str, Any]]:
        stack = Stack(clock, ChargePointSpec(), {}, data_dir=tmp_path)
        stack.config = replace(stack.config, rfid=RfidSection(mode="enable_all"))
        await stack.start()
        try:
            service = next(s for s in stack.runtime.services if type(s).__name__ == "RfidService")
            await service.learn("AA11")
            await clock.sleep(5)
            stack.board.present_rfid("BB22")  # not on the list: refused, and OCPP is not asked
            stack.board.plug(1, 32.0)
            await clock.sleep(5)
            stack.board.present_rfid("aa11")
            await clock.sleep(20)
            charging = stack.station.snapshot(1).contactor_c1
            stack.board.present_rfid("AA11")
            await clock.sleep(20)
            assert charging and not stack.station.snapshot(1).contactor_c1
            # the CSMS ends a card's session: the reader sees it, the next swipe starts again
            stack.board.present_rfid("AA11")
            await clock.sleep(20)
            tx = stack.runtime.ocpp.transaction_id(1)
            assert tx is not None and stack.station.snapshot(1).contactor_c1
            outcome = await stack.csms.call(stack.spec.id, "RemoteStopTransaction", {"transactionId": tx}, 10)
            assert outcome.payload == {"status": "Accepted"}
            await clock.sleep(20)
            assert not stack.station.snapshot(1).contactor_c1 and service.reader.access == {}
            stack.board.present_rfid("AA11")
            await clock.sleep(20)
            assert stack.station.snapshot(1).contactor_c1
            return [(f.action or "", f.payload) for f in stack.csms.frames
                    if f.message_type == "CALL" and f.direction == "cp->csms"
                    and f.action in ("Authorize", "StartTransaction", "StopTransaction")]
        finally:
            await stack.stop()

    calls = clock.run(main())
    assert [a for a, _ in calls] == ["StartTransaction", "StopTransaction"] * 2 + ["StartTransaction"]
    assert calls[0][1]["idTag"] == "AA11"
    assert calls[1][1]["reason"] == "Local" and calls[1][1]["idTag"] == "AA11"
    assert calls[3][1]["reason"] == "Remote"


def test_enable_one_charges_while_the_csms_is_offline_and_the_transaction_follows(tmp_path: Path) -> None:
    """The card list decides without the CSMS: charging starts offline, StartTransaction (no Authorize)
    is delivered when the CSMS is back."""
    from chargepoint.config import RfidSection
    from scenarios.schema import ChargePointSpec
    from scenarios.stack import Stack

    clock = VirtualClock()

    async def main() -> tuple[bool, list[str], list[str]]:
        stack = Stack(clock, ChargePointSpec(), {}, data_dir=tmp_path)
        stack.config = replace(stack.config, rfid=RfidSection(mode="enable_one"))
        await stack.start()
        try:
            service = next(s for s in stack.runtime.services if type(s).__name__ == "RfidService")
            await service.learn("AA11")
            await clock.sleep(5)
            await stack.csms.go_offline(120)
            await clock.sleep(1)
            stack.board.plug(1, 32.0)
            stack.board.present_rfid("AA11")
            await clock.sleep(20)
            charging = stack.station.snapshot(1).contactor_c1

            def actions() -> list[str]:
                return [f.action or "" for f in stack.csms.frames if f.message_type == "CALL"
                        and f.direction == "cp->csms" and f.action in ("Authorize", "StartTransaction")]

            during = actions()
            await clock.sleep(160)
            return charging, during, actions()
        finally:
            await stack.stop()

    charging, during, after = clock.run(main())
    assert charging and during == [] and after == ["StartTransaction"]
