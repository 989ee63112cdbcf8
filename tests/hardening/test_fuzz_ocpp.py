"""Issue 12, acceptance: ~10,000 hostile frames from a CSMS -- malformed JSON, wrong types, unknown
ids and actions, huge and deeply nested frames, binary and invalid UTF-8, bursts.  The charge point
answers every CALL it can answer with a CALLRESULT or a CALLERROR whose code OCPP-J 1.6 defines, emits
no malformed frame, keeps the connection (frames above the size limit excepted: the websocket closes
with 1009 and the charge point reconnects), and completes a transaction afterwards.  Seeded: the same
frames every run."""

from __future__ import annotations

import json
import random
from typing import Any

from chargepoint.clock import VirtualClock
from chargepoint.csms import IN
from tests.ocpp.session_rig import Rig

OCPP_J_ERROR_CODES = {"NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
                      "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
                      "TypeConstraintViolation", "GenericError"}
#: actions whose *valid* payloads would end the session on purpose (restart, reconnect) or start
#: long side effects; the fuzzer sends them only with payloads that are invalid by construction
DISRUPTIVE = {"Reset", "UpdateFirmware", "GetDiagnostics", "RemoteStartTransaction", "ReserveNow"}
SAFE_ACTIONS = ["GetConfiguration", "ChangeConfiguration", "DataTransfer", "TriggerMessage", "GetLocalListVersion",
                "ClearCache", "GetCompositeSchedule", "ClearChargingProfile", "CancelReservation", "ChangeAvailability",
                "UnlockConnector", "RemoteStopTransaction", "SendLocalList", "SetChargingProfile"]
SAFE_KEYS = ["HeartbeatInterval", "MeterValueSampleInterval", "ConnectionTimeOut", "LocalPreAuthorize",
             "MeterValuesSampledData", "NoSuchKey", "StopTransactionOnInvalidId", "ClockAlignedDataInterval"]
FRAMES = 10_000
MAX_FRAME = 64 * 1024


def _junk(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(9 if depth < 3 else 6)
    if pick == 0:
        return rng.randint(-(10 ** 30), 10 ** 30)
    if pick == 1:
        return rng.random() * 10 ** rng.randint(-5, 300)
    if pick == 2:
        return "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0xFFFF)]))
                       for _ in range(rng.randrange(0, 40))).replace("\ud800", "")
    if pick == 3:
        return None
    if pick == 4:
        return rng.choice([True, False])
    if pick == 5:
        return ""
    if pick == 6:
        return [_junk(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {rng.choice(["key", "value", "connectorId", "type", "vendorId", "x", "idTag", "requestedMessage"]):
            _junk(rng, depth + 1) for _ in range(rng.randrange(0, 4))}


def _payload(rng: random.Random, action: str) -> dict[str, Any]:
    if action == "ChangeConfiguration":
        return {"key": rng.choice(SAFE_KEYS), "value": str(_junk(rng))[:500]}
    if action == "GetConfiguration":
        return rng.choice([{}, {"key": [rng.choice(SAFE_KEYS)]}, {"key": _junk(rng)}])
    if action == "TriggerMessage":
        return {"requestedMessage": rng.choice(["Heartbeat", "StatusNotification", "Bogus", 5]),
                **({"connectorId": _junk(rng)} if rng.random() < 0.5 else {})}
    if action == "DataTransfer":
        return {"vendorId": rng.choice(["x", "", 7, "v" * 300]), "data": _junk(rng)}
    if action in DISRUPTIVE:
        return {"bogusField": _junk(rng)}  # never valid: every disruptive action requires other fields
    base = {k: _junk(rng) for k in rng.sample(["connectorId", "type", "idTag", "transactionId", "x"], rng.randrange(0, 3))}
    return base


def _frame(rng: random.Random, i: int) -> tuple[str | bytes, str | None]:
    """A hostile frame and the unique id the charge point must answer under (None: no answer)."""
    uid = f"fz-{i}"
    kind = rng.randrange(14)
    if kind <= 4:  # a CALL of a known action with a mutated payload
        action = rng.choice(SAFE_ACTIONS + sorted(DISRUPTIVE))
        return json.dumps([2, uid, action, _payload(rng, action)]), uid
    if kind == 5:  # unknown action
        return json.dumps([2, uid, rng.choice(["FooBar", "", "heartbeat", "Heartbeat2", "x" * 200]), {}]), uid
    if kind == 6:  # malformed JSON with a readable id
        return f'[2,"{uid}","GetConfiguration",{{' + rng.choice(["", '"key":', "]]]", "\\x"]), uid
    if kind == 7:  # malformed JSON without an id
        return rng.choice(["not json", "{", "[", "[2,", '{"a":1}', "[]", "null", "1", '"s"', "[5,1,2]"]), None
    if kind == 8:  # deeply nested
        depth = rng.choice([40, 500, 1000, 5000])
        if rng.random() < 0.5:
            return "[" * depth + "]" * depth, None
        return f'[2,"{uid}","DataTransfer",{{"vendorId":"x","data":' + "[" * depth + "]" * depth + "}]", uid
    if kind == 9:  # invalid UTF-8 / binary
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))) + b"\xff", None
    if kind == 10:  # wrong element types: answered under a well-formed id, or not at all
        frame, answer = rng.choice([([2, i, "GetConfiguration", {}], str(i)), ([2, None, "Heartbeat", {}], None),
                                    ([2, uid, 5, {}], uid), ([2, uid, "GetConfiguration", []], uid), ([2, uid], uid),
                                    ([True, uid, "GetConfiguration", {}], None), ([2.5, uid, "X", {}], None),
                                    ([2, [uid], "Heartbeat", {}], None), ([2, uid * 8, "Heartbeat", {}], None)])
        return json.dumps(frame), answer
    if kind == 11:  # answers to nothing
        return json.dumps(rng.choice([[3, uid, {}], [4, uid, "GenericError", "", {}], [3, uid], [4, 5]])), None
    if kind == 12:  # big but below the size limit
        return json.dumps([2, uid, "DataTransfer", {"vendorId": "x", "data": "A" * rng.randrange(1000, MAX_FRAME // 2)}]), uid
    return json.dumps([2, uid, "GetConfiguration", {"key": [rng.choice(SAFE_KEYS)] * rng.randrange(0, 50)}]), uid



def test_fuzz_10000_frames_every_call_answered_connection_kept_transaction_after(tmp_path):
    clock = VirtualClock()
    rng = random.Random(20261206)
    frames = [_frame(rng, i) for i in range(FRAMES)]
    expected = {uid for _raw, uid in frames} - {None}
    summary: dict[str, Any] = {}

    async def main():
        async with Rig(clock, tmp_path, options={"max_frame_bytes": MAX_FRAME}) as rig:
            await rig.booted()
            session, connections = rig.csms.sessions["CP-1"], rig.client.connections
            start = len(rig.csms.frames)
            for n, (raw, _uid) in enumerate(frames):
                await session.send_raw(raw)
                if n % 200 == 199:  # bursts of 200 frames, then let the charge point catch up
                    await clock.sleep(0.5)
            await clock.sleep(30)
            answered: dict[str, list[Any]] = {}
            for f in rig.csms.frames[start:]:
                if f.direction != IN or f.message_type == "CALL":
                    continue
                frame = json.loads(f.raw)
                assert frame[0] in (3, 4), f.raw
                assert isinstance(frame[1], str) and 1 <= len(frame[1]) <= 36, f.raw
                if frame[0] == 4:
                    assert len(frame) == 5 and frame[2] in OCPP_J_ERROR_CODES, f.raw
                    assert isinstance(frame[3], str) and isinstance(frame[4], dict), f.raw
                answered.setdefault(frame[1], []).append(frame)
            missing = sorted(expected - set(answered))
            extra = sorted(set(answered) - expected)
            twice = sorted(u for u, a in answered.items() if len(a) > 1)
            assert not missing, f"{len(missing)} CALLs unanswered, e.g. {missing[:5]}"
            assert not extra, f"answers to frames that were not answerable CALLs: {extra[:5]}"
            assert not twice, f"answered twice: {twice[:5]}"
            assert rig.client.connections == connections, "the connection was dropped"
            assert rig.csms.sessions["CP-1"] is session
            summary["answered"] = len(answered)
            summary["errors"] = sum(1 for a in answered.values() if a[0][0] == 4)

            # one frame above the size limit: the websocket closes (1009); the charge point comes back
            await session.send_raw(json.dumps([2, "huge", "DataTransfer", {"vendorId": "x", "data": "B" * MAX_FRAME}]))
            for _ in range(600):
                if rig.client.connections > connections and rig.client.connected:
                    break
                await clock.sleep(0.1)
            assert rig.client.connections == connections + 1
            await clock.sleep(2)

            # and the charger still charges: plug, RFID, StartTransaction, unplug, StopTransaction
            mark = rig.mark()
            board = rig.board
            board.plug(1)
            await rig.call("RemoteStartTransaction", {"connectorId": 1, "idTag": "FUZZ-OK"})
            await rig.wait_call("StartTransaction", timeout=60)
            await rig.wait_status(1, "Charging", timeout=60, start=mark)
            board.unplug(1)
            await rig.wait_call("StopTransaction", timeout=60)

    clock.run(main(), wall_timeout=240)
    assert summary["answered"] == len(expected)
