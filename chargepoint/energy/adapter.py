"""Glue for the runtime: controller snapshots -> EvStatus, HAL meter readings -> the manager's feeds.

Pure functions over the controller's and HAL's value types; no I/O.
"""

from __future__ import annotations

from chargepoint.controller.types import ConnectorSnapshot, SubState
from chargepoint.energy.types import LIMIT_NAMES, EvStatus


def ev_status_from_snapshot(snapshot: ConnectorSnapshot, *, max_current_a: float,
                            hardware_max_a: float | None = None, drawn_a: float | None = None) -> EvStatus:
    """The EvStatus of one connector from the controller's snapshot.

    * ``charging``: substate C2 (or D) without a fault -- C1 (PWM withdrawn, stopping) does not count, as
      in the firmware, nor a faulted connector (its energy is withheld; e.g. an RS485 node gone silent,
      which the firmware master sets to A / 0 A).
    * ``cap_a``: min of ``max_current_a`` (configured MaxCurrent), ``hardware_max_a``, the cable ampacity
      and every named limit in the snapshot that is *not* the energy manager's own (ocpp, override,
      any other name an integration sets), so the balancer never allocates above what the others allow.
    * ``drawn_a``: given, or the highest phase of the snapshot's meter reading (0 without a meter).
    """
    caps = [max_current_a]
    if hardware_max_a is not None:
        caps.append(hardware_max_a)
    if snapshot.cable_ampacity_a is not None:
        caps.append(snapshot.cable_ampacity_a)
    caps.extend(v for k, v in snapshot.limits.items() if k not in LIMIT_NAMES and v is not None)
    if drawn_a is None:
        drawn_a = max((abs(x) for x in snapshot.meter.current_a), default=0.0) if snapshot.meter else 0.0
    return EvStatus(
        connector=snapshot.connector,
        connected=snapshot.ev_connected,
        charging=snapshot.ev_connected and snapshot.substate in (SubState.C2, SubState.D) and not snapshot.faults,
        phases=snapshot.phases if snapshot.phases in (1, 3) else 3,
        offered_a=max(0.0, snapshot.offered_current_a),
        drawn_a=drawn_a,
        cap_a=max(0.0, min(caps)),
    )
