"""Issue 12, point 10: the AuthorizationKey is masked on the parsed message, not on its spelling: a
key written with a JSON escape (``"Authorization\\u004bey"``), extra fields between key and value, or
a refused frame with an extra field never show the value in the log or in the trace."""

from __future__ import annotations

import asyncio
import io

import pytest

from chargepoint.app import run_chargepoint
from chargepoint.clock import VirtualClock
from chargepoint.config import load_config
from chargepoint.csms import TestCsms
from chargepoint.logs import configure_logging
from chargepoint.redaction import redact
from tests.core.test_secrets import restore_logging  # noqa: F401 - the fixture, shared

SECRET = "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"


@pytest.mark.parametrize("text", [
    f'[2,"1","ChangeConfiguration",{{"key":"Authorization\\u004bey","value":"{SECRET}"}}]',
    f'[2,"1","ChangeConfiguration",{{"key":"\\u0041uthorizationKey","value":"{SECRET}"}}]',
    f'[2,"1","ChangeConfiguration",{{"key":"AuthorizationKey","x":1,"value":"{SECRET}"}}]',
    f'[2,"1","ChangeConfiguration",{{"value":"{SECRET}","key":"AuthorizationKey"}}]',
    f'receive message [2,"1","ChangeConfiguration",{{"key":"AuthorizationKey","value":"{SECRET}"}}] (raw)',
    f"payload {{'key': 'AuthorizationKey', 'extra': 1, 'value': '{SECRET}'}} failed validation",
    f"'[2,\"1\",\"ChangeConfiguration\",{{\"value\":\"{SECRET}\",\"key\":\"Authorization\\\\u004bey\"",  # repr, cut
    f'{{"frame":"[2,\\"1\\",\\"ChangeConfiguration\\",{{\\"key\\":\\"AuthorizationKey\\",\\"value\\":\\"{SECRET}\\"}}]"}}',
])
def test_redact_masks_whatever_the_spelling(text):
    assert SECRET not in redact(text)


def test_redact_leaves_other_frames_alone():
    for text in ('[2,"1","ChangeConfiguration",{"key":"HeartbeatInterval","value":"30"}]',
                 '[3,"1",{"status":"Accepted"}]', "plain log line \\u00e9 without secrets", "[[[[{{{{"):
        assert redact(text) == text


@pytest.mark.usefixtures("restore_logging")
def test_escaped_and_extra_field_frames_never_reach_logs_or_traces(tmp_path):
    clock = VirtualClock()
    stream = io.StringIO()
    configure_logging(clock, "json", "debug", stream=stream)
    trace = tmp_path / "trace.jsonl"
    answers: list[str] = []

    async def main():
        csms = TestCsms(clock, "127.0.0.1", 0, http_port=None)
        await csms.start()
        cfg = load_config(env={}, overrides={
            "ocpp.csms_url": csms.url, "http.listen": "", "log.record": str(trace),
            "chargepoint.data_dir": str(tmp_path / "data")})
        ready, holder = asyncio.Event(), []
        task = asyncio.create_task(run_chargepoint(cfg, clock, ready=ready, runtime_holder=holder))
        await ready.wait()
        session = await csms.wait_for_connection("CP-1", 30)
        await clock.sleep(2)
        n = len(csms.frames)
        # an extra field: refused (FormationViolation / OccurenceConstraint) -- still masked
        await session.send_raw(
            f'[2,"extra-1","ChangeConfiguration",{{"key":"AuthorizationKey","bogus":1,"value":"{SECRET}"}}]')
        await clock.sleep(1)
        # escaped key name: a valid ChangeConfiguration of the AuthorizationKey (JSON escapes are the
        # same string), accepted (the CP then reconnects) -- and its value masked everywhere
        await session.send_raw(
            f'[2,"esc-1","ChangeConfiguration",{{"key":"Authorization\\u004bey","value":"{SECRET}"}}]')
        await clock.sleep(5)
        answers.extend(f.raw for f in csms.frames[n:] if isinstance(f.raw, str))
        got = await csms.call("CP-1", "GetConfiguration", {})
        assert SECRET not in str(got.payload)
        holder[0].stop_requested.set()
        await task
        await csms.stop()

    clock.run(main())
    assert any('"esc-1",{"status":"Accepted"}' in a.replace(" ", "") for a in answers), answers
    assert any('"extra-1"' in a and a.startswith("[4") for a in answers), answers
    logs = stream.getvalue()
    assert "esc-1" in logs and "extra-1" in logs  # both frames were logged ...
    assert SECRET not in logs  # ... without the key
    recorded = trace.read_text()
    assert "esc-1" in recorded and SECRET not in recorded
