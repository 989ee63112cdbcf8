"""structlog set-up: a console renderer on a TTY, JSON lines otherwise; timestamps from the Clock."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from chargepoint.clock import Clock
from chargepoint.redaction import redact_event

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class ClockTimeStamper:
    """Adds ``timestamp`` (ISO 8601 UTC) taken from the project's clock (virtual time in replays)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def __call__(self, _logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        event["timestamp"] = self.clock.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return event


def configure_logging(clock: Clock, fmt: str = "auto", level: str = "info", stream: Any = None) -> None:
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if getattr(stream, "isatty", lambda: False)() else "json"
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=getattr(stream, "isatty", lambda: False)())
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        ClockTimeStamper(clock),
    ]
    tail: list[Any] = [redact_event]  # after the stdlib message is merged into the event
    # stdlib loggers (ocpp, websockets, pymodbus, our own logging users) render the same way
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    for noisy in ("websockets", "ocpp", "pymodbus", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, _LEVELS[level]))
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            *tail,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
