"""Backends by name: the built-in ones plus any registered under the entry-point group
``smartevse_chargepoint.backends`` (a callable ``create_backend(clock, options) -> hal.Board``)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from hal.clock import Clock
from hal.interfaces import Board

ENTRY_POINT_GROUP = "smartevse_chargepoint.backends"

BUILTIN: dict[str, str] = {
    "sim": "backends.sim:create_backend",
    "smartevse": "backends.smartevse:create_backend",
    "smartevse-rs485": "backends.smartevse_rs485:create_backend",
}


class UnknownBackend(LookupError):
    pass


def available() -> dict[str, str]:
    """Name -> "module:function" of every backend that can be chosen."""
    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def factory(name: str) -> Callable[..., Board]:
    targets = available()
    if name not in targets:
        raise UnknownBackend(f"backend.name = {name!r}: unknown backend; available: {', '.join(sorted(targets))}")
    module_name, _, attr = targets[name].partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr or "create_backend")


def create(name: str, clock: Clock, options: Mapping[str, Any]) -> Board:
    """The board of backend ``name``: ``create_backend(clock, options)`` of its module."""
    return factory(name)(clock, options)
