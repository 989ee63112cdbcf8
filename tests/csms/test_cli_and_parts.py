"""The CLI entry point, behaviour parsing and the frame log on their own."""

from __future__ import annotations

import argparse
import asyncio
import json
import re

import pytest
from websockets.asyncio.client import connect

from chargepoint.clock import VirtualClock
from chargepoint.csms import Behaviour, BehaviourError, FrameLog, cli
from chargepoint.csms.frames import IN, OUT, parse_frame
from tests.csms.helpers import http, open_ws


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_defaults():
    args = _args()
    assert (args.host, args.port, args.http_port, args.boot, args.heartbeat) == ("127.0.0.1", 9000, 9001,
                                                                                "accepted", 300)
    assert args.log_file == "frames.jsonl" and args.whitelist is None and args.ids is None


def test_cli_runs_the_csms_until_cancelled(tmp_path, capsys):
    clock = VirtualClock()
    log_file = tmp_path / "cli.jsonl"
    args = _args("--port", "0", "--http-port", "0", "--ids", "CP1,CP2", "--password", "CP2=pw",
                 "--boot", "pending", "--heartbeat", "42", "--whitelist", "TAG1, TAG2", "--log-file", str(log_file))

    async def scenario():
        task = asyncio.ensure_future(cli.main(args, clock))
        await clock.sleep(0.5)
        printed = capsys.readouterr().out
        match = re.search(r"endpoint (ws://\S+)/<charge point id>; HTTP API (http://\S+)", printed)
        assert match, printed
        ws_url, http_url = match.groups()
        status, health = await http("GET", f"{http_url}/healthz")
        assert status == 200 and health["status"] == "ok"
        status, behaviour = await http("GET", f"{http_url}/api/behaviour")
        assert behaviour["boot_status"] == "Pending" and behaviour["heartbeat_interval"] == 42
        assert behaviour["whitelist"] == {"TAG1": "Accepted", "TAG2": "Accepted"}

        ws = await connect(f"{ws_url}/CP1", subprotocols=["ocpp1.6"], proxy=None)
        await ws.send(json.dumps([2, "1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
        answer = json.loads(await ws.recv())
        assert answer[2]["status"] == "Pending"
        await ws.close()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    clock.run(scenario())
    records = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [r["message_type"] for r in records] == ["CALL", "CALLRESULT"]


@pytest.mark.parametrize("argv", [["--password", "CP1"], ["--password", "=x"], ["--whitelist", "X" * 21],
                                  ["--keep-frames", "-1"]])
def test_cli_rejects_bad_options(argv, capsys):
    clock = VirtualClock()
    assert clock.run(cli.main(_args("--port", "0", "--http-port", "0", *argv), clock)) == 2
    assert "chargepoint csms:" in capsys.readouterr().out


def test_behaviour_update_is_atomic_and_names_fields():
    b = Behaviour()
    with pytest.raises(BehaviourError) as err:
        b.update({"boot_status": "Rejected", "delays": {"Heartbeat": "x"}})
    assert err.value.field == "delays.Heartbeat"
    assert b.boot_status == "Accepted" and b.delays == {}
    b.update({"delay": {"Heartbeat": 2}, "errors": {"Authorize": "GenericError"}})
    b.update({"delay": {"MeterValues": 1}, "whitelist_add": ["A"], "whitelist_remove": ["B"]})
    assert b.delays == {"Heartbeat": 2.0, "MeterValues": 1.0}
    assert b.whitelist == {"A": "Accepted"}
    assert b.tag_status("A") == "Accepted" and b.tag_status("Z") == "Invalid"
    forced = b.take_forced_error("Authorize")
    assert forced is not None and forced.code == "GenericError"
    assert b.take_forced_error("Authorize") is None
    b.update({"errors": {"Heartbeat": {"code": "InternalError", "count": 3}}})
    b.update({"errors": {"Heartbeat": None}})
    assert b.errors == {}
    with pytest.raises(BehaviourError, match="body"):
        b.update([1])


def test_parse_frame_and_result_actions():
    assert parse_frame('[2,"a","Heartbeat",{}]') == ("CALL", "a", "Heartbeat", {})
    assert parse_frame('[3,"a",{"x":1}]') == ("CALLRESULT", "a", None, {"x": 1})
    assert parse_frame('[4,"a","NotSupported","d",{}]')[3] == {
        "errorCode": "NotSupported", "errorDescription": "d", "errorDetails": {}}
    for bad in ("nope", "{}", "[9,\"a\",{}]", "[2,\"a\",{}]", "[]"):
        assert parse_frame(bad)[0] == "INVALID"
    clock = VirtualClock()

    async def scenario():
        log = FrameLog(clock, console=False)
        log.record(OUT, "CP1", json.dumps([2, "c1", "Reset", {"type": "Soft"}]))
        log.record(IN, "CP1", json.dumps([2, "c1", "Heartbeat", {}]))  # same id, other direction
        answer = log.record(IN, "CP1", json.dumps([3, "c1", {"status": "Accepted"}]))
        mine = log.record(OUT, "CP1", json.dumps([3, "c1", {"currentTime": clock.now().isoformat()}]))
        assert (answer.action, mine.action) == ("Reset", "Heartbeat")
        waiter = asyncio.ensure_future(log.wait_for(lambda f: f.action == "Heartbeat" and f.seq > 4, 10))
        await clock.sleep(3)
        log.record(IN, "CP1", json.dumps([2, "c2", "Heartbeat", {}]))
        assert (await waiter).seq == 5
        with pytest.raises(TimeoutError):
            await log.wait_for(lambda f: False, 5)
        assert [f.seq for f in log.select("CP1", since=3)] == [4, 5]

    clock.run(scenario())


def test_a_bounded_frame_log_keeps_the_last_frames_and_counts_every_one():
    clock = VirtualClock()

    async def scenario():
        log = FrameLog(clock, console=False, keep=10)
        trims = []
        log.on_trim = lambda: trims.append(log.dropped)
        waiter = asyncio.ensure_future(log.wait_for(lambda f: f.unique_id == "h25", 10, start=3))
        for i in range(1, 31):
            log.record(IN, "CP1", json.dumps([2, f"h{i}", "Heartbeat", {}]))
        assert log.count == 30 and len(log.frames) < 11 + 1 and log.frames[-1].seq == 30
        assert trims and trims[-1] == log.dropped == 30 - len(log.frames)
        assert [f.seq for f in log.select(since=27)] == [28, 29, 30]
        assert next(f.seq for f in log.select(since=0)) == log.dropped + 1  # the dropped ones are gone
        assert (await waiter).seq == 25
        # an index among the dropped frames: the search goes on from the oldest kept one
        assert (await log.wait_for(lambda f: True, 1, start=2)).seq == log.dropped + 1
        with pytest.raises(ValueError, match="keep"):
            FrameLog(clock, keep=0)

    clock.run(scenario())


def test_the_cli_csms_bounds_its_records_and_can_be_quiet():
    clock = VirtualClock()
    args = _args("--port", "0", "--http-port", "0", "--log-file", "", "--keep-frames", "20", "--quiet")

    async def scenario():
        csms = cli.build_csms(args, clock)
        assert csms.frame_log.keep == 20 and not csms.frame_log._console
        async with csms:
            ws = await open_ws(csms, "CP1")
            await ws.send(json.dumps([2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
            await ws.recv()
            for i in range(40):
                await ws.send(json.dumps([2, f"m{i}", "MeterValues", {"connectorId": 1, "meterValue": [
                    {"timestamp": clock.now().isoformat(), "sampledValue": [{"value": str(i)}]}]}]))
                await ws.recv()
            await ws.close()
            assert len(csms.frames) <= 22 and csms.frame_log.count == 82
            assert len(csms.meter_values) <= 20 and csms.frames[-1].seq == 82
        loud = cli.build_csms(_args("--keep-frames", "0"), clock).frame_log
        assert loud.keep is None and loud._console

    clock.run(scenario())


def test_frames_api_filters_by_cp_and_since():
    clock = VirtualClock()

    async def scenario():
        from chargepoint.csms import TestCsms

        async with TestCsms(clock) as csms:
            for cp_id in ("A", "B"):
                ws = await open_ws(csms, cp_id)
                await ws.send(json.dumps([2, "1", "BootNotification",
                                          {"chargePointVendor": "V", "chargePointModel": "M"}]))
                await ws.recv()
                await clock.sleep(10)
                await ws.close()
            status, body = await http("GET", f"{csms.http_url}/api/frames?cp=B")
            assert status == 200 and [f["cp_id"] for f in body["frames"]] == ["B", "B"]
            assert body["last_seq"] == 4
            status, body = await http("GET", f"{csms.http_url}/api/frames?since=3")
            assert [f["seq"] for f in body["frames"]] == [4]
            status, body = await http("GET", f"{csms.http_url}/api/frames?since=2026-01-05T08:00:05Z")
            assert [f["cp_id"] for f in body["frames"]] == ["B", "B"]
            status, body = await http("GET", f"{csms.http_url}/api/frames?since=yesterday")
            assert status == 400 and body["field"] == "since"
            assert [f.message_type for f in csms.frames] == ["CALL", "CALLRESULT"] * 2

    clock.run(scenario())



def test_registered_as_chargepoint_subcommand():
    from chargepoint.cli import build_parser

    args = build_parser().parse_args(["csms", "--port", "0", "--boot", "rejected"])
    assert args.handler is cli._run and args.port == 0 and args.boot == "rejected"
