"""Command line: ``chargepoint run | config | csms | replay | hil | fleet``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import sys
from collections.abc import Sequence
from typing import Any

from chargepoint.clock import Clock, RealClock
from chargepoint.config import Config, ConfigError, describe, load_config
from chargepoint.config_check import check_components
from chargepoint.logs import configure_logging


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run the charge point (default: sim backend + embedded test CSMS + local API)",
        description="Run the charge point. With no --csms-url the embedded test CSMS is started and used.",
    )
    p.add_argument("--config", metavar="FILE", help="TOML configuration file")
    p.add_argument("--csms-url", dest="ocpp.csms_url", metavar="URL", help="CSMS endpoint (ws:// or wss://)")
    p.add_argument("--id", dest="chargepoint.id", metavar="ID", help="charge point identity")
    p.add_argument("--password", dest="ocpp.password", metavar="KEY", help="AuthorizationKey (profile 1/2)")
    p.add_argument("--security-profile", dest="ocpp.security_profile", type=int, choices=(0, 1, 2, 3))
    p.add_argument("--backend", dest="backend.name", metavar="NAME", help="hardware backend (sim, smartevse, smartevse-rs485)")
    p.add_argument("--serial", dest="backend.serial", metavar="PORT", help="serial port (smartevse backend)")
    p.add_argument("--baud", dest="backend.baudrate", type=int, metavar="BAUD",
                   help="serial baud rate (smartevse backend, default 500000; smartevse-rs485: 9600)")
    p.add_argument("--nodes", dest="backend.nodes", metavar="A,B,...",
                   help="smartevse-rs485: node addresses on the bus (LoadBl 2..8), one connector each")
    p.add_argument("--meter", dest="meter_specs", action="append", default=[], metavar="KEY=VALUE,...",
                   help="add a Modbus meter, e.g. type=sdm630,transport=tcp,host=192.0.2.5,port=502,role=ev "
                        "(keys of a [[meters]] table; repeatable)")
    p.add_argument("--connectors", dest="backend.connectors", type=int, metavar="N")
    p.add_argument("--max-current", dest="controller.max_current_a", type=float, metavar="A")
    p.add_argument("--http", dest="http.listen", metavar="HOST:PORT", help="local HTTP API ('' = off)")
    p.add_argument("--data-dir", dest="chargepoint.data_dir", metavar="DIR")
    p.add_argument("--record", dest="log.record", metavar="FILE", help="write a JSONL trace for replay")
    p.add_argument("--log-format", dest="log.format", choices=("auto", "console", "json"))
    p.add_argument("--log-level", dest="log.level", choices=("debug", "info", "warning", "error"))
    p.set_defaults(handler=_cmd_run)


def _add_config(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("config", help="print the defaults, or validate a configuration file")
    p.add_argument("--check", metavar="FILE", help="validate FILE (+ environment) and print the result")
    p.set_defaults(handler=_cmd_config)


#: the other subcommands: name -> (module whose ``register(sub)`` adds it, its one-line help).  A
#: command's module is imported only when that command is parsed: ``chargepoint run`` does not load
#: the CSMS (cryptography, the compiled schemas), replay, HIL or fleet code -- 12 MB of RSS it has no use for
COMMANDS: dict[str, tuple[str, str]] = {
    "csms": ("chargepoint.csms.cli", "run the scriptable test central system (OCPP 1.6J + HTTP API)"),
    "replay": ("scenarios.cli", "replay scenario files or recorded traces against the real stack in virtual time"),
    "hil": ("chargepoint.harness.hil_cli",
            "run the SmartEVSE v4 emulator on a pty and simulated Modbus meters (hardware in the loop)"),
    "fleet": ("chargepoint.fleet.cli", "run many simulated charge points against one CSMS (load tests)"),
}


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names (the first word that is not an option), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line.  With ``argv``, only the command it names is built in full (the others are
    listed with their help, for ``--help``); without, every command."""
    parser = argparse.ArgumentParser(
        prog="chargepoint",
        description="OCPP 1.6J charge point for SmartEVSE hardware, with a simulated board and EV.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run(sub)
    _add_config(sub)
    wanted = None if argv is None else _command_of(argv)
    for name, (module, help_text) in COMMANDS.items():
        if argv is not None and name != wanted:
            sub.add_parser(name, help=help_text, add_help=False)  # named in --help; never run like this
            continue
        try:
            mod = __import__(module, fromlist=["register"])
        except ImportError:
            continue
        mod.register(sub)
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if "." in k and v is not None}


def _cmd_config(args: argparse.Namespace) -> int:
    if not args.check:
        print(describe())
        return 0
    cfg = load_config(args.check)
    check_components(cfg)
    print(f"{args.check}: OK (backend {cfg.backend.name}, {cfg.backend.connectors} connector(s))")
    return 0


def parse_meter_spec(text: str) -> dict[str, Any]:
    """``type=sdm630,transport=tcp,host=h,port=502,role=ev`` -> a ``[[meters]]`` table (numbers as numbers)."""
    table: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--meter {text!r}", f"{part!r} is not KEY=VALUE")
        raw = value.strip()
        number: Any = raw
        for kind in (int, float):
            try:
                number = kind(raw)
                break
            except ValueError:
                continue
        table[key.strip()] = number
    return table


def _cmd_run(args: argparse.Namespace) -> int:
    config = load_config(args.config, overrides=_overrides(args))
    extra = tuple(parse_meter_spec(spec) for spec in getattr(args, "meter_specs", []) or [])
    if extra:
        config = dataclasses.replace(config, meters=(*config.meters, *extra))
    check_components(config)
    clock = RealClock()
    configure_logging(clock, config.log.format, config.log.level)
    return clock.run(run_chargepoint(config, clock))


async def run_chargepoint(config: Config, clock: Clock) -> int:
    from chargepoint.app import run_chargepoint as run_app

    holder: list = []
    loop = asyncio.get_running_loop()

    def request_stop() -> None:
        if holder:
            holder[0].stop_requested.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, request_stop)
        except (NotImplementedError, RuntimeError):
            pass
    return await run_app(config, clock, runtime_holder=holder)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except ConfigError as exc:
        print(f"chargepoint: configuration error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from chargepoint.app import StartupError

        if isinstance(exc, StartupError):
            print(f"chargepoint: {exc}", file=sys.stderr)
            return 1
        raise
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
