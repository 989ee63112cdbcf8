"""``chargepoint run`` loads what a charge point uses, nothing more: not the code of the other
commands (test CSMS, replay, HIL emulators, fleet) and not ``cryptography`` before a certificate is
seen.  Together they were 12 MB of RSS per charge point (65.8 MB against 53.9 MB before fleet mode;
benchmarks/fleet_bench.py compares them).  Checked on a real process booted against a real CSMS,
from its own ``python -X importtime`` list."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from chargepoint.clock import RealClock
from chargepoint.csms import IN, TestCsms

ROOT = Path(__file__).resolve().parents[2]
#: packages a registered, idle ``chargepoint run`` (sim backend, an external CSMS) must not import
NOT_LOADED = ("chargepoint.csms", "chargepoint.fleet", "chargepoint.harness", "scenarios", "cryptography",
              "backends.smartevse_rs485", "pymodbus", "yaml")


def _imported(stderr: str) -> set[str]:
    """Module names from ``-X importtime`` lines: ``import time: self | cumulative | name``."""
    out = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            out.add(line.rsplit("|", 1)[1].strip())
    return out


def test_a_run_imports_neither_the_other_commands_nor_cryptography(tmp_path: Path) -> None:
    clock = RealClock()

    async def main() -> set[str]:
        csms = TestCsms(clock, http_port=None, console_log=False, ping_interval=None)
        await csms.start()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-X", "importtime", "-m", "chargepoint", "run", "--csms-url", csms.url,
            "--id", "IMPORTS-1", "--http", "", "--data-dir", str(tmp_path / "data"), "--log-level", "error",
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            await csms.wait_for_frame(lambda f: f.direction == IN and f.cp_id == "IMPORTS-1"
                                      and f.action == "StatusNotification", timeout=60.0)
            await clock.sleep(1.0)  # registered and idle: whatever it loads after the boot, too
        finally:
            proc.terminate()
            _, err = await proc.communicate()
            await csms.stop()
        return _imported(err.decode(errors="replace"))

    modules = clock.run(main())
    assert "chargepoint.ocpp.client" in modules and "backends.sim.board" in modules  # the list is read right
    loaded = sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in NOT_LOADED))
    assert loaded == [], loaded
