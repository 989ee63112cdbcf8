"""``chargepoint hil`` and ``chargepoint run`` as real processes.

1. ``chargepoint hil`` starts the emulator + EV meter and prints the exact ``chargepoint run``
   command; that command connects; ``plug`` and ``rfid`` on the hil's stdin start an OCPP session
   (embedded test CSMS) and /api/status shows Charging with the EV meter's energy growing.
2. ``chargepoint run`` against a serial port that does not exist yet and a meter nobody answers:
   clear error lines, retries, no traceback -- and it connects once the emulator appears there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp

from chargepoint.clock import RealClock

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """A child process whose merged output is collected line by line."""

    def __init__(self, proc: asyncio.subprocess.Process, clock: RealClock) -> None:
        self.proc = proc
        self.clock = clock
        self.lines: list[str] = []
        self._new = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, clock: RealClock, *args: str, stdin: bool = False) -> Proc:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "CHARGEPOINT_LOG_FORMAT": "console"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chargepoint", *args, cwd=ROOT, env=env,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        return cls(proc, clock)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))
            self._new.set()

    async def wait_line(self, needle: str, within_s: float = 15.0) -> str:
        deadline = self.clock.monotonic() + within_s
        while True:
            for line in self.lines:
                if needle in line:
                    return line
            left = deadline - self.clock.monotonic()
            if left <= 0 or self.proc.returncode is not None:
                tail = "\n".join(self.lines[-30:])
                raise AssertionError(f"{needle!r} not printed within {within_s} s; output:\n{tail}")
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await self.clock.wait_for(self._new.wait(), min(left, 0.5))

    async def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        await self.proc.stdin.drain()

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                await self.clock.wait_for(self.proc.wait(), 10.0)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await self.clock.wait_for(self._reader, 2.0)
        return self.proc.returncode or 0

    def text(self) -> str:
        return "\n".join(self.lines)


async def _status(session: aiohttp.ClientSession, port: int) -> dict[str, Any] | None:
    try:
        async with session.get(f"http://127.0.0.1:{port}/api/status") as resp:
            return dict(await resp.json())
    except aiohttp.ClientError:
        return None


async def _wait_status(clock: RealClock, session: aiohttp.ClientSession, port: int, pred: Any,
                       within_s: float, what: str) -> dict[str, Any]:
    deadline = clock.monotonic() + within_s
    last = None
    while clock.monotonic() < deadline:
        last = await _status(session, port)
        if last is not None and pred(last):
            return last
        await clock.sleep(0.2)
    raise AssertionError(f"/api/status: not within {within_s} s: {what}; last: {last}")


def test_hil_then_run_charges_over_ocpp(tmp_path: Path) -> None:
    clock = RealClock()
    http = _free_port()

    async def main() -> None:
        hil = await Proc.start(clock, "hil", "--link", str(tmp_path / "evse"), "--config-out",
                               str(tmp_path / "hil.toml"), "--http", f"127.0.0.1:{http}", "--csms-port", "0",
                               "--csms-http-port", "0", "--data-dir", str(tmp_path / "data"),
                               "--poll-interval", "0.5", "--ev-current", "32", stdin=True)
        run: Proc | None = None
        try:
            await hil.wait_line("ready")
            command = shlex.split((await hil.wait_line("run: ")).split("run: ", 1)[1])
            assert command[:6] == ["chargepoint", "run", "--backend", "smartevse", "--serial", str(tmp_path / "evse")]
            assert command[6:] == ["--config", str(tmp_path / "hil.toml")]
            assert "[[meters]]" in (tmp_path / "hil.toml").read_text()
            run = await Proc.start(clock, *command[1:])
            async with aiohttp.ClientSession() as session:
                await _wait_status(clock, session, http, lambda s: s["ocpp"].get("registration") == "Accepted",
                                   20.0, "registered at the embedded CSMS")
                await hil.send("plug")
                await _wait_status(clock, session, http, lambda s: s["connectors"][0]["status"] == "Preparing",
                                   5.0, "Preparing after plug")
                await hil.send("rfid 01020304050607A8")
                status = await _wait_status(clock, session, http,
                                            lambda s: s["connectors"][0]["status"] == "Charging",
                                            10.0, "Charging after the card")
                c = status["connectors"][0]
                assert c["authorized"] and c["transaction_id"] is not None
                assert c["offered_current_a"] == 16.0 and c["faults"] == []
                await _wait_status(clock, session, http, lambda s: s["connectors"][0]["current_a"][0] == 16.0
                                   and s["connectors"][0]["energy_wh"] > 1.0, 8.0,
                                   "the Modbus EV meter reads 16 A and counts energy")
                await hil.send("meters")
                await hil.wait_line("ev: 16.0/16.0/16.0 A")
                await hil.send("unplug")
                await _wait_status(clock, session, http, lambda s: s["connectors"][0]["transaction_id"] is None
                                   and s["connectors"][0]["current_a"][0] == 0.0, 10.0, "transaction ended")
                # the transaction's energy is the Modbus EV meter's register (float Wh, not the CH32's whole Wh)
                csms_api = (await run.wait_line("test CSMS API")).split()[3]
                async with session.get(f"{csms_api}/api/frames") as resp:
                    frames = (await resp.json())["frames"]
                calls = {f["action"]: f["payload"] for f in frames if f["message_type"] == "CALL"}
                stop = calls["StopTransaction"]
                meter_start = calls["StartTransaction"]["meterStart"]
                assert stop["meterStop"] > meter_start
                await hil.send("meters")
                ev_line = await hil.wait_line("ev: 0.0/0.0/0.0 A")
                meter_wh = float(ev_line.split(" W ")[1].split(" Wh")[0])
                # meterStop is the last reading before the stop: at most one 0.5 s poll (1.5 Wh at 11 kW)
                # plus rounding behind the meter's final register
                assert meter_wh - 2.5 <= stop["meterStop"] <= meter_wh + 0.5
        finally:
            if run is not None:
                await run.stop()
            await hil.stop()
        assert run is not None
        assert "Traceback" not in run.text() and "Traceback" not in hil.text()

    clock.run(main())


def test_run_with_missing_port_and_dead_meter_reports_and_retries(tmp_path: Path) -> None:
    clock = RealClock()
    http = _free_port()
    dead_meter = _free_port()  # nothing listens there
    base = tmp_path / "base.toml"
    base.write_text(f'[csms]\nport = 0\nhttp_port = 0\n[chargepoint]\ndata_dir = "{tmp_path / "data"}"\n'
                    '[backend]\nwatchdog_s = 1.5\n')
    link = tmp_path / "evse"

    async def main() -> None:
        run = await Proc.start(
            clock, "run", "--config", str(base), "--backend", "smartevse", "--serial", str(link), "--baud", "500000",
            "--meter", f"type=sdm630,transport=tcp,host=127.0.0.1,port={dead_meter},role=ev,poll_interval_s=0.5",
            "--http", f"127.0.0.1:{http}")
        hil: Proc | None = None
        try:
            line = await run.wait_line("cannot open CH32 serial port", 10.0)
            assert str(link) in line and "retrying" in line
            await clock.sleep(1.0)
            assert run.proc.returncode is None  # still running, still trying
            hil = await Proc.start(clock, "hil", "--link", str(link), "--meter-transport", "none",
                                   "--config-out", str(tmp_path / "unused.toml"), stdin=True)
            await hil.wait_line("ready")
            line = await run.wait_line("modbus.connect_failed", 15.0)
            assert f"127.0.0.1:{dead_meter}" in line and "retry_in_s" in line
            async with aiohttp.ClientSession() as session:
                status = await _wait_status(clock, session, http, lambda s: "board" not in s["connectors"][0]["faults"],
                                            15.0, "the board link came up once the port existed")
            assert status["backend"] == "smartevse"
        finally:
            code = await run.stop()
            if hil is not None:
                await hil.stop()
        assert "Traceback" not in run.text()
        assert code == 0

    clock.run(main())


def test_hil_answers_every_command_of_one_write(tmp_path: Path) -> None:
    """Two commands arriving in one read are both answered at once (not the second one only when
    more input comes)."""

    async def main(clock: RealClock) -> None:
        hil = await Proc.start(clock, "hil", "--link", str(tmp_path / "tty"), "--meter-transport", "tcp",
                               "--config-out", str(tmp_path / "hil.toml"), stdin=True)
        try:
            await hil.wait_line("ready", 30.0)
            before = len(hil.lines)
            await hil.send("meters\nmeters")  # one write, two lines
            deadline = clock.monotonic() + 5.0
            while sum("ev:" in line for line in hil.lines[before:]) < 2:
                assert clock.monotonic() < deadline, hil.text()
                await clock.sleep(0.05)
        finally:
            await hil.stop()

    clock = RealClock()
    clock.run(main(clock))
