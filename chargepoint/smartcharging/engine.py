"""The smart-charging engine: installed profiles + transactions -> limit, composite schedule, next change.

Pure and synchronous: every method takes the time it needs as an aware UTC datetime.  See the package
docstring (``chargepoint/smartcharging/__init__.py``) for the rules implemented and the API.

Long file: the engine is the one owner of the installed profiles and the transactions, and its
checks (SetChargingProfile, ClearChargingProfile, RemoteStart), its stacking evaluation (limit,
station share, next change) and the composite schedule all read that state; the parts that stand
alone have their own files already (model, parsing, timeline, composite).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from chargepoint.smartcharging.composite import (
    CompositePeriod,
    CompositeSchedule,
    Limit,
    round_down_tenth,
)
from chargepoint.smartcharging.model import (
    ACCEPTED,
    ChargingProfile,
    Kind,
    ProfileError,
    Purpose,
    RateUnit,
    Verdict,
    rejected,
)
from chargepoint.smartcharging.timeline import US, Timeline, from_us, to_us


@dataclass(frozen=True, slots=True)
class TransactionInfo:
    transaction_id: int
    start: datetime


@dataclass(frozen=True, slots=True)
class InstalledProfile:
    connector_id: int
    profile: ChargingProfile

    def to_json(self) -> dict[str, Any]:
        """``{"connectorId": n, "csChargingProfiles": {...camelCase...}}`` -- one row for persistence."""
        return {"connectorId": self.connector_id, "csChargingProfiles": self.profile.to_json()}


@dataclass(slots=True)
class _Cand:
    """One contribution at one instant: exact A per phase, phases it is for, the profile."""

    amps: Fraction
    phases: int
    tl: Timeline | None


class SmartChargingEngine:
    """OCPP 1.6 smart charging for ``connectors`` connectors (1..N; 0 = the whole station)."""

    def __init__(
        self,
        connectors: int,
        nominal_voltage: float = 230.0,
        default_phases: int = 3,
        max_stack_level: int = 10,
        max_periods: int = 48,
        max_profiles: int = 32,
        allowed_units: Iterable[str] = ("A", "W"),
        max_current_a: float = 32.0,
    ) -> None:
        if connectors < 1:
            raise ValueError("connectors must be >= 1")
        if default_phases not in (1, 2, 3):
            raise ValueError("default_phases must be 1, 2 or 3")
        self.connectors = connectors
        self.nominal_voltage = nominal_voltage
        self.default_phases = default_phases
        self.max_stack_level = max_stack_level
        self.max_periods = max_periods
        self.max_profiles = max_profiles
        self.allowed_units = frozenset(RateUnit(u) for u in allowed_units)
        self.max_current_a = max_current_a
        self._volts = Fraction(repr(float(nominal_voltage)))
        self._max_a = Fraction(repr(float(max_current_a)))
        self._profiles: dict[int, Timeline] = {}
        self._tx: dict[int, TransactionInfo] = {}
        self._tx_us: dict[int, int] = {}
        self._pending: dict[int, ChargingProfile] = {}
        self._groups: dict[tuple[Purpose, int], list[Timeline]] = {}
        self._dirty = True

    # ------------------------------------------------------------------ state access

    @property
    def transactions(self) -> dict[int, TransactionInfo]:
        return dict(self._tx)

    def installed(self) -> list[InstalledProfile]:
        """Every installed profile with its connector (for persistence), ordered by connector, purpose, level."""
        return [
            InstalledProfile(tl.connector_id, tl.profile)
            for tl in sorted(
                self._profiles.values(),
                key=lambda t: (t.connector_id, t.profile.purpose.value, t.profile.stack_level, t.profile.id),
            )
        ]

    def restore(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Re-install persisted rows (:meth:`InstalledProfile.to_json` dicts) without the transaction
        checks (a TxProfile applies again once :meth:`transaction_started` names its transaction).
        Raises :class:`ProfileError` for a malformed row; returns how many were installed."""
        n = 0
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping) or not isinstance(row.get("connectorId"), int):
                raise ProfileError(f"rows[{i}].connectorId", "missing or not an integer")
            connector = row["connectorId"]
            if not 0 <= connector <= self.connectors:
                raise ProfileError(f"rows[{i}].connectorId", f"unknown connector {connector}")
            self.install(connector, ChargingProfile.from_dict(row.get("csChargingProfiles")), verify=False)
            n += 1
        return n

    def profile(self, profile_id: int) -> InstalledProfile | None:
        tl = self._profiles.get(profile_id)
        return InstalledProfile(tl.connector_id, tl.profile) if tl else None

    def pending_tx_profile(self, connector_id: int) -> ChargingProfile | None:
        return self._pending.get(connector_id)

    # ------------------------------------------------------------------ checking

    def _check_shape(self, profile: ChargingProfile) -> Verdict:
        if profile.stack_level > self.max_stack_level:
            return rejected("stackLevel", f"{profile.stack_level} exceeds the maximum {self.max_stack_level}")
        sched = profile.schedule
        if sched.charging_rate_unit not in self.allowed_units:
            return rejected(
                "chargingSchedule.chargingRateUnit", f"unit {sched.charging_rate_unit} not supported"
            )
        periods = sched.periods
        if not periods:
            return rejected("chargingSchedule.chargingSchedulePeriod", "no periods")
        if len(periods) > self.max_periods:
            return rejected(
                "chargingSchedule.chargingSchedulePeriod",
                f"{len(periods)} periods exceed ChargingScheduleMaxPeriods {self.max_periods}",
            )
        if periods[0].start_period != 0:
            return rejected("chargingSchedule.chargingSchedulePeriod[0].startPeriod", "must be 0")
        for i, p in enumerate(periods):
            path = f"chargingSchedule.chargingSchedulePeriod[{i}]"
            if i and p.start_period <= periods[i - 1].start_period:
                return rejected(f"{path}.startPeriod", "periods must start in increasing order")
            if p.limit < 0:
                return rejected(f"{path}.limit", "must not be negative")
            if p.number_phases is not None and p.number_phases not in (1, 2, 3):
                return rejected(f"{path}.numberPhases", "must be 1, 2 or 3")
        if sched.min_charging_rate is not None and sched.min_charging_rate < 0:
            return rejected("chargingSchedule.minChargingRate", "must not be negative")
        if profile.kind is Kind.RECURRING and profile.recurrency_kind is None:
            return rejected("recurrencyKind", "required for Recurring profiles")
        if (
            profile.valid_from is not None
            and profile.valid_to is not None
            and profile.valid_to <= profile.valid_from
        ):
            return rejected("validTo", "must be after validFrom")
        return ACCEPTED

    def check(
        self,
        connector_id: int,
        profile: ChargingProfile,
        transactions: Mapping[int, int] | None = None,
    ) -> Verdict:
        """Would SetChargingProfile(connector_id, profile) be Accepted?  ``transactions`` maps connector ->
        active transaction id; None uses the engine's own (from :meth:`transaction_started`)."""
        if not 0 <= connector_id <= self.connectors:
            return rejected("connectorId", f"unknown connector {connector_id} (0..{self.connectors})")
        purpose = profile.purpose
        if purpose is Purpose.CHARGE_POINT_MAX and connector_id != 0:
            return rejected("chargingProfilePurpose", "ChargePointMaxProfile is allowed only on connector 0")
        if purpose is Purpose.TX:
            if connector_id == 0:
                return rejected("chargingProfilePurpose", "TxProfile is not allowed on connector 0")
            txs = {c: t.transaction_id for c, t in self._tx.items()} if transactions is None else transactions
            active = txs.get(connector_id)
            if active is None:
                return rejected(
                    "chargingProfilePurpose", f"TxProfile without a transaction on connector {connector_id}"
                )
            if profile.transaction_id is not None and profile.transaction_id != active:
                return rejected(
                    "transactionId",
                    f"{profile.transaction_id} is not the transaction on connector {connector_id} ({active})",
                )
        elif profile.transaction_id is not None:
            return rejected("transactionId", "only allowed with purpose TxProfile")
        shape = self._check_shape(profile)
        if not shape.accepted:
            return shape
        remaining = len(self._profiles) - len(self._replaced_by(connector_id, profile))
        if remaining + 1 > self.max_profiles:
            return rejected(
                "chargingProfileId", f"MaxChargingProfilesInstalled ({self.max_profiles}) reached"
            )
        return ACCEPTED

    def check_remote_start(self, profile: ChargingProfile) -> Verdict:
        """A RemoteStartTransaction chargingProfile: purpose TxProfile, no transactionId (5.16.2, TC_060)."""
        if profile.purpose is not Purpose.TX:
            return rejected(
                "chargingProfilePurpose",
                f"must be TxProfile in RemoteStartTransaction, got {profile.purpose}",
            )
        if profile.transaction_id is not None:
            return rejected("transactionId", "must not be set in RemoteStartTransaction")
        return self._check_shape(profile)

    # ------------------------------------------------------------------ installing / clearing

    def _replaced_by(self, connector_id: int, profile: ChargingProfile) -> list[int]:
        return [
            pid
            for pid, tl in self._profiles.items()
            if pid == profile.id
            or (
                tl.connector_id == connector_id
                and tl.profile.purpose is profile.purpose
                and tl.profile.stack_level == profile.stack_level
            )
        ]

    def install(
        self, connector_id: int, profile: ChargingProfile, now: datetime | None = None, *, verify: bool = True
    ) -> list[int]:
        """Install ``profile`` on ``connector_id``; returns the ids it replaced (same id anywhere, or same
        purpose + stackLevel on the same connector).

        ``verify`` (default) runs :meth:`check` against the engine's transactions and raises
        :class:`ProfileError` when it would be Rejected; ``verify=False`` is for restoring persisted profiles.
        A TxProfile without transactionId is bound to the connector's running transaction.  An Absolute
        profile without startSchedule is anchored on validFrom, else on ``now`` (the time of receipt).
        """
        if verify:
            verdict = self.check(connector_id, profile)
            if not verdict.accepted:
                raise ProfileError(verdict.field, verdict.reason.removeprefix(f"{verdict.field}: "))
        if profile.purpose is Purpose.TX and profile.transaction_id is None and connector_id in self._tx:
            profile = dataclasses.replace(profile, transaction_id=self._tx[connector_id].transaction_id)
        sched = profile.schedule
        if profile.kind is Kind.ABSOLUTE and sched.start_schedule is None:
            anchor = profile.valid_from or now
            if anchor is None:
                raise ProfileError(
                    "chargingSchedule.startSchedule",
                    "an Absolute profile needs startSchedule, validFrom or the time of receipt (now)",
                )
            profile = dataclasses.replace(profile, schedule=dataclasses.replace(sched, start_schedule=anchor))
        timeline = Timeline(profile, connector_id)
        replaced = self._replaced_by(connector_id, profile)
        for pid in replaced:
            del self._profiles[pid]
        self._profiles[profile.id] = timeline
        self._dirty = True
        return replaced

    def set_profile(
        self, connector_id: int, profile: ChargingProfile, now: datetime | None = None
    ) -> Verdict:
        """check() then install(): the whole SetChargingProfile decision in one call."""
        verdict = self.check(connector_id, profile)
        if verdict.accepted:
            self.install(connector_id, profile, now, verify=False)
        return verdict

    def clear(
        self,
        id: int | None = None,  # the OCPP field name
        connector_id: int | None = None,
        purpose: Purpose | str | None = None,
        stack_level: int | None = None,
    ) -> list[int]:
        """ClearChargingProfile: no criteria = everything; ``id`` ignores the other criteria; otherwise the
        given criteria are ANDed (connector 0 = profiles installed on connector 0).  Returns the removed
        ids (empty -> the caller answers Unknown).  Pending RemoteStart profiles match too."""
        purpose = Purpose(purpose) if purpose is not None else None

        def match(conn: int, p: ChargingProfile) -> bool:
            if id is not None:
                return p.id == id
            return (
                (connector_id is None or conn == connector_id)
                and (purpose is None or p.purpose is purpose)
                and (stack_level is None or p.stack_level == stack_level)
            )

        removed = [pid for pid, tl in self._profiles.items() if match(tl.connector_id, tl.profile)]
        for pid in removed:
            del self._profiles[pid]
        for conn, p in list(self._pending.items()):
            if match(conn, p):
                del self._pending[conn]
                removed.append(p.id)
        if removed:
            self._dirty = True
        return removed

    # ------------------------------------------------------------------ transactions

    def bind_pending_tx_profile(self, connector_id: int, profile: ChargingProfile) -> Verdict:
        """Keep a RemoteStartTransaction profile until the transaction starts on ``connector_id``;
        :meth:`transaction_started` installs it with the transaction id.  Returns the check verdict
        (nothing is kept when Rejected)."""
        if not 1 <= connector_id <= self.connectors:
            return rejected("connectorId", f"unknown connector {connector_id} (1..{self.connectors})")
        verdict = self.check_remote_start(profile)
        if verdict.accepted:
            self._pending[connector_id] = profile
        return verdict

    def discard_pending_tx_profile(self, connector_id: int) -> ChargingProfile | None:
        """The remotely started transaction did not start (e.g. ConnectionTimeOut)."""
        return self._pending.pop(connector_id, None)

    def transaction_started(self, connector_id: int, transaction_id: int, start: datetime) -> list[int]:
        """A transaction runs on ``connector_id`` since ``start`` (call it when StartTransaction.conf gives
        the id, and again after a reboot for a resumed transaction).  TxProfiles of another transaction on
        that connector are dropped; a pending RemoteStart profile is installed bound to ``transaction_id``.
        Returns the ids installed from the pending profile."""
        if not 1 <= connector_id <= self.connectors:
            raise ValueError(f"unknown connector {connector_id}")
        self._tx[connector_id] = TransactionInfo(transaction_id, start)
        self._tx_us[connector_id] = to_us(start)
        for pid, tl in list(self._profiles.items()):
            p = tl.profile
            if (
                tl.connector_id == connector_id
                and p.purpose is Purpose.TX
                and p.transaction_id != transaction_id
            ):
                del self._profiles[pid]
        self._dirty = True
        pending = self._pending.pop(connector_id, None)
        if pending is None:
            return []
        bound = dataclasses.replace(pending, transaction_id=transaction_id)
        self.install(connector_id, bound, start, verify=False)
        return [bound.id]

    def transaction_ended(self, connector_id: int) -> list[int]:
        """The transaction on ``connector_id`` ended: its TxProfiles are deleted (ids returned)."""
        self._tx.pop(connector_id, None)
        self._tx_us.pop(connector_id, None)
        self._pending.pop(connector_id, None)
        removed = [
            pid
            for pid, tl in self._profiles.items()
            if tl.connector_id == connector_id and tl.profile.purpose is Purpose.TX
        ]
        for pid in removed:
            del self._profiles[pid]
        self._dirty = True
        return removed

    # ------------------------------------------------------------------ evaluation helpers

    def _group(self, purpose: Purpose, connector_id: int) -> list[Timeline]:
        if self._dirty:
            groups: dict[tuple[Purpose, int], list[Timeline]] = {}
            for tl in self._profiles.values():
                groups.setdefault((tl.profile.purpose, tl.connector_id), []).append(tl)
            for g in groups.values():
                g.sort(key=lambda t: -t.profile.stack_level)
            self._groups = groups
            self._dirty = False
        return self._groups.get((purpose, connector_id), [])

    def _anchor(self, tl: Timeline, connector_id: int, floating: int | None) -> int | None:
        if tl.fixed_anchor is not None:
            return tl.fixed_anchor
        start = self._tx_us.get(connector_id)
        return start if start is not None else floating

    def _tx_profiles(self, connector_id: int) -> list[Timeline]:
        tx = self._tx.get(connector_id)
        if tx is None:
            return []
        return [
            tl
            for tl in self._group(Purpose.TX, connector_id)
            if tl.profile.transaction_id == tx.transaction_id
        ]

    def _chains(self, connector_id: int) -> tuple[list[list[Timeline]], list[Timeline]]:
        """(ordered fall-back chain for the transaction part, the station-cap group) of a connector > 0."""
        chain = [
            self._tx_profiles(connector_id),
            self._group(Purpose.TX_DEFAULT, connector_id),
            self._group(Purpose.TX_DEFAULT, 0),
        ]
        return chain, self._group(Purpose.CHARGE_POINT_MAX, 0)

    def _first_active(
        self, group: list[Timeline], connector_id: int, t: int, floating: int, phases: int | None
    ) -> _Cand | None:
        for tl in group:
            anchor = self._anchor(tl, connector_id, floating)
            assert anchor is not None
            i = tl.period_index(t, anchor)
            if i >= 0:
                period = tl.periods[i]
                np = period.number_phases or self.default_phases
                if tl.profile.schedule.charging_rate_unit is RateUnit.A:
                    return _Cand(tl.limits[i], phases or np, tl)
                ph = phases or np
                return _Cand(tl.limits[i] / (self._volts * ph), ph, tl)
        return None

    def _tx_part(self, connector_id: int, t: int, floating: int, phases: int | None) -> _Cand | None:
        chain, _ = self._chains(connector_id)
        for group in chain:
            cand = self._first_active(group, connector_id, t, floating, phases)
            if cand is not None:
                return cand
        return None

    def _value(
        self, connector_id: int, t: int, floating: int, phases: int | None, others: Fraction
    ) -> tuple[Fraction, int, tuple[int, ...], Purpose | None] | None:
        """Exact effective limit in A per phase at ``t`` (None: no limit)."""
        cap = self._first_active(self._group(Purpose.CHARGE_POINT_MAX, 0), 0, t, floating, phases)
        if cap is not None and others:
            cap.amps = max(Fraction(0), cap.amps - others)
        if connector_id == 0:
            total = Fraction(0)
            ids: list[int] = []
            limited = False
            for c in range(1, self.connectors + 1):
                part = self._tx_part(c, t, floating, phases)
                if part is None:
                    total += self._max_a
                else:
                    limited = True
                    total += min(part.amps, self._max_a)
                    ids.append(part.tl.profile.id)  # type: ignore[union-attr]
            if cap is not None and (cap.amps <= total or not limited):
                return cap.amps, cap.phases, (cap.tl.profile.id,), Purpose.CHARGE_POINT_MAX  # type: ignore[union-attr]
            if not limited:
                return None
            return total, phases or self.default_phases, tuple(ids), None
        part = self._tx_part(connector_id, t, floating, phases)
        if part is None and cap is None:
            return None
        if part is None or (cap is not None and cap.amps < part.amps):
            best = cap
            binding = [cap]
        else:
            best = part
            binding = [part] if cap is None or cap.amps > part.amps else [part, cap]
        assert best is not None and best.tl is not None
        ids_t = tuple(c.tl.profile.id for c in binding if c is not None and c.tl is not None)
        return best.amps, best.phases, ids_t, best.tl.profile.purpose

    def _check_connector(self, connector_id: int) -> None:
        if not 0 <= connector_id <= self.connectors:
            raise ValueError(f"unknown connector {connector_id} (0..{self.connectors})")

    # ------------------------------------------------------------------ queries

    def limit(
        self, connector_id: int, at: datetime, phases: int | None = None, others_a: float = 0.0
    ) -> Limit | None:
        """Effective limit at ``at`` in A per phase (rounded down to 0.1 A), None = no limit.

        Connector > 0: min(station cap share, TxProfile else connector TxDefault else connector-0 TxDefault).
        ``phases``: the phases the EV really uses (W limits are converted with it; A limits apply as given).
        ``others_a``: what the other connectors draw now (A per phase); the station cap share is the cap
        minus that (never below 0).  Connector 0: the station total (see :meth:`composite`)."""
        self._check_connector(connector_id)
        t = to_us(at)
        v = self._value(
            connector_id, t, t, phases, Fraction(repr(float(others_a))) if others_a else Fraction(0)
        )
        if v is None:
            return None
        amps, ph, ids, purpose = v
        return Limit(float(round_down_tenth(amps)), ph, ids, purpose)

    def station_share(
        self,
        at: datetime,
        demands_a: Mapping[int, float | None],
        phases: Mapping[int, int] | None = None,
    ) -> dict[int, Limit | None]:
        """Share the station cap (ChargePointMaxProfile) among the connectors that want power.

        ``demands_a``: connector -> what it wants in A per phase (None = as much as allowed); connectors
        not listed want nothing now.  Each listed connector's ceiling is min(its own TxProfile/TxDefault
        limit, ``max_current_a``, its demand); the cap is divided by water-filling (max-min fairness):
        connectors whose ceiling is below an equal share keep their ceiling and the rest is shared equally
        among the others.  Shares are rounded down to 0.1 A, so their sum never exceeds the cap.
        Connectors not listed get 0 A while a cap applies.  Without a cap at ``at`` every connector gets
        its own :meth:`limit`.  Re-run it when a connector starts/stops wanting power and at next_change().
        """
        t = to_us(at)
        phases = phases or {}
        cap = self._first_active(self._group(Purpose.CHARGE_POINT_MAX, 0), 0, t, t, None)
        out: dict[int, Limit | None] = {}
        if cap is None:
            for c in range(1, self.connectors + 1):
                out[c] = self.limit(c, at, phases.get(c))
            return out
        assert cap.tl is not None
        cap_id = cap.tl.profile.id
        own: dict[int, _Cand | None] = {}
        ceilings: dict[int, Fraction] = {}
        for c in range(1, self.connectors + 1):
            if c not in demands_a:
                out[c] = Limit(0.0, phases.get(c) or cap.phases, (cap_id,), Purpose.CHARGE_POINT_MAX)
                continue
            part = self._tx_part(c, t, t, phases.get(c))
            own[c] = part
            ceiling = self._max_a if part is None else min(part.amps, self._max_a)
            demand = demands_a[c]
            if demand is not None:
                ceiling = min(ceiling, max(Fraction(0), Fraction(repr(float(demand)))))
            ceilings[c] = ceiling
        remaining = cap.amps
        order = sorted(ceilings, key=lambda c: ceilings[c])
        for i, c in enumerate(order):
            equal = remaining / (len(order) - i)
            alloc = min(ceilings[c], equal)
            remaining -= alloc
            part = own[c]
            if part is not None and part.amps <= alloc:
                assert part.tl is not None
                out[c] = Limit(
                    float(round_down_tenth(part.amps)),
                    part.phases,
                    (part.tl.profile.id,),
                    part.tl.profile.purpose,
                )
            else:
                out[c] = Limit(
                    float(round_down_tenth(alloc)),
                    phases.get(c) or cap.phases,
                    (cap_id,),
                    Purpose.CHARGE_POINT_MAX,
                )
        return dict(sorted(out.items()))

    def _relevant(self, connector_id: int) -> list[tuple[int, Timeline]]:
        pairs = [(0, tl) for tl in self._group(Purpose.CHARGE_POINT_MAX, 0)]
        conns = range(1, self.connectors + 1) if connector_id == 0 else (connector_id,)
        for c in conns:
            chain, _ = self._chains(c)
            for group in chain:
                pairs.extend((c, tl) for tl in group)
        return pairs

    def next_change(self, connector_id: int, after: datetime) -> datetime | None:
        """The next instant > ``after`` at which the connector's limit may change (period boundary,
        validFrom/validTo, duration end, recurrence restart), None = never.  The limit is constant on
        [after, next_change).  A new profile, a transaction start/end or a change of the other connectors'
        draw are events the caller handles itself."""
        self._check_connector(connector_id)
        t = to_us(after)
        best: int | None = None
        for c, tl in self._relevant(connector_id):
            n = tl.next_after(t, self._anchor(tl, c, None))
            if n is not None and (best is None or n < best):
                best = n
        return from_us(best) if best is not None else None

    def composite(
        self,
        connector_id: int,
        start: datetime,
        duration_s: int,
        unit: RateUnit | str | None = None,
        phases: int | None = None,
    ) -> CompositeSchedule:
        """GetCompositeSchedule from ``start`` (truncated to whole seconds) for ``duration_s`` seconds.

        Values: the effective limit (as :meth:`limit`) capped by the hardware maximum ``max_current_a`` per
        connector (connector 0: the station total, ``connectors x max_current_a`` at most); an instant
        without any limit shows that maximum.  ``unit`` None: W when every profile involved is in W, else A.
        W values = A per phase x nominal voltage x the binding period's phases."""
        self._check_connector(connector_id)
        if duration_s < 0:
            raise ValueError("duration must be >= 0")
        start = start.replace(microsecond=0)
        s = to_us(start)
        e = s + duration_s * US
        relevant = self._relevant(connector_id)
        if unit is None:
            units = {tl.profile.schedule.charging_rate_unit for _, tl in relevant}
            out_unit = RateUnit.W if units == {RateUnit.W} else RateUnit.A
        else:
            try:
                out_unit = RateUnit(unit)
            except ValueError:
                raise ProfileError("chargingRateUnit", f"invalid value {unit!r} (allowed: A, W)") from None
        points = {s}
        for c, tl in relevant:
            anchor = self._anchor(tl, c, s)
            t = s
            while True:
                n = tl.next_after(t, anchor)
                if n is None or n >= e:
                    break
                points.add(n)
                t = n
        hw_max = self._max_a * (self.connectors if connector_id == 0 else 1)
        zero = Fraction(0)
        raw: list[tuple[int, Fraction, int]] = []
        for t in sorted(points):
            v = self._value(connector_id, t, s, phases, zero)
            if v is None or v[0] >= hw_max:
                amps, ph = hw_max, (phases or self.default_phases)
            else:
                amps, ph = v[0], v[1]
            value = amps if out_unit is RateUnit.A else amps * self._volts * ph
            offset = (t - s) // US
            if raw and raw[-1][0] == offset:  # sub-second instants collapse: keep the lower value
                if value < raw[-1][1]:
                    raw[-1] = (offset, value, ph)
                continue
            raw.append((offset, value, ph))
        periods: list[CompositePeriod] = []
        for offset, value, ph in raw:
            lim = round_down_tenth(value)
            if periods and periods[-1].limit == lim and periods[-1].number_phases == ph:
                continue
            periods.append(CompositePeriod(offset, lim, ph))
        return CompositeSchedule(connector_id, start, duration_s, out_unit, tuple(periods))


__all__ = ["InstalledProfile", "SmartChargingEngine", "TransactionInfo"]
