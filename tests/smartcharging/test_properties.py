"""Property tests: random profile sets against an independent reference evaluation.

* limit() equals the minimum of the top-of-stack active profiles (station cap; TxProfile, else the
  connector's TxDefault, else connector 0's), rounded down to 0.1 A, and never exceeds any of them;
* the composite schedule evaluated at any instant equals limit() (capped at the hardware maximum);
* next_change() finds every change: the limit is constant between consecutive next_change instants.
"""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chargepoint.smartcharging import ChargingProfile, SmartChargingEngine

from .helpers import T0, profile_dict

DAY = 86400
MAX_A = 32.0
#: SC_EXAMPLES=2000 for a deeper run
SETTINGS = settings(
    max_examples=int(os.environ.get("SC_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# ------------------------------------------------------------------ independent reference


def _anchor_of(p: ChargingProfile, tx_start: datetime | None, now: datetime) -> datetime:
    if p.kind == "Relative":
        return tx_start if tx_start is not None else now
    if p.schedule.start_schedule is not None:
        return p.schedule.start_schedule
    if p.valid_from is not None:
        return p.valid_from
    return datetime(1970, 1, 5, tzinfo=UTC)


def ref_value(p: ChargingProfile, t: datetime, tx_start: datetime | None, phases: int | None):
    """Exact A-per-phase value of one profile at t, or None when it does not apply."""
    if p.valid_from is not None and t < p.valid_from:
        return None
    if p.valid_to is not None and t >= p.valid_to:
        return None
    anchor = _anchor_of(p, tx_start, t)
    periods = list(p.schedule.periods)
    if p.kind == "Recurring":
        length = timedelta(days=7 if p.recurrency_kind == "Weekly" else 1)
        elapsed = (t - anchor) % length
        periods = [q for q in periods if timedelta(seconds=q.start_period) < length]
    else:
        elapsed = t - anchor
        if elapsed < timedelta(0):
            return None
    if p.schedule.duration is not None and elapsed >= timedelta(seconds=p.schedule.duration):
        return None
    chosen = [q for q in periods if timedelta(seconds=q.start_period) <= elapsed]
    if not chosen:
        return None
    q = chosen[-1]
    if p.schedule.charging_rate_unit == "A":
        return Fraction(q.limit)
    return Fraction(q.limit) / (230 * (phases or q.number_phases or 3))


def ref_winners(installed, txs, connector: int, t: datetime, phases: int | None) -> list[Fraction]:
    """The values of the top-of-stack active profile of each group that binds the connector."""

    def top(cands, tx_start):
        for _, p in sorted(cands, key=lambda cp: -cp[1].stack_level):
            v = ref_value(p, t, tx_start, phases)
            if v is not None:
                return v
        return None

    out = []
    # the station cap belongs to no transaction: a Relative one runs from "now"
    cap = top([(c, p) for c, p in installed if p.purpose == "ChargePointMaxProfile"], None)
    if cap is not None:
        out.append(cap)
    tx_id = txs.get(connector, (None, None))[0]
    for group in (
        [
            (c, p)
            for c, p in installed
            if p.purpose == "TxProfile" and c == connector and tx_id is not None and p.transaction_id == tx_id
        ],
        [(c, p) for c, p in installed if p.purpose == "TxDefaultProfile" and c == connector],
        [(c, p) for c, p in installed if p.purpose == "TxDefaultProfile" and c == 0],
    ):
        v = top(group, txs.get(connector, (None, None))[1])
        if v is not None:
            out.append(v)
            break
    return out


# ------------------------------------------------------------------ strategies


@st.composite
def profile_specs(draw, pid: int):
    purpose = draw(
        st.sampled_from(["ChargePointMaxProfile", "TxDefaultProfile", "TxDefaultProfile", "TxProfile"])
    )
    connector = (
        0
        if purpose == "ChargePointMaxProfile"
        else 1
        if purpose == "TxProfile"
        else draw(st.sampled_from([0, 1, 2]))
    )
    kind = draw(st.sampled_from(["Absolute", "Relative", "Recurring"]))
    rec = draw(st.sampled_from(["Daily", "Weekly"])) if kind == "Recurring" else None
    unit = draw(st.sampled_from(["A", "W"]))
    horizon = 9 * DAY if rec == "Weekly" else int(1.3 * DAY)
    n = draw(st.integers(1, 4))
    starts = [0, *sorted(draw(st.sets(st.integers(1, horizon), min_size=n - 1, max_size=n - 1)))]
    periods = []
    for s in starts:
        lim = draw(st.integers(0, 400)) / 10 if unit == "A" else draw(st.integers(0, 250)) * 100
        ph = draw(st.sampled_from([None, 1, 3]))
        periods.append((s, lim, ph) if ph else (s, lim))
    duration = draw(st.none() | st.integers(60, 3 * DAY))
    start = T0 + timedelta(seconds=draw(st.integers(-2 * DAY, DAY)))
    valid_from = valid_to = None
    if draw(st.booleans()):
        valid_from = T0 + timedelta(seconds=draw(st.integers(-DAY, 2 * DAY)))
    if draw(st.booleans()):
        valid_to = (valid_from or T0) + timedelta(seconds=draw(st.integers(60, 3 * DAY)))
    d = profile_dict(
        pid,
        draw(st.integers(0, 3)),
        purpose,
        periods,
        kind=kind,
        unit=unit,
        start=start,
        duration=duration,
        valid_from=valid_from,
        valid_to=valid_to,
        recurrency=rec,
    )
    return connector, ChargingProfile.from_dict(d)


@st.composite
def scenarios(draw, all_tx: bool = False):
    engine = SmartChargingEngine(2, max_current_a=MAX_A)
    txs = {}
    for c in (1, 2):
        if all_tx or draw(st.booleans()):
            start = T0 + timedelta(seconds=draw(st.integers(-3600, 3600)))
            txs[c] = (100 + c, start)
            engine.transaction_started(c, 100 + c, start)
    n = draw(st.integers(1, 6))
    for pid in range(1, n + 1):
        connector, p = draw(profile_specs(pid))
        engine.set_profile(connector, p)
    installed = [(i.connector_id, i.profile) for i in engine.installed()]
    return engine, txs, installed


offsets = st.integers(-DAY, 4 * DAY)


def _floor10(v: Fraction) -> float:
    return max(0, math.floor(v * 10)) / 10


# ------------------------------------------------------------------ properties


@SETTINGS
@given(
    scenarios(),
    st.sampled_from([1, 2]),
    st.lists(offsets, min_size=1, max_size=8),
    st.sampled_from([None, 1, 3]),
)
def test_limit_is_the_minimum_of_the_binding_profiles(scenario, connector, secs, phases):
    engine, txs, installed = scenario
    for s in secs:
        t = T0 + timedelta(seconds=s)
        winners = ref_winners(installed, txs, connector, t, phases)
        lim = engine.limit(connector, t, phases=phases)
        if not winners:
            assert lim is None
            continue
        assert lim is not None
        assert lim.amps == _floor10(min(winners))
        assert all(Fraction(repr(lim.amps)) <= w for w in winners)  # never above a binding active profile
        assert lim.amps >= 0


@SETTINGS
@given(
    scenarios(all_tx=True),
    st.sampled_from([0, 1, 2]),
    offsets,
    st.integers(0, 2 * DAY),
    st.lists(st.floats(0, 1), min_size=3, max_size=6),
)
def test_composite_equals_limit_at_every_instant(scenario, connector, start_s, duration, fractions):
    engine, _, installed = scenario
    # a Relative station cap has no transaction: limit() applies its first period ("now" = the instant),
    # while the composite unfolds it from the requested start -- by design, excluded here
    assume(not any(p.purpose == "ChargePointMaxProfile" and p.kind == "Relative" for _, p in installed))
    start = T0 + timedelta(seconds=start_s)
    cs = engine.composite(connector, start, duration, "A")
    hw = MAX_A * (2 if connector == 0 else 1)
    assert cs.periods and cs.periods[0].start_period == 0
    starts = [p.start_period for p in cs.periods]
    assert starts == sorted(set(starts)) and all(s <= duration for s in starts)
    for a, b in zip(cs.periods, cs.periods[1:], strict=False):
        assert (a.limit, a.number_phases) != (b.limit, b.number_phases)  # merged
    probes = set(starts) | {max(0, duration - 1)} | {int(f * duration) for f in fractions}
    for p in cs.periods:
        probes.add(max(0, p.start_period - 1))
    for o in sorted(probes):
        lim = engine.limit(connector, start + timedelta(seconds=o))
        expected = hw if lim is None else min(lim.amps, hw)
        assert float(cs.limit_at(o)) == expected, (o, cs)


@SETTINGS
@given(
    scenarios(all_tx=True),
    st.sampled_from([0, 1, 2]),
    offsets,
    st.sampled_from([None, 1, 3]),
    st.lists(st.floats(0, 1), min_size=1, max_size=3),
)
def test_next_change_finds_every_change(scenario, connector, start_s, phases, fractions):
    engine, _, _ = scenario
    t = T0 + timedelta(seconds=start_s)
    for _ in range(40):
        nxt = engine.next_change(connector, t)
        assert nxt is None or nxt > t
        here = engine.limit(connector, t, phases=phases)
        end = nxt if nxt is not None else t + timedelta(days=8)
        span = end - t
        probes = [end - timedelta(microseconds=1)] + [t + span * f for f in fractions]
        for probe in probes:
            if t <= probe < end:
                assert engine.limit(connector, probe, phases=phases) == here, (t, probe, nxt)
        if nxt is None:
            break
        t = nxt


@SETTINGS
@given(
    scenarios(),
    offsets,
    st.dictionaries(st.sampled_from([1, 2]), st.none() | st.integers(0, 400).map(lambda x: x / 10)),
)
def test_station_share_never_exceeds_the_cap_nor_a_connector_limit(scenario, secs, demands):
    engine, _, installed = scenario
    t = T0 + timedelta(seconds=secs)
    shares = engine.station_share(t, demands)
    assert set(shares) == {1, 2}
    cap = None
    for _, p in sorted(installed, key=lambda cp: -cp[1].stack_level):
        if p.purpose == "ChargePointMaxProfile" and (cap := ref_value(p, t, None, None)) is not None:
            break
    if cap is None:
        assert shares == {c: engine.limit(c, t) for c in (1, 2)}
        return
    assert all(s is not None for s in shares.values())
    assert sum(Fraction(repr(s.amps)) for s in shares.values()) <= cap
    for c, share in shares.items():
        own = engine.limit(c, t)
        assert own is not None and share.amps <= own.amps
        if c not in demands:
            assert share.amps == 0.0
        elif demands[c] is not None:
            assert share.amps <= demands[c]
