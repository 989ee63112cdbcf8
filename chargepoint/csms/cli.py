"""``chargepoint csms``: run the test central system from the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from chargepoint.clock import Clock
from chargepoint.csms.behaviour import Behaviour, BehaviourError, parse_boot_status
from chargepoint.csms.server import TestCsms


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9000, help="websocket port (default 9000)")
    parser.add_argument("--http-port", type=int, default=9001, help="HTTP control API port (default 9001)")
    parser.add_argument("--ids", default=None, help="comma-separated charge point ids to accept (default: any)")
    parser.add_argument("--password", action="append", default=[], metavar="ID=PW",
                        help="Basic-auth password for a charge point id (repeatable)")
    parser.add_argument("--boot", default="accepted", choices=["accepted", "pending", "rejected"],
                        help="BootNotification answer (default accepted)")
    parser.add_argument("--heartbeat", type=int, default=300, help="heartbeat interval in s (default 300)")
    parser.add_argument("--boot-retry", type=int, default=60,
                        help="interval in s sent with a Pending/Rejected boot answer (default 60)")
    parser.add_argument("--whitelist", default=None, metavar="TAG[,TAG...]",
                        help="accepted idTags (unknown tags are Invalid); default: accept every tag")
    parser.add_argument("--log-file", default="frames.jsonl", help="JSONL frame log (default frames.jsonl)")


def behaviour_from_args(args: argparse.Namespace) -> Behaviour:
    behaviour = Behaviour(
        boot_status=parse_boot_status(args.boot, "--boot"),
        heartbeat_interval=args.heartbeat,
        boot_retry_interval=args.boot_retry,
    )
    if args.heartbeat < 0:
        raise BehaviourError("--heartbeat", "must be >= 0")
    if args.whitelist is not None:
        behaviour.update({"whitelist": [t.strip() for t in args.whitelist.split(",") if t.strip()]})
    return behaviour


def passwords_from_args(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        cp_id, sep, password = item.partition("=")
        if not sep or not cp_id or not password:
            raise BehaviourError("--password", f"expected ID=PASSWORD, got {item!r}")
        out[cp_id] = password
    return out


def build_csms(args: argparse.Namespace, clock: Clock) -> TestCsms:
    ids = [i.strip() for i in args.ids.split(",") if i.strip()] if args.ids else None
    return TestCsms(
        clock,
        args.host,
        args.port,
        http_port=args.http_port,
        ids=ids,
        passwords=passwords_from_args(args.password),
        behaviour=behaviour_from_args(args),
        log_file=args.log_file or None,
    )


async def main(args: argparse.Namespace, clock: Clock) -> int:
    """Run until SIGINT/SIGTERM (or cancellation); returns the exit code."""
    try:
        csms = build_csms(args, clock)
    except BehaviourError as exc:
        print(f"chargepoint csms: {exc}")
        return 2
    try:
        await csms.start()
    except OSError as exc:
        print(f"chargepoint csms: cannot listen: {exc}")
        return 1
    print(f"OCPP 1.6J endpoint {csms.url}/<charge point id>; HTTP API {csms.http_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await csms.stop()
    return 0


def _run(args: argparse.Namespace) -> int:
    from chargepoint.clock import RealClock

    clock = RealClock()
    return clock.run(main(args, clock))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``csms`` subcommand to the ``chargepoint`` command line."""
    parser = sub.add_parser("csms", help="run the scriptable test central system (OCPP 1.6J + HTTP API)")
    add_arguments(parser)
    parser.set_defaults(handler=_run)
