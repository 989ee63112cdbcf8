"""Where one profile stands in time: which period applies at an instant, and the next instant it may change.

Times are integer microseconds since the Unix epoch (exact arithmetic, no float drift).  A profile is
*active* at ``t`` when ``validFrom <= t < validTo`` and its schedule covers ``t``:

* Absolute: from ``startSchedule`` (the engine fills a missing one with validFrom or the install time)
  for ``duration`` seconds (no duration: forever; the last period holds after the periods end).
* Relative: like Absolute, anchored on the connector's transaction start; without a transaction the
  anchor is the evaluation instant ("now"), i.e. the first period applies.
* Recurring: the schedule restarts every 24 h (Daily) or 7 d (Weekly) at ``startSchedule``'s time of day
  (and weekday), in both directions of time; periods starting at or beyond the recurrence length are
  ignored; a ``duration`` shorter than the recurrence leaves a gap (fall through to lower stack levels)
  until the next restart.  Without ``startSchedule`` the anchor is validFrom, else 00:00 UTC (Daily) or
  Monday 00:00 UTC (Weekly).
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from chargepoint.smartcharging.model import ChargingProfile, Kind, Recurrency, SchedulePeriod

US = 1_000_000
DAY_US = 86_400 * US
WEEK_US = 7 * DAY_US
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MONDAY_US = 4 * DAY_US  # 1970-01-05 was a Monday
_ONE_US = timedelta(microseconds=1)


def to_us(dt: datetime) -> int:
    """Aware datetime -> integer microseconds since the epoch."""
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}: pass an aware UTC datetime")
    return (dt - EPOCH) // _ONE_US


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


class Timeline:
    """A compiled profile: validity window, anchor, period starts and change offsets in microseconds."""

    __slots__ = (
        "connector_id",
        "duration",
        "fixed_anchor",
        "limits",
        "offsets",
        "periods",
        "profile",
        "recurrence",
        "starts",
        "valid_from",
        "valid_to",
    )

    def __init__(self, profile: ChargingProfile, connector_id: int) -> None:
        self.profile = profile
        self.connector_id = connector_id
        self.valid_from = to_us(profile.valid_from) if profile.valid_from is not None else None
        self.valid_to = to_us(profile.valid_to) if profile.valid_to is not None else None
        sched = profile.schedule
        self.recurrence: int | None = None
        if profile.kind is Kind.RECURRING:
            self.recurrence = WEEK_US if profile.recurrency_kind is Recurrency.WEEKLY else DAY_US
        self.duration = sched.duration * US if sched.duration is not None else None
        periods = [
            p for p in sched.periods if self.recurrence is None or p.start_period * US < self.recurrence
        ]
        self.periods: list[SchedulePeriod] = periods
        self.starts = [p.start_period * US for p in periods]
        #: exact limits in the schedule's unit, same order as ``periods``
        self.limits = [Fraction(p.limit) for p in periods]
        end = self.duration
        if self.recurrence is not None and (end is None or end >= self.recurrence):
            end = None  # the cycle restart is the end
        offs = {s for s in self.starts if end is None or s < end}
        if end is not None:
            offs.add(end)
        self.offsets = sorted(offs)
        self.fixed_anchor: int | None
        if profile.kind is Kind.RELATIVE:
            self.fixed_anchor = None
        elif sched.start_schedule is not None:
            self.fixed_anchor = to_us(sched.start_schedule)
        elif self.valid_from is not None:
            self.fixed_anchor = self.valid_from
        elif self.recurrence is not None:
            self.fixed_anchor = _MONDAY_US if self.recurrence == WEEK_US else 0
        else:  # Absolute without any anchor (only when installed unverified): from the beginning of time
            self.fixed_anchor = -(2**62)

    @property
    def stack_level(self) -> int:
        return self.profile.stack_level

    def period_index(self, t: int, anchor: int) -> int:
        """Index of the period in force at ``t`` for a schedule anchored at ``anchor``; -1 = not active."""
        if self.valid_from is not None and t < self.valid_from:
            return -1
        if self.valid_to is not None and t >= self.valid_to:
            return -1
        o = t - anchor
        if self.recurrence is not None:
            o %= self.recurrence
        elif o < 0:
            return -1
        if self.duration is not None and o >= self.duration:
            return -1
        return bisect_right(self.starts, o) - 1

    def next_after(self, t: int, anchor: int | None) -> int | None:
        """The first instant > ``t`` at which this profile's contribution may change (None: never).

        ``anchor`` None means a floating anchor (Relative without transaction, anchored on "now"):
        only the validity bounds can change it.
        """
        if self.valid_from is not None and t < self.valid_from:
            return self.valid_from
        vt = self.valid_to
        if vt is not None and t >= vt:
            return None
        nxt: int | None
        if anchor is None:
            nxt = None
        elif self.recurrence is not None:
            rec = self.recurrence
            base = anchor + ((t - anchor) // rec) * rec
            j = bisect_right(self.offsets, t - base)
            nxt = base + self.offsets[j] if j < len(self.offsets) else base + rec
        else:
            o = t - anchor
            if o < 0:
                nxt = anchor
            else:
                j = bisect_right(self.offsets, o)
                nxt = anchor + self.offsets[j] if j < len(self.offsets) else None
        if vt is not None and (nxt is None or vt < nxt):
            return vt
        return nxt
