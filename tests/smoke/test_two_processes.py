"""Smoke test of the docker-compose pair without Docker: `chargepoint csms` and `chargepoint run`
as two real processes; plug in, charge, unplug over the local HTTP API, and the CSMS frame log
holds one complete transaction."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)


def _start(args: list[str], out: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "chargepoint", *args],
        stdout=out.open("w"), stderr=subprocess.STDOUT, env=env,
    )


def _wait_for_line(path: Path, pattern: str, proc: subprocess.Popen, timeout: float = 30.0) -> re.Match:
    deadline = time.monotonic() + timeout
    rx = re.compile(pattern)
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        m = rx.search(text)
        if m:
            return m
        if proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode}:\n{text[-3000:]}")
        time.sleep(0.1)
    raise AssertionError(f"no line matching {pattern!r} within {timeout} s:\n{path.read_text()[-3000:]}")


def _http(method: str, url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(url, data=data if method == "POST" else None, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _wait_status(api: str, predicate, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = _http("GET", f"{api}/api/status")
        if predicate(last):
            return last
        time.sleep(0.2)
    raise AssertionError(f"status never matched; last: {json.dumps(last, indent=1)}")


def test_csms_and_chargepoint_processes_complete_a_transaction(tmp_path):
    frames = tmp_path / "frames.jsonl"
    csms_out, cp_out = tmp_path / "csms.out", tmp_path / "cp.out"
    csms = _start(["csms", "--host", "127.0.0.1", "--port", "0", "--http-port", "0", "--log-file", str(frames)],
                  csms_out)
    cp = None
    try:
        m = _wait_for_line(csms_out, r"(ws://127\.0\.0\.1:\d+/ocpp)/<charge point id>; HTTP API (http://127\.0\.0\.1:\d+)", csms)
        ws_url, csms_http = m.group(1), m.group(2)
        cp = _start(["run", "--csms-url", ws_url, "--id", "SMOKE-1", "--http", "127.0.0.1:0",
                     "--data-dir", str(tmp_path / "data"), "--log-format", "json"], cp_out)
        api = _wait_for_line(cp_out, r"local API\s+(http://127\.0\.0\.1:\d+)/api/status", cp).group(1)
        _wait_status(api, lambda s: s["ocpp"]["connected"] and s["ocpp"]["registration"] == "Accepted")

        _http("POST", f"{api}/api/sim/connectors/1/plug", {"cable_a": 32})
        _http("POST", f"{api}/api/sim/rfid", {"id_tag": "SMOKE-TAG"})
        charging = _wait_status(api, lambda s: s["connectors"][0]["status"] == "Charging")
        conn = charging["connectors"][0]
        assert conn["contactor_closed"] is True and conn["transaction_id"] is not None
        time.sleep(3)  # let some energy flow
        _http("POST", f"{api}/api/sim/connectors/1/unplug")
        _wait_status(api, lambda s: s["connectors"][0]["status"] == "Available"
                     and s["connectors"][0]["transaction_id"] is None)

        cps = _http("GET", f"{csms_http}/api/cps")
        assert "SMOKE-1" in json.dumps(cps)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            # the CSMS is writing the file as we read it: only whole lines (the last may be half-written)
            lines = frames.read_text().split("\n")[:-1]
            log = [json.loads(line) for line in lines if line.strip()]
            raws = [json.loads(r["raw"]) for r in log if "raw" in r]
            actions = [r[2] for r in raws if r[0] == 2]
            if "StopTransaction" in actions:
                break
            time.sleep(0.2)
        assert actions.index("BootNotification") < actions.index("StartTransaction") < actions.index(
            "StopTransaction")
        start = next(r for r in raws if r[0] == 2 and r[2] == "StartTransaction")
        stop = next(r for r in raws if r[0] == 2 and r[2] == "StopTransaction")
        start_conf = next(r for r in raws if r[0] == 3 and r[1] == start[1])
        assert start[3]["idTag"] == "SMOKE-TAG"
        assert stop[3]["transactionId"] == start_conf[2]["transactionId"]
        assert stop[3]["meterStop"] > start[3]["meterStart"]
        assert stop[3].get("reason") == "EVDisconnected"
    finally:
        for proc in (cp, csms):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (cp, csms):
            if proc is not None:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    raise AssertionError(f"{proc.args} did not stop on SIGTERM") from None
