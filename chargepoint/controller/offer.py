"""The offered current: the target the limits leave (and which limit binds it), and its report."""

from __future__ import annotations

from chargepoint.controller.connector import ConnectorState
from chargepoint.controller.context import Context
from chargepoint.controller.limits import ENERGY_LIMITS, Limit
from chargepoint.controller.types import ControllerOutput, OfferedCurrentChanged
from hal.types import PilotMode

_PWM = PilotMode.PWM
_ENERGY = frozenset(ENERGY_LIMITS)


def _energy_last(item: tuple[str, float]) -> bool:
    return item[0] in _ENERGY


def update_target(ctx: Context, c: ConnectorState) -> None:
    """min(MaxCurrent, cable, hardware, every named limit) and the name of the limit that binds."""
    best: float = ctx.settings.max_current_a
    name: str = Limit.MAX
    cable = c.ev.cable_a
    if cable is not None and cable < best:
        best, name = cable, Limit.CABLE
    hw = ctx.capabilities.max_current_a
    if hw < best:
        best, name = hw, Limit.HARDWARE
    offer = c.offer
    # Energy-manager limits follow the other caps (it never allocates above them): on a tie the
    # other limit is the cause, so energy names are looked at last (strict < keeps the first).
    named = sorted([*ctx.global_limits.items(), *offer.limits.items()], key=_energy_last)
    for k, v in named:
        if v < best:
            best, name = v, k
    offer.target_a = best
    offer.binding = name


def effective_limits(ctx: Context, c: ConnectorState) -> dict[str, float]:
    """The named limits that apply to ``c`` (the lower one where a station-wide and a per-connector
    limit of one name both exist)."""
    limits = dict(ctx.global_limits)
    for k, v in c.offer.limits.items():
        limits[k] = min(v, limits.get(k, v))
    return limits


def report_offered(c: ConnectorState, out: list[ControllerOutput]) -> None:
    """OfferedCurrentChanged when the current in the PWM or the binding limit changed."""
    cmd = c.cmd
    offered = cmd.pwm_a if cmd.pilot_mode is _PWM else 0.0
    key = (offered, c.offer.binding)
    if key != c.offer.reported:
        c.offer.reported = key
        out.append(OfferedCurrentChanged(c.number, offered, c.offer.binding))
