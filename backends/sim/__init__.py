"""Simulated SmartEVSE board and EV, the default backend.

* :class:`SimModel` -- pure synchronous model (board + EV + meter), stepped with time passed in;
* :class:`SimBoard` -- the async ``hal.Board`` around it, driven by a :class:`~chargepoint.clock.Clock`;
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backends.sim.board import SimBoard
from backends.sim.connector import FAULTS
from backends.sim.ev import EvModel
from backends.sim.model import SimModel
from backends.sim.options import SimOptions
from hal.clock import Clock

__all__ = ["FAULTS", "EvModel", "SimBoard", "SimModel", "SimOptions", "create_backend"]


def create_backend(clock: Clock, options: Mapping[str, Any] | None = None) -> SimBoard:
    """Entry point ``backends.sim:create_backend``: a simulated board configured by ``options``
    (connectors, max_current_a, phases, has_lock, fixed_cable, meter_interval_s, ev_reaction_s, ...)."""
    return SimBoard(clock, SimOptions.from_mapping(options))
