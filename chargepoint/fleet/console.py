"""The live console summary: one line per refresh (a TTY rewrites the line in place)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any, TextIO

from chargepoint.clock import Clock
from chargepoint.fleet.fleet import Fleet


def format_summary(s: dict[str, Any]) -> str:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    return (f"cps {s['running']}/{s['charge_points']}  connected {s['connected']}  booted {s['booted']}  "
            f"charging {s['charging']}  errors {s['errors']}  msgs/s {s['msgs_per_s']:.0f}  "
            f"csms p50 {ms(s['latency_p50_ms'])} ms p99 {ms(s['latency_p99_ms'])} ms")


async def run_console(fleet: Fleet, clock: Clock, interval: float = 2.0, stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    tty = bool(getattr(out, "isatty", lambda: False)())
    while True:
        await clock.sleep(interval)
        line = format_summary(fleet.summary())
        if tty:
            out.write("\r\x1b[K" + line)
        else:
            out.write(line + "\n")
        out.flush()


def stop_console(task: asyncio.Task[None] | None, stream: TextIO | None = None) -> None:
    if task is not None:
        task.cancel()
    out = stream or sys.stdout
    if getattr(out, "isatty", lambda: False)():
        out.write("\n")
