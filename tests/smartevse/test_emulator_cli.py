"""``python -m backends.smartevse.emulator --link PATH`` in its own process; our board connects
through the symlink, like ``chargepoint run --backend smartevse --serial PATH`` would."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from backends.smartevse import create_backend
from hal.types import BoardStateReport
from tests.smartevse.conftest import EventLog


async def test_cli_emulator_over_symlink(clock, tmp_path: Path) -> None:
    link = tmp_path / "ttySmartEVSE"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "backends.smartevse.emulator", "--link", str(link), "--plug",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        first = await clock.wait_for(proc.stdout.readline(), 10.0)
        assert first.startswith(b"/dev/pts/") and str(link).encode() in first
        assert link.is_symlink()
        board = create_backend(clock, {"serial": str(link), "start_timeout_s": 3.0})
        events = EventLog(board, clock)
        await board.start()
        try:
            assert board.link.is_up
            await board.set_authorization(1, True)
            await events.wait(lambda e: isinstance(e, BoardStateReport) and e.state == "B", within_s=2.0)
            proc.stdin.write(b"status\n")
            await proc.stdin.drain()
            reply = await clock.wait_for(proc.stdout.readline(), 2.0)
            assert reply.startswith(b"state=1 access=1")
        finally:
            await events.stop()
            await board.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        await clock.wait_for(proc.wait(), 5.0)
    assert proc.returncode == 0
    assert not link.exists()  # the emulator removed its symlink
