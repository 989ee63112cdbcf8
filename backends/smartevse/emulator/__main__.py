"""Command line: run the CH32 emulator on a pty until interrupted.

    python -m backends.smartevse.emulator --link /tmp/smartevse [--plug] [--ev-current 16]

Commands on stdin (one per line): ``plug``, ``unplug``, ``request on|off``, ``current <A>``,
``rcd``, ``rcd_reset``, ``temp <C>``, ``panic [s]``, ``silent [s]``, ``talk``, ``restart``,
``garbage``, ``truncated``, ``rfid <hex>``, ``status``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from backends.smartevse.emulator.runner import Ch32Emulator
from chargepoint.clock import RealClock


def _command(emu: Ch32Emulator, line: str) -> str:
    words = line.split()
    if not words:
        return ""
    cmd, args = words[0].lower(), words[1:]
    try:
        if cmd == "plug":
            emu.plug()
        elif cmd == "unplug":
            emu.unplug()
        elif cmd == "request":
            emu.set_ev(requesting=(args[:1] != ["off"]))
        elif cmd == "current":
            emu.set_ev(max_current_a=float(args[0]))
        elif cmd == "rcd":
            emu.inject("rcd_trip")
        elif cmd == "rfid":
            emu.inject("rfid", tag=args[0])
        elif cmd in ("rcd_reset", "temp", "panic", "silent", "talk", "restart", "garbage", "truncated"):
            kw: dict[str, object] = {}
            if cmd == "temp":
                emu.inject("temperature", celsius=int(args[0]))
                return "ok"
            if args and cmd in ("panic", "silent"):
                kw["seconds"] = float(args[0])
            emu.inject(cmd, **kw)
        elif cmd == "status":
            fw = emu.firmware
            return (f"state={fw.state} access={fw.settings.get('Access')} duty={fw.duty} c1={fw.c1} "
                    f"c2={fw.c2} flags={fw.error_flags} temp={fw.temperature_c} ev_wh={fw.ev_energy_wh:.1f}")
        else:
            return f"unknown command {cmd!r}"
    except (IndexError, ValueError) as exc:
        return f"bad arguments for {cmd!r}: {exc}"
    return "ok"


async def _main(args: argparse.Namespace) -> None:
    clock = RealClock()
    emu = Ch32Emulator(clock, link=args.link, baudrate=args.baudrate)
    emu.set_ev(max_current_a=args.ev_current, phases=args.phases)
    path = await emu.start()
    if args.plug:
        emu.plug()
    print(path if not args.link else f"{path} (symlink {args.link})", flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def _stdin() -> None:
        line = sys.stdin.readline()
        if not line:
            loop.remove_reader(sys.stdin)
            return
        reply = _command(emu, line)
        if reply:
            print(reply, flush=True)

    with contextlib.suppress(OSError, ValueError, NotImplementedError):
        loop.add_reader(sys.stdin, _stdin)
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await emu.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m backends.smartevse.emulator",
                                     description="SmartEVSE v4 CH32 mainboard emulator on a pty")
    parser.add_argument("--link", help="create a symlink to the pty at this path")
    parser.add_argument("--baudrate", type=int, default=500_000)
    parser.add_argument("--plug", action="store_true", help="start with the EV plugged in")
    parser.add_argument("--ev-current", type=float, default=16.0, help="EV on-board charger limit (A)")
    parser.add_argument("--phases", type=int, default=3, choices=(1, 3))
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args))


if __name__ == "__main__":
    main()
