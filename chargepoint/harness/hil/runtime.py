"""Build the production runtime (:class:`chargepoint.runtime.Runtime`) on a running :class:`HilStack`.

The configuration is the one ``chargepoint hil`` writes for ``chargepoint run`` (backend smartevse on
the emulator's pty, the stack's ``[[meters]]``), loaded through :func:`chargepoint.config.load_config`,
so tests and benchmarks exercise the same wiring as the command line.  No OCPP, no HTTP.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from chargepoint.clock import Clock
from chargepoint.config import load_config
from chargepoint.harness.hil.stack import HilStack
from chargepoint.runtime import Runtime

#: EV meter polling for seconds-long runs: 200 ms polls, comm loss after 1 s.
FAST_METER: dict[str, float] = {"poll_interval_s": 0.2, "timeout_s": 0.2, "comm_loss_s": 1.0}
#: Link watchdog for seconds-long runs.  The CH32 reports once a second (@ErrorFlags, ...), so a
#: watchdog of 1 s races its own report period on a loaded machine: half a period of margin.
HIL_WATCHDOG_S = 1.5


async def start_runtime(clock: Clock, stack: HilStack, work_dir: Path, *, watchdog_s: float = HIL_WATCHDOG_S,
                        meter: dict[str, float] | None = None, backend: dict[str, Any] | None = None) -> Runtime:
    """A started runtime connected to ``stack``.  ``backend``: extra smartevse options (``rcmon``,
    ``EVMeterType``, ...), passed through the runtime's free ``[sim]`` table."""
    path = stack.write_config(work_dir / "hil.toml", http_listen="", data_dir=str(work_dir),
                              watchdog_s=watchdog_s, **(FAST_METER if meter is None else meter))
    config = replace(load_config(path, env={}), sim={"start_timeout_s": 3.0, **(backend or {})})
    runtime = Runtime(config=config, clock=clock)
    try:
        await runtime.start()
    except BaseException:
        if runtime.station is not None:
            await runtime.stop()
        raise
    return runtime
