"""SmartEVSE v4 backend: the CH32 mainboard over its 500 kbit/s UART (we take the ESP32's place).

Parts: :mod:`.protocol` (parser/encoder), :mod:`.link` (port, handshake, watchdog, reconnection),
:mod:`.board` (hal.Board mapping), :mod:`.options`, and :mod:`.emulator` (the CH32 on a pty).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backends.smartevse.board import SmartEvseV4Board
from backends.smartevse.options import DEFAULT_CONFIG, SmartEvseOptions
from hal.clock import Clock

__all__ = ["DEFAULT_CONFIG", "SmartEvseOptions", "SmartEvseV4Board", "create_backend"]


def create_backend(clock: Clock, options: Any) -> SmartEvseV4Board:
    """Build the board.  ``options``: a :class:`SmartEvseOptions` or a mapping with ``port`` (or
    ``serial``), ``baudrate`` (500000), ``watchdog_s`` (2.0), ``start_timeout_s``, ``rcmon`` and any
    configuration-burst variable by its protocol name (``MaxCurrent``, ``MinCurrent``, ``Lock``,
    ``Config``, ``EnableC2``, ``EVMeterType``, ...).  Raises ValueError naming a bad option."""
    if isinstance(options, SmartEvseOptions):
        opts = options
    elif isinstance(options, Mapping):
        opts = SmartEvseOptions.from_mapping(options)
    else:
        raise ValueError(f"smartevse options must be a mapping or SmartEvseOptions, got {type(options).__name__}")
    return SmartEvseV4Board(clock, opts)
