"""Phase-count rules for contactor C2 (smartevse.md §3.2, §5.4, §5.7).

The timers themselves live in the manager; this module holds the fixed rules and the numbers.
"""

from __future__ import annotations

from chargepoint.energy.settings import EnableC2, Mode

#: Auto, Solar, 3P, severe import (IsumImport >= MinCurrent): 3P->1P timer (s).
SEVERE_IMPORT_SWITCH_S = 30.0
#: The 3P->1P switch fires when the timer's remaining time reaches this (s) (firmware: "<= 2").
SWITCH_1P_AT_REMAINING_S = 2.0
#: Auto, Solar, 1P, enough export: 1P->3P timer (s), firing at <= 3 s remaining.
SWITCH_3P_TIMER_S = 63.0
SWITCH_3P_AT_REMAINING_S = 3.0


def fixed_phases(mode: Mode, enable_c2: EnableC2) -> int | None:
    """The phase count the settings impose, or None when Auto in Solar decides dynamically.

    Not present / Always on -> 3; Always off -> 1; Solar off -> 1 in Solar else 3;
    Auto -> 3 in Normal and Smart (Smart "goes back to 3P"), dynamic in Solar.
    """
    if enable_c2 in (EnableC2.NOT_PRESENT, EnableC2.ALWAYS_ON):
        return 3
    if enable_c2 == EnableC2.ALWAYS_OFF:
        return 1
    if enable_c2 == EnableC2.SOLAR_OFF:
        return 1 if mode == Mode.SOLAR else 3
    return None if mode == Mode.SOLAR else 3


def start_phases(isum_da: int, min_current_a: int) -> int:
    """Auto + Solar in state B: 3 phases when the export ``-Isum >= 30*MinCurrent + 30`` dA
    (21 A summed for MinCurrent 6), otherwise 1."""
    return 3 if -isum_da >= 30 * min_current_a + 30 else 1


def upgrade_spare_a(min_current_a: int, max_current_a: int) -> int:
    """Export (A, summed) needed for the 1P->3P timer: ``3*(MinCurrent+1) - MaxCurrent``, 3 if negative."""
    spare = 3 * (min_current_a + 1) - max_current_a
    return 3 if spare < 0 else spare
