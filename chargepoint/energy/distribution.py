"""Sharing the balanced total among the charging connectors (smartevse.md §5.4 "Distribution").

Pure integer arithmetic in deci-amperes, as the firmware does it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Share:
    """One active connector: its cap (``BalancedMax``) and whether it is in the Solar start phase."""

    connector: int
    cap_da: int
    solar_start: bool = False


def distribute(total_da: int, shares: list[Share], min_da: int) -> dict[int, int]:
    """Split ``total_da`` over ``shares``.

    1. A connector in its Solar start phase gets exactly ``min_da``; a connector whose cap is at or
       below the current average gets its cap; each is removed and the average recomputed.
    2. The rest share what remains equally (integer division).
    3. Nobody gets more than its cap, and (unless its cap is lower) nobody gets less than ``min_da``:
       pausing is the shortage logic's job, not the distribution's.
    """
    result: dict[int, int] = {}
    remaining = list(shares)
    left = total_da
    while remaining:
        average = left // len(remaining)
        pick = next((s for s in remaining if s.solar_start or s.cap_da <= average), None)
        if pick is None:
            break
        amount = min(min_da, pick.cap_da) if pick.solar_start else pick.cap_da
        result[pick.connector] = amount
        left -= amount
        remaining.remove(pick)
    if remaining:
        average = left // len(remaining)
        for s in remaining:
            result[s.connector] = average
    for s in shares:
        result[s.connector] = min(s.cap_da, max(min_da, result[s.connector]))
    return result
