"""`python -m backends.modbus.simulator` runs a standalone simulated meter that our client can poll."""

from __future__ import annotations

import asyncio
import re
import sys

import pytest

from backends.modbus import METERS, ModbusMeter, RtuTransport, TcpTransport
from backends.modbus.link import Transport
from chargepoint.clock import RealClock
from tests.modbus.helpers import EventLog


@pytest.mark.parametrize("where", ["tcp", "pty"])
async def test_cli_serves_a_meter(where: str) -> None:
    clock = RealClock()
    args = ["--type", "4", "--address", "7", "--current", "12", "11", "-10", "--energy-wh", "5000"]
    args += ["--tcp", "127.0.0.1:0"] if where == "tcp" else ["--rtu-pty"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "backends.modbus.simulator", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = (await clock.wait_for(proc.stdout.readline(), 20.0)).decode()
        assert "Eastron SDM630 (address 7)" in line
        transport: Transport
        if where == "tcp":
            match = re.search(r"tcp://127\.0\.0\.1:(\d+)", line)
            assert match, line
            transport = TcpTransport("127.0.0.1", int(match.group(1)))
        else:
            match = re.search(r"client to (\S+)", line)
            assert match, line
            transport = RtuTransport(match.group(1))
        meter = ModbusMeter(clock, METERS["sdm630"], transport, 7, "ev", 1, poll_interval_s=0.05)
        log = EventLog(clock, meter)
        await meter.start()
        try:
            reading = await log.next_reading(10.0)
        finally:
            await meter.close()
        assert reading.current_a == (12.0, 11.0, -10.0)
        assert reading.energy_import_wh >= 5000.0
    finally:
        proc.terminate()
        await proc.wait()
