"""``chargepoint hil``: the SmartEVSE v4 emulator on a pty plus simulated Modbus meters, as one process.

    chargepoint hil --link /tmp/smartevse --config-out /tmp/hil.toml [--meter-transport tcp|rtu|none]
                    [--mains] [--plug] [--ev-current 16]

It starts a :class:`chargepoint.harness.hil.HilStack`, writes a configuration (``[backend]`` smartevse on the
pty, one ``[[meters]]`` table per simulated meter) and prints the exact ``chargepoint run`` command
that connects to it, then ``ready``.  Commands on stdin, one per line: the emulator's (``plug``,
``unplug``, ``request on|off``, ``current <A>``, ``rcd``, ``rcd_reset``, ``temp <C>``, ``panic [s]``,
``silent [s]``, ``talk``, ``restart``, ``garbage``, ``truncated``, ``rfid <hex>``, ``status``) plus
``meter <ev|mains> <none|silent|exception|short>`` and ``meters`` (the meters' readings).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from backends.modbus.simulator import Fault as MeterFault
from backends.smartevse.emulator.__main__ import _command as emulator_command
from chargepoint.clock import Clock, RealClock
from chargepoint.harness.hil.stack import HilOptions, HilStack


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "hil",
        help="run the SmartEVSE v4 emulator on a pty and simulated Modbus meters (hardware in the loop)",
        description="Start the CH32 mainboard emulator on a pseudo-terminal and simulated Modbus "
                    "meters following its EV; print the `chargepoint run` command that connects to them.",
    )
    p.add_argument("--link", metavar="PATH", help="symlink to the emulator's pty (a stable --serial path)")
    p.add_argument("--config-out", metavar="FILE",
                   help="where to write the generated TOML (default: a file in the temp directory)")
    p.add_argument("--meter-type", default="sdm630", help="simulated meter model (default sdm630)")
    p.add_argument("--meter-transport", choices=("tcp", "rtu", "none"), default="tcp",
                   help="serve the meters on Modbus TCP (127.0.0.1), RTU on a pty pair, or not at all")
    p.add_argument("--meter-port", type=int, default=0, metavar="N",
                   help="TCP port of the EV meter (0 = any free one; the mains meter takes N+1)")
    p.add_argument("--mains", action="store_true", help="also simulate a mains meter (house load + EV)")
    p.add_argument("--plug", action="store_true", help="start with the EV plugged in")
    p.add_argument("--ev-current", type=float, default=16.0, metavar="A", help="EV on-board charger limit")
    p.add_argument("--phases", type=int, choices=(1, 3), default=3, help="EV phases")
    p.add_argument("--http", default="127.0.0.1:8080", metavar="HOST:PORT",
                   help="local API address written into the generated config")
    p.add_argument("--csms-port", type=int, default=None, metavar="N",
                   help="embedded test CSMS port written into the config (0 = any free one)")
    p.add_argument("--csms-http-port", type=int, default=None, metavar="N")
    p.add_argument("--data-dir", default="", metavar="DIR", help="chargepoint.data_dir for the run")
    p.add_argument("--poll-interval", type=float, default=1.0, metavar="S", help="meter poll interval")
    p.add_argument("--nodes", type=int, default=0, metavar="N",
                   help="instead: N SmartEVSE RS485 nodes (+ mains meter) on one bus, for --backend smartevse-rs485")
    p.set_defaults(handler=_cmd_hil)


def _cmd_hil(args: argparse.Namespace) -> int:
    clock = RealClock()
    if args.nodes:
        with contextlib.suppress(KeyboardInterrupt):
            return clock.run(_run_nodes(clock, args))
        return 130
    try:
        options = HilOptions(link=args.link, meter_type=args.meter_type, meter_transport=args.meter_transport,
                             meter_port=args.meter_port, mains=args.mains,
                             ev={"max_current_a": args.ev_current, "phases": args.phases})
    except ValueError as exc:
        print(f"chargepoint hil: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        return clock.run(_run(clock, options, args))
    return 130


async def _run(clock: Clock, options: HilOptions, args: argparse.Namespace) -> int:
    stack = HilStack(clock, options)
    try:
        await stack.start()
    except OSError as exc:
        path = exc.filename2 or exc.filename
        where = f" ({path})" if path else ""
        print(f"chargepoint hil: cannot start{where}: {exc.strerror or exc} (check --link / --meter-port)",
              file=sys.stderr)
        with contextlib.suppress(Exception):
            await stack.stop()
        return 1
    try:
        config_path = Path(args.config_out) if args.config_out else Path(
            tempfile.mkstemp(prefix="chargepoint-hil-", suffix=".toml")[1])
        stack.write_config(config_path, http_listen=args.http, data_dir=args.data_dir,
                           csms_port=args.csms_port, csms_http_port=args.csms_http_port,
                           poll_interval_s=args.poll_interval)
        if args.plug:
            stack.emulator.plug()
        print(_banner(stack, config_path), flush=True)
        await _serve_stdin(stack)
    finally:
        await stack.stop()
    return 0


async def _run_nodes(clock: Clock, args: argparse.Namespace) -> int:
    from chargepoint.harness.hil.rs485 import Rs485Hil

    try:
        hil = Rs485Hil(clock, args.nodes, link=args.link)
    except ValueError as exc:
        print(f"chargepoint hil: {exc}", file=sys.stderr)
        return 2
    await hil.start()
    try:
        config_path = Path(args.config_out) if args.config_out else Path(
            tempfile.mkstemp(prefix="chargepoint-hil-", suffix=".toml")[1])
        hil.write_config(config_path, http_listen=args.http, data_dir=args.data_dir)
        print(hil.banner(config_path), flush=True)
        await _serve_stdin(hil)
    finally:
        await hil.stop()
    return 0


def _banner(stack: HilStack, config_path: Path) -> str:
    link = f" (symlink {stack.options.link})" if stack.options.link else ""
    lines = [f"CH32 emulator (SmartEVSE v4 mainboard) on {stack.pty_path}{link}, "
             f"{stack.options.baudrate} 8N1"]
    for role, m in stack.meters.items():
        lines.append(f"{role} meter {m.meter.definition.name} (address {m.meter.address}) on {m.endpoint()}")
    lines.append(f"config written to {config_path}")
    command = ["chargepoint", "run", "--backend", "smartevse", "--serial", stack.serial_path,
               "--config", str(config_path)]
    lines.append(f"run: {shlex.join(command)}")
    lines.append("stdin: plug | unplug | rfid <hex> | rcd | temp <C> | panic [s] | silent [s] | talk | "
                 "restart | garbage | truncated | meter <ev|mains> <none|silent|exception|short> | "
                 "meters | status")
    lines.append("ready")
    return "\n".join(lines)


def command(stack: HilStack, line: str) -> str:
    """One stdin command -> its reply ("ok", a status line or a message naming the problem)."""
    words = line.split()
    if not words:
        return ""
    if words[0] == "meter":
        if len(words) != 3 or words[1] not in stack.meters:
            return f"usage: meter <{'|'.join(stack.meters) or 'no meters'}> <none|silent|exception|short>"
        try:
            stack.meter(words[1]).set_fault(MeterFault(words[2]))
        except ValueError:
            return f"unknown meter fault {words[2]!r}; one of none, silent, exception, short"
        return "ok"
    if words[0] == "meters":
        parts = []
        for role, m in stack.meters.items():
            v = m.meter.current_values()
            parts.append(f"{role}: {v.current_a[0]:.1f}/{v.current_a[1]:.1f}/{v.current_a[2]:.1f} A "
                         f"{v.power_w:.0f} W {v.energy_import_wh:.1f} Wh fault={m.meter.fault}")
        return "; ".join(parts) or "no meters"
    return emulator_command(stack.emulator, line)


async def _serve_stdin(stack: Any) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    pending = bytearray()
    fd = sys.stdin.fileno() if hasattr(sys.stdin, "fileno") else -1

    def on_line() -> None:
        # read what is there straight from the descriptor: every complete line in it is a command
        # (readline() would keep a second line in Python's buffer until more input arrived)
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b""
        if not chunk:  # stdin closed: keep serving until a signal
            loop.remove_reader(sys.stdin)
            return
        pending.extend(chunk)
        while b"\n" in pending:
            raw, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            text = raw.decode("utf-8", "replace")
            reply = stack.command(text) if hasattr(stack, "command") else command(stack, text)
            if reply:
                print(reply, flush=True)

    readers: list[Any] = []
    with contextlib.suppress(OSError, ValueError, NotImplementedError):
        loop.add_reader(sys.stdin, on_line)
        readers.append(sys.stdin)
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for r in readers:
            with contextlib.suppress(Exception):
                loop.remove_reader(r)
