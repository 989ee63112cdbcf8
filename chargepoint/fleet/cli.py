"""``chargepoint fleet``: many simulated charge points in one process (or ``--workers K`` processes).

    chargepoint fleet --count 1000 --csms-url ws://127.0.0.1:9000/ocpp --ramp 100/s
    chargepoint fleet --template fleet.toml --shard 0/4 --http 127.0.0.1:8700 --export latencies.csv

The command line wins over the template's ``[fleet]`` table.  SIGINT/SIGTERM stop the fleet cleanly
(open transactions stay in each member's store and are recovered by the next start).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import cast

from chargepoint.clock import Clock, RealClock
from chargepoint.config import parse_hostport
from chargepoint.fleet.template import FleetTemplate, TemplateError, load_template, parse_ramp


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--template", metavar="FILE", help="fleet template (TOML or YAML)")
    p.add_argument("--count", type=int, help="number of charge points")
    p.add_argument("--first", type=int, help="first number of the id range")
    p.add_argument("--id", dest="id_pattern", metavar="PATTERN", help="id pattern, e.g. CP-{n:05d}")
    p.add_argument("--csms-url", metavar="URL", help="CSMS endpoint (ws:// or wss://)")
    p.add_argument("--ramp", metavar="RATE", help="boot rate, e.g. 100/s or 600/min (0: all at once)")
    p.add_argument("--shard", default="0/1", metavar="I/N", help="take the I-th of N slices of the id range")
    p.add_argument("--workers", type=int, default=1, metavar="K", help="worker processes (each a shard)")
    p.add_argument("--data-dir", default="fleet-data", metavar="DIR", help="the members' state (default fleet-data)")
    p.add_argument("--store", default="shared", choices=("shared", "per-cp"),
                   help="one SQLite database for all members with group commits (default), or a file per CP")
    p.add_argument("--http", default="127.0.0.1:8700", metavar="HOST:PORT", help="HTTP API ('' = off)")
    p.add_argument("--export", metavar="FILE", help="write per-CP latencies at the end (.json or .csv)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--seed", type=int, default=1, help="random seed of the behaviour")
    p.add_argument("--interval", type=float, default=2.0, metavar="S", help="console refresh (0 = off)")
    p.add_argument("--log-level", default="error", choices=("debug", "info", "warning", "error"))
    p.add_argument("--loop", default="auto", choices=("auto", "uvloop", "asyncio"),
                   help="event loop: uvloop (libuv: measured a sixth less CPU per idle member, a twentieth per charging one), asyncio's "
                        "own, or auto (uvloop where it is installed; the default)")


def build_template(args: argparse.Namespace) -> FleetTemplate:
    template = load_template(args.template) if args.template else FleetTemplate()
    for name in ("count", "first"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise TemplateError(f"--{name}", f"must be >= 0, got {value}")
    if args.csms_url is not None and not args.csms_url.startswith(("ws://", "wss://")):
        raise TemplateError("--csms-url", f"must start with ws:// or wss://, got {args.csms_url!r}")
    return template.with_overrides(
        count=args.count, first=args.first, id_pattern=args.id_pattern, csms_url=args.csms_url,
        ramp_per_s=parse_ramp(args.ramp, "--ramp") if args.ramp is not None else None)


async def run_fleet(args: argparse.Namespace, clock: Clock, template: FleetTemplate) -> int:
    from aiohttp import web

    from chargepoint.fleet.api import build_app
    from chargepoint.fleet.console import format_summary, run_console, stop_console
    from chargepoint.fleet.export import export_latencies
    from chargepoint.fleet.fleet import Fleet, parse_shard

    fleet = Fleet(clock, template, Path(args.data_dir), shard=parse_shard(args.shard), seed=args.seed,
                  store=args.store)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    runner: web.AppRunner | None = None
    if args.http:
        host, port = parse_hostport(args.http, "--http")
        runner = web.AppRunner(build_app(fleet), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
    first, last = (fleet.numbers[0], fleet.numbers[-1]) if len(fleet.numbers) else (0, -1)
    print(f"fleet: {len(fleet.members)} charge points ({template.cp_id(first) if last >= first else '-'} .. "
          f"{template.cp_id(last) if last >= first else '-'}) -> {template.csms_url}, ramp "
          f"{template.ramp_per_s:g}/s" + (f" ({fleet.ramp_per_s:g}/s for shard {args.shard})" if fleet.shard[1] > 1 else "")
          + (f", HTTP API http://{args.http}/api" if args.http else ""), flush=True)
    await fleet.start()
    console = asyncio.create_task(run_console(fleet, clock, args.interval)) if args.interval > 0 else None
    try:
        if args.duration is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(args.duration):
                    await stop.wait()
        else:
            await stop.wait()
    finally:
        stop_console(console)
        summary = fleet.summary()
        print(format_summary(summary), flush=True)
        await fleet.stop()
        if runner is not None:
            await runner.cleanup()
        if args.export:
            path = export_latencies(fleet.members.values(), args.export, summary)
            print(f"latencies written to {path}", flush=True)
    return 0


def run_workers(args: argparse.Namespace, argv: list[str]) -> int:
    """Start ``--workers`` child processes, each one shard (HTTP port + k, export file -k)."""
    from chargepoint.fleet.fleet import parse_shard

    i, n = parse_shard(args.shard)
    k = args.workers
    procs = []
    for j in range(k):
        child = [a for a in _strip(argv, ("--workers", "--shard", "--http", "--export"))]
        child += ["--shard", f"{i * k + j}/{n * k}"]
        if args.http:
            host, port = parse_hostport(args.http, "--http")
            child += ["--http", f"{host}:{port + j}"]
        else:
            child += ["--http", ""]
        if args.export:
            stem, dot, ext = args.export.rpartition(".")
            child += ["--export", f"{stem}-{j}.{ext}" if dot else f"{args.export}-{j}"]
        procs.append(subprocess.Popen([sys.executable, "-m", "chargepoint", "fleet", *child]))

    def forward(signum: int, _frame: object) -> None:  # SIGINT/SIGTERM: each worker stops cleanly
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # a worker that fails (its HTTP port taken, its store unreadable) stops the others: a fleet
        # with a shard missing would load the CSMS with part of what was asked and look fine
        failed = False
        while [p.poll() for p in procs].count(None):  # poll every one: any() would stop at the first alive
            if not failed and any(p.returncode not in (None, 0) for p in procs):
                failed = True
                bad = next(p for p in procs if p.returncode not in (None, 0))
                print(f"chargepoint fleet: worker {procs.index(bad)} exited with {bad.returncode}; "
                      "stopping the others", file=sys.stderr, flush=True)
                forward(signal.SIGTERM, None)
            with contextlib.suppress(subprocess.TimeoutExpired):  # a blocking wait, a 0.2 s look-around
                next(p for p in procs if p.returncode is None).wait(timeout=0.2)
        codes = [p.returncode for p in procs]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return max(codes, default=0)


def _strip(argv: list[str], options: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        name = a.split("=", 1)[0]
        if name in options:
            skip = "=" not in a
            continue
        out.append(a)
    return out


def _run(args: argparse.Namespace) -> int:
    template = build_template(args)  # errors before anything starts
    if args.workers < 1:
        raise TemplateError("--workers", f"must be >= 1, got {args.workers}")
    if args.workers > 1:
        argv = sys.argv[sys.argv.index("fleet") + 1:] if "fleet" in sys.argv else []
        return run_workers(args, argv)
    from chargepoint.logs import configure_logging

    loop_factory = event_loop_factory(args.loop)
    clock = RealClock()
    configure_logging(clock, "json", args.log_level)
    os.makedirs(args.data_dir, exist_ok=True)
    return clock.run(run_fleet(args, clock, template), loop_factory=loop_factory)


def event_loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """``--loop``: uvloop's loop factory, or None for asyncio's own loop."""
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if name == "uvloop":
            raise TemplateError("--loop", "uvloop is not installed (pip install uvloop)") from None
        return None
    return cast("Callable[[], asyncio.AbstractEventLoop]", uvloop.new_event_loop)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("fleet", help="run many simulated charge points against one CSMS (load tests)")
    add_arguments(parser)
    parser.set_defaults(handler=_run)
