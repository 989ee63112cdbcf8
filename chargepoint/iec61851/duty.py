"""PWM duty cycle <-> current (IEC 61851-1 annex A, as SmartEVSE's SetCurrent implements it).

Currents are handled in whole deci-amperes, rounded *down*, so that the encoded current never exceeds
the allowed one.  Duty is in permille (1000 = constant +12 V, no PWM).
"""

from __future__ import annotations

MIN_SIGNAL_A = 6.0  # IEC minimum: a lower current is never signalled (stop via C1/B1 instead)
MAX_SIGNAL_A = 80.0


def to_deciamps(amps: float) -> int:
    """Whole deci-amperes, rounded down (tiny float noise such as 15.999999 counts as 16.0)."""
    return int(amps * 10 + 1e-6)


def duty_permille(amps: float) -> int:
    """Duty in permille that encodes ``amps``: 6-51 A -> A/0.6 %, 51-80 A -> A/2.5 + 64 %.

    Outside 6..80 A the result is clamped to the nearest end (never below the 6 A duty, 100 permille).
    """
    da = max(60, min(800, to_deciamps(amps)))
    if da <= 510:
        return da * 10 // 6
    return da * 10 // 25 + 640


def signalled_current(amps: float) -> float:
    """The current actually encoded for ``amps`` (clamped to 6..80 A, rounded down to 0.1 A)."""
    return max(60, min(800, to_deciamps(amps))) / 10.0


def current_from_duty(duty: int) -> float:
    """Inverse of :func:`duty_permille` as an EV decodes it (0 when the duty encodes no current)."""
    if duty < 100 or duty > 960:
        return 0.0
    if duty <= 850:
        return round(duty * 0.06, 1)
    return round((duty - 640) * 0.25, 1)
