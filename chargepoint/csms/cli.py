"""``chargepoint csms``: run the test central system from the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from chargepoint.clock import Clock
from chargepoint.csms.behaviour import Behaviour, BehaviourError, parse_boot_status
from chargepoint.csms.frame_check import FrameCheck, FrameCheckUnavailable, load_schema_validator
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
    parser.add_argument("--keep-frames", type=int, default=100_000, metavar="N",
                        help="frames (and MeterValues, notifications) kept in memory for the HTTP API: the last "
                             "N (default 100000; 0 = all). The JSONL log gets every frame")
    parser.add_argument("--quiet", action="store_true",
                        help="no console line per frame (connections and errors are still logged): "
                             "for load tests with thousands of charge points")
    check = parser.add_argument_group(
        "schema check", "validate what charge points send against the official OCPP 1.6 schemas with the test "
                        "suite's independent validator (node + npm ocpp-rpc; run from a source checkout)")
    check.add_argument("--validate-sample", type=float, default=None, metavar="FRACTION",
                       help="check this fraction of the frames (1 = every frame, 0.01 = one in a hundred at random), "
                            "plus the first frame of every kind")
    check.add_argument("--validate-cps", type=float, default=0.0, metavar="FRACTION",
                       help="check every frame of this fraction of the charge points (a stable hash of the id)")
    check.add_argument("--validate-report", default=None, metavar="FILE",
                       help="write the counts and the first errors as JSON here (every 5 s and at the end)")


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
    if args.keep_frames < 0:
        raise BehaviourError("--keep-frames", f"must be >= 0 (0 = all), got {args.keep_frames}")
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
        console_log=not args.quiet,
        keep_frames=args.keep_frames or None,
    )


def build_frame_check(args: argparse.Namespace) -> FrameCheck | None:
    """The sample schema check the options ask for (None: no check); raises FrameCheckUnavailable."""
    sample, cps = args.validate_sample, args.validate_cps
    if sample is None and not cps and args.validate_report is None:
        return None
    for name, value in (("--validate-sample", sample), ("--validate-cps", cps)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise BehaviourError(name, f"must be a fraction 0..1, got {value:g}")
    validator = load_schema_validator()
    check = FrameCheck(validator.validate, sample=1.0 if sample is None and not cps else sample or 0.0,
                       cp_sample=cps, keep_errors=20, threaded=True)
    check.on_close = validator.close
    return check


async def _write_reports(check: FrameCheck, path: str, clock: Clock) -> None:
    while True:
        check.write(path)
        await clock.sleep(5.0)


async def main(args: argparse.Namespace, clock: Clock) -> int:
    """Run until SIGINT/SIGTERM (or cancellation); returns the exit code."""
    try:
        csms = build_csms(args, clock)
        check = build_frame_check(args)
    except BehaviourError as exc:
        print(f"chargepoint csms: {exc}")
        return 2
    except FrameCheckUnavailable as exc:
        print(f"chargepoint csms: --validate-*: {exc}")
        return 2
    reports = None
    if check is not None:
        csms.frame_log.listeners.append(check.on_frame)
        if args.validate_report:
            reports = asyncio.create_task(_write_reports(check, args.validate_report, clock))
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
        if check is not None:
            _finish_check(check, args.validate_report, reports)
    return 0


def _finish_check(check: FrameCheck, report: str | None, task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
    check.close()
    if report:
        check.write(report)
    s = check.summary()
    print(f"schema check: {s['checked']} of {s['seen']} frames checked ({s['charge_points']} charge points), "
          f"{s['failed']} failed, {s['dropped']} dropped" + (f"; first error: {s['errors'][0]}" if s["errors"] else ""),
          flush=True)


def _run(args: argparse.Namespace) -> int:
    from chargepoint.clock import RealClock

    clock = RealClock()
    return clock.run(main(args, clock))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``csms`` subcommand to the ``chargepoint`` command line."""
    parser = sub.add_parser("csms", help="run the scriptable test central system (OCPP 1.6J + HTTP API)")
    add_arguments(parser)
    parser.set_defaults(handler=_run)
