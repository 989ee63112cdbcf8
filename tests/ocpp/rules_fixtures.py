"""Connector snapshots for the pure OCPP rule tests (no station, no loop)."""

from __future__ import annotations

from chargepoint.controller.types import ConnectorSnapshot, Fault, IecState, SubState

_IEC = {SubState.A: IecState.A, SubState.B1: IecState.B, SubState.B2: IecState.B, SubState.C1: IecState.C,
        SubState.C2: IecState.C, SubState.E: IecState.E, SubState.F: IecState.F}


def snap(sub: SubState = SubState.A, *, available: bool = True, faults: frozenset[Fault] = frozenset(),
         offered: float | None = None, connector: int = 1) -> ConnectorSnapshot:
    iec = _IEC[sub]
    connected = iec in (IecState.B, IecState.C, IecState.D)
    pwm = sub in (SubState.B2, SubState.C2)
    return ConnectorSnapshot(
        connector=connector, iec_state=iec, substate=sub, ev_connected=connected,
        ev_requesting=iec in (IecState.C, IecState.D), authorized=pwm, available=available,
        offered_current_a=(16.0 if pwm else 0.0) if offered is None else offered, target_current_a=16.0,
        binding_limit="max", pwm_duty_permille=267 if pwm else 1000, contactor_c1=sub == SubState.C2,
        contactor_c2=False, phases=3, locked=connected, cable_ampacity_a=32.0, faults=faults)
