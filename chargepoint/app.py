"""Builds the runtime for ``chargepoint run`` from a validated configuration."""

from __future__ import annotations

from chargepoint.clock import Clock
from chargepoint.config import Config
from chargepoint.runtime import Runtime


def build_runtime(config: Config, clock: Clock) -> Runtime:
    return Runtime(config=config, clock=clock)
