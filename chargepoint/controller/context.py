"""What every part of the controller shares: the settings with the values derived from them, the
connector states and the station-wide limits (private to the controller package)."""

from __future__ import annotations

from chargepoint.controller.connector import ConnectorState
from chargepoint.controller.types import ControllerSettings, SubState
from chargepoint.iec61851.duty import MAX_SIGNAL_A, MIN_SIGNAL_A
from hal.types import BoardCapabilities, PilotLevel

#: timer tolerance: an event loop may run a timer callback up to its clock resolution early
EPS = 1e-6
#: pilot levels with an EV connected (B, C, D) and requesting energy (C, D)
CONNECTED = (PilotLevel.V9, PilotLevel.V6, PilotLevel.V3)
REQUESTING = (PilotLevel.V6, PilotLevel.V3)
#: the states in which the contactors may be closed
ENERGISED = (SubState.C1, SubState.C2)


class Context:
    """Settings, capabilities and the derived constants; the connectors (index 0 unused), the
    limits set for connector 0 (every connector) and the time of the latest input."""

    __slots__ = (
        "board_owns",
        "capabilities",
        "conns",
        "global_limits",
        "lock_enabled",
        "max_phases",
        "min_current",
        "now",
        "rate_unread_cable",
        "settings",
    )

    def __init__(self, settings: ControllerSettings, capabilities: BoardCapabilities) -> None:
        if capabilities.connectors < 1:
            raise ValueError("capabilities.connectors must be >= 1")
        if not 6.0 <= settings.max_current_a <= MAX_SIGNAL_A:
            raise ValueError(f"max_current_a must be within 6..80 A, got {settings.max_current_a}")
        if settings.phases not in (1, 3):
            raise ValueError(f"phases must be 1 or 3, got {settings.phases}")
        self.settings = settings
        self.capabilities = capabilities
        #: the board runs the state machine, the contactors and the lock (follower mode)
        self.board_owns = capabilities.owns_state_machine
        self.min_current = max(MIN_SIGNAL_A, settings.min_current_a)
        self.lock_enabled = (
            settings.has_lock and capabilities.has_lock and not settings.fixed_cable and not self.board_owns
        )
        self.max_phases = 3 if (settings.phases == 3 and capabilities.phases == 3) else 1
        #: an EV without a PP reading gets the most conservative cable rating -- not with a fixed cable,
        #: nor on a board that owns the state machine: the SmartEVSE v4 CH32 reads PP itself, caps its
        #: PWM by the cable (MaxCapacity) and reports no PP, so 13 A here would cap every session
        self.rate_unread_cable = not settings.fixed_cable and not self.board_owns
        self.global_limits: dict[str, float] = {}
        #: monotonic time of the latest input (never goes back)
        self.now = 0.0
        self.conns: list[ConnectorState] = [ConnectorState(0)]
        for n in range(1, capabilities.connectors + 1):
            c = ConnectorState(n)
            c.phases.requested = c.phases.active = self.max_phases
            c.phases.c2_plan = self.c2_for(self.max_phases)
            if settings.fixed_cable:
                c.ev.cable_a = settings.max_current_a
            self.conns.append(c)

    @property
    def connectors(self) -> int:
        return len(self.conns) - 1

    def c2_for(self, phases: int) -> bool:
        """Whether C2 (L2+L3) closes for a session on ``phases`` phases."""
        return phases == 3 and self.max_phases == 3 and self.capabilities.has_c2

    def conn(self, n: int) -> ConnectorState:
        if not 1 <= n < len(self.conns):
            raise ValueError(f"connector must be 1..{self.connectors}, got {n}")
        return self.conns[n]

    def targets(self, n: int) -> list[ConnectorState]:
        """Connector ``n``, or every connector for 0."""
        if n == 0:
            return self.conns[1:]
        return [self.conn(n)]
