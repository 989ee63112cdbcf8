"""The AuthorizationKey is write-only: a ChangeConfiguration that sets it never shows the value in
the charge point's logs (the `ocpp` library logs every raw frame) nor in a recorded trace."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest
import structlog

from chargepoint.app import run_chargepoint
from chargepoint.clock import VirtualClock
from chargepoint.config import load_config
from chargepoint.csms import TestCsms
from chargepoint.logs import configure_logging
from chargepoint.redaction import redact

SECRET = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def test_redact_masks_both_key_orders_and_leaves_other_keys():
    assert SECRET not in redact(f'{{"key":"AuthorizationKey","value":"{SECRET}"}}')
    assert SECRET not in redact(f'{{"value": "{SECRET}", "key": "AuthorizationKey"}}')
    assert redact('{"key":"HeartbeatInterval","value":"30"}') == '{"key":"HeartbeatInterval","value":"30"}'


def test_authorization_key_never_reaches_logs_or_traces(tmp_path, restore_logging):
    clock = VirtualClock()
    stream = io.StringIO()
    configure_logging(clock, "json", "debug", stream=stream)
    trace = tmp_path / "trace.jsonl"

    async def main():
        csms = TestCsms(clock, "127.0.0.1", 0, http_port=None)
        await csms.start()
        cfg = load_config(env={}, overrides={
            "ocpp.csms_url": csms.url, "http.listen": "", "log.record": str(trace),
            "chargepoint.data_dir": str(tmp_path / "data")})
        ready, holder = asyncio.Event(), []
        task = asyncio.create_task(run_chargepoint(cfg, clock, ready=ready, runtime_holder=holder))
        await ready.wait()
        await csms.wait_for_connection("CP-1", 30)
        await clock.sleep(2)
        out = await csms.call("CP-1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": SECRET})
        assert out.status == "result"
        await clock.sleep(5)
        got = await csms.call("CP-1", "GetConfiguration", {})
        assert SECRET not in str(got.payload)
        holder[0].stop_requested.set()
        await task
        await csms.stop()

    clock.run(main())
    logs = stream.getvalue()
    assert "ChangeConfiguration" in logs  # the frame was logged ...
    assert SECRET not in logs  # ... without the key
    recorded = trace.read_text()
    assert "ChangeConfiguration" in recorded and SECRET not in recorded
