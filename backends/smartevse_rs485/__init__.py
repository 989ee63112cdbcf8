"""SmartEVSE units on the RS485 load-balancing bus, with this program as their master (issue 11).

Parts: :mod:`.protocol` (frames, registers, timing; pure), :mod:`.master` (the master's per-node
decisions; pure), :mod:`.bus` (pymodbus RTU/TCP, or a loopback for virtual time), :mod:`.bus_meters`
(mains and EV meters on the same bus), :mod:`.board` (hal.Board), :mod:`.options`, and
:mod:`.emulator` (nodes on a pty / TCP / loopback).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backends.smartevse_rs485.board import Rs485Board
from backends.smartevse_rs485.options import Rs485Options
from hal.clock import Clock

__all__ = ["Rs485Board", "Rs485Options", "create_backend"]


def create_backend(clock: Clock, options: Any) -> Rs485Board:
    """Build the master.  ``options``: :class:`Rs485Options` or a mapping (see :mod:`.options`)."""
    if isinstance(options, Rs485Options):
        opts = options
    elif isinstance(options, Mapping):
        opts = Rs485Options.from_mapping(options)
    else:
        raise ValueError(f"smartevse-rs485 options must be a mapping, got {type(options).__name__}")
    return Rs485Board(clock, opts)
