"""A typed face of ``ocpp.routing.on`` (the library ships no type information)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from ocpp.routing import on

F = TypeVar("F", bound=Callable[..., Any])


def on_action(action: str, *, skip_schema_validation: bool = False) -> Callable[[F], F]:
    """``@on(action)``: route the CSMS's CALL ``action`` to the decorated handler."""
    return cast(Callable[[F], F], on(action, skip_schema_validation=skip_schema_validation))
