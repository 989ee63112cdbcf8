"""Interfaces of the hardware abstraction layer: one small protocol per hardware part.

A backend implements :class:`Board`.  The runtime reads the board's event stream and feeds it
to the controller; it executes the controller's commands through the part interfaces.  Nothing
here has an implementation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from hal.types import BoardCapabilities, HalEvent, MeterReading, PilotMode


@runtime_checkable
class ControlPilot(Protocol):
    """Control pilot output of one connector (EVerest: evse_board_support pwm_on/pwm_off/pwm_F)."""

    async def set_pilot(self, mode: PilotMode, duty_permille: int, current_a: float) -> None: ...


@runtime_checkable
class Contactors(Protocol):
    """Contactor C1 (L1, or all phases) and C2 (L2+L3).  Feedback arrives as ContactorFeedback events."""

    async def set_contactors(self, c1: bool, c2: bool) -> None: ...


@runtime_checkable
class ConnectorLock(Protocol):
    """Cable lock actuator.  Feedback arrives as LockFeedback events."""

    async def set_locked(self, locked: bool) -> None: ...


@runtime_checkable
class PowerMeter(Protocol):
    """kWh meter of a connector.  Readings arrive as MeterReading events; ``latest`` is the last one."""

    def latest(self) -> MeterReading | None: ...


@runtime_checkable
class Rcd(Protocol):
    """Residual-current monitor.  Trips arrive as RcdReading events."""

    async def self_test(self) -> None: ...

    async def reset(self) -> None: ...


@runtime_checkable
class ConnectorHardware(Protocol):
    """The parts of one connector.  ``lock``, ``meter`` and ``rcd`` are None when absent."""

    pilot: ControlPilot
    contactors: Contactors
    lock: ConnectorLock | None
    meter: PowerMeter | None
    rcd: Rcd | None


@runtime_checkable
class Board(Protocol):
    """A complete EVSE board: capabilities, per-connector parts and one event stream."""

    capabilities: BoardCapabilities

    async def start(self) -> None:
        """Open ports, do handshakes; after it returns, events() yields the initial readings."""
        ...

    async def close(self) -> None: ...

    def connector(self, number: int) -> ConnectorHardware: ...

    def events(self) -> AsyncIterator[HalEvent]:
        """Board -> controller events, in order, for the board's lifetime."""
        ...

    async def request_state(self, connector: int, state: str) -> None:
        """Only for boards with ``owns_state_machine``: ask the board for a state change."""
        ...
