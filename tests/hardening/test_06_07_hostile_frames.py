"""Issue 12, points 6 and 7: a CSMS frame nested 1,000 levels deep gets a CALLERROR (or is ignored)
and the connection stays up; a CALL whose unique id is not a string is answered per OCPP-J with a
CALLERROR under a well-formed id, or not at all -- the charge point never emits a malformed frame."""

from __future__ import annotations

import json

import pytest

from chargepoint.clock import VirtualClock
from chargepoint.csms import IN
from chargepoint.ocpp.frame_guard import MAX_DEPTH, FrameRejected, decode_frame
from tests.ocpp.session_rig import Rig

DEEP = "[" * 1000 + "]" * 1000


def _answers(rig, start):
    return [json.loads(f.raw) for f in rig.csms.frames[start:] if f.direction == IN and f.message_type != "CALL"]


async def _still_serving(rig, session_before, connections_before):
    out = await rig.call("GetConfiguration", {"key": ["HeartbeatInterval"]})
    assert out.status == "result"
    assert rig.client.connections == connections_before
    assert rig.csms.sessions["CP-1"] is session_before


@pytest.mark.parametrize(("frame", "answer_id"), [
    (DEEP, None),  # no unique id to answer under: ignored
    ('[2,"deep-1","DataTransfer",{"vendorId":"x","data":' + DEEP + "}]", "deep-1"),
    ('[2,"deep-2","Reset",' + "{" + '"a":{' * 1200 + "}" * 1201 + "]", "deep-2"),
    ('[2,"deep-3","DataTransfer",{"vendorId":"x","data":' + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "}]",
     "deep-3"),
])
def test_06_deeply_nested_frame_keeps_the_connection(tmp_path, frame, answer_id):
    clock = VirtualClock()

    async def main():
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            session, connections = rig.csms.sessions["CP-1"], rig.client.connections
            start = len(rig.csms.frames)
            await session.send_raw(frame)
            await clock.sleep(2)
            answers = _answers(rig, start)
            if answer_id is None:
                assert answers == []
            else:
                assert len(answers) == 1 and answers[0][:3] == [4, answer_id, "FormationViolation"], answers
            await _still_serving(rig, session, connections)

    clock.run(main())


@pytest.mark.parametrize(("frame", "expected"), [
    ('[2,5,"GetConfiguration",{}]', [4, "5", "FormationViolation"]),
    ('[2,12345678901234567890,"GetConfiguration",{}]', [4, "12345678901234567890", "FormationViolation"]),
    ('[2,null,"GetConfiguration",{}]', None),
    ('[2,["x"],"GetConfiguration",{}]', None),
    ('[2,{"a":1},"GetConfiguration",{}]', None),
    ('[2,true,"GetConfiguration",{}]', None),
    ('[2,"' + "x" * 37 + '","GetConfiguration",{}]', None),
    ('[2,"ok-1",7,{}]', [4, "ok-1", "ProtocolError"]),
    ('[2,"ok-2","GetConfiguration",[]]', [4, "ok-2", "ProtocolError"]),
    ('[2,"ok-3","GetConfiguration"]', [4, "ok-3", "ProtocolError"]),
])
def test_07_unique_id_not_a_string(tmp_path, frame, expected):
    clock = VirtualClock()

    async def main():
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            session, connections = rig.csms.sessions["CP-1"], rig.client.connections
            start = len(rig.csms.frames)
            await session.send_raw(frame)
            await clock.sleep(2)
            answers = _answers(rig, start)
            for a in answers:  # whatever is sent is a well-formed OCPP-J CALLERROR
                assert isinstance(a[1], str) and 1 <= len(a[1]) <= 36 and len(a) == 5, a
            if expected is None:
                assert answers == []
            else:
                assert len(answers) == 1 and answers[0][:3] == expected, answers
            await _still_serving(rig, session, connections)

    clock.run(main())


def test_decode_frame_never_raises_anything_but_frame_rejected():
    for raw in (DEEP, b"\xff\xfe\x00", b'[2,"a","Heartbeat",{}]', "", "[]", "[2]", "[true,1,2,3]", "[2.0,\"a\",\"b\",{}]",
                '[3,"a"]', '[4,"a","X","y",[]]', '[9,"a",{}]', "{}", '"text"', "1e999999", "[" * 100000):
        try:
            decode_frame(raw)
        except FrameRejected:
            pass
