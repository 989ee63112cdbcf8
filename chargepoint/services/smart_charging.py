"""The async glue between the pure smart-charging engine, the OCPP side and the station.

:class:`SmartChargingService` owns one :class:`SmartChargingEngine` and

* answers the OCPP handlers (``set_profile``, ``clear``, ``composite``) and the OCPP session's hooks
  (``on_remote_start_profile``, ``on_transaction_started``, ``on_transaction_id``, ``on_transaction_ended``);
* persists the installed profiles in the OCPP SQLite store (table ``smart_charging_profiles``) after every
  change and restores them at start (errata 3.37);
* applies the engine's limit as the controller's named external limit ``"ocpp"``
  (``await station.submit(SetLimit(connector, "ocpp", amps_or_None))``), re-evaluating at once after a
  change and by one timer armed at the engine's ``next_change()`` instant -- nothing polls.

It is the only module of ``chargepoint/smartcharging`` that imports asyncio.  It works offline (nothing
here depends on the connection): profiles keep applying while the CSMS is unreachable.

Transactions: the engine learns of a transaction when it starts locally, under a provisional id
(``-local_id``), so Relative profiles run from the real start and a RemoteStart TxProfile applies at
once; when StartTransaction.conf brings the CSMS's transactionId the transaction's TxProfiles are
re-bound to it (so a later SetChargingProfile naming that id matches, TC_059).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from chargepoint.clock import Clock
from chargepoint.controller.limits import Limit
from chargepoint.controller.types import SetLimit, StateChanged
from chargepoint.smartcharging.composite import CompositeSchedule
from chargepoint.smartcharging.engine import SmartChargingEngine
from chargepoint.smartcharging.model import ChargingProfile, ProfileError, Purpose, Verdict

LIMIT_NAME = Limit.OCPP
#: a boundary timer firing less than this before its instant (float rounding) counts as on time
EARLY_S = 0.001
TABLE = "smart_charging_profiles"
#: ChargingScheduleAllowedChargingRateUnit words (errata 3.86) -> engine units
UNIT_WORDS = {"Current": "A", "Power": "W", "A": "A", "W": "W"}


def units_from_key(value: Iterable[str] | str | None) -> tuple[str, ...]:
    """``["Current", "Power"]`` (or a CSL string) -> ``("A", "W")``; unknown words are ignored."""
    if value is None:
        return ("A", "W")
    words = value.split(",") if isinstance(value, str) else list(value)
    out = [UNIT_WORDS[w.strip()] for w in words if w.strip() in UNIT_WORDS]
    return tuple(dict.fromkeys(out))


class ProfileStore:
    """The installed profiles as rows of one SQLite table (one row per profile, camelCase JSON)."""

    def __init__(self, db: Any) -> None:  # chargepoint.ocpp.store.Db
        self.db = db

    def load(self) -> list[dict[str, Any]]:
        rows = self.db.execute(f"SELECT connector, body FROM {TABLE} WHERE cp_id=? ORDER BY profile_id",
                               (self.db.cp_id,)).fetchall()
        return [{"connectorId": c, "csChargingProfiles": json.loads(body)} for c, body in rows]

    def save(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Replace the table's content with ``rows`` in one transaction."""
        with self.db:
            self.db.execute(f"DELETE FROM {TABLE} WHERE cp_id=?", (self.db.cp_id,))
            self.db.executemany(
                f"INSERT INTO {TABLE}(cp_id, profile_id, connector, body) VALUES (?,?,?,?)",
                [
                    (self.db.cp_id, r["csChargingProfiles"]["chargingProfileId"], r["connectorId"],
                     json.dumps(r["csChargingProfiles"], separators=(",", ":")))
                    for r in rows
                ],
            )


class SmartChargingService:
    """Engine + persistence + the timer that applies the ``"ocpp"`` limit to the station."""

    def __init__(
        self,
        clock: Clock,
        station: Any,  # chargepoint.station.Station
        engine: SmartChargingEngine,
        store: ProfileStore | None = None,
        *,
        transactions: Any = None,  # chargepoint.ocpp.transactions.TransactionManager (optional)
        log: logging.Logger | None = None,
    ) -> None:
        self.clock = clock
        self.station = station
        self.engine = engine
        self.store = store
        self.transactions = transactions
        self.log = log or logging.getLogger("chargepoint.smartcharging")
        #: last value submitted per connector (None = no "ocpp" limit)
        self.applied: dict[int, float | None] = {}
        #: connectors with a running transaction (connector -> provisional id, then the CSMS id)
        self._tx_ids: dict[int, int] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_target: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._unsubscribe: Callable[[], None] | None = None
        self._listeners: list[Callable[[], None]] = []
        self._lock = asyncio.Lock()
        self._armed_offset = 0.0  # the clock's wall offset when the boundary timer was armed
        self.applies = 0  # evaluations done (diagnostics, tests)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_context(cls, ctx: Any) -> SmartChargingService:
        """Build the service for an :class:`~chargepoint.ocpp.context.OcppContext`: limits from the
        configuration keys, profiles restored from ``ctx.store.db``."""
        station = ctx.station
        keys = ctx.keys
        settings = getattr(getattr(station, "controller", None), "settings", None)
        caps = station.capabilities
        max_a = float(caps.max_current_a)
        phases = int(caps.phases)
        if settings is not None:
            max_a = min(max_a, float(settings.max_current_a))
            phases = min(phases, int(settings.phases))
        engine = SmartChargingEngine(
            connectors=station.connectors,
            nominal_voltage=230.0,
            default_phases=phases,
            max_stack_level=int(keys.get("ChargeProfileMaxStackLevel") or 10),
            max_periods=int(keys.get("ChargingScheduleMaxPeriods") or 24),
            max_profiles=int(keys.get("MaxChargingProfilesInstalled") or 20),
            allowed_units=units_from_key(keys.get("ChargingScheduleAllowedChargingRateUnit")) or ("A",),
            max_current_a=max_a,
        )
        return cls(ctx.clock, station, engine, ProfileStore(ctx.store.db), transactions=ctx.transactions,
                   log=ctx.log.getChild("smartcharging"))

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> int:
        """Restore persisted profiles, follow the station, apply the first limits.  Needs a running loop.
        Returns the number of restored profiles."""
        restored = 0
        if self.store is not None:
            rows = self.store.load()
            for row in rows:
                try:
                    restored += self.engine.restore([row])
                except ProfileError as e:
                    self.log.warning("persisted profile %s dropped: %s", row["csChargingProfiles"].get(
                        "chargingProfileId"), e)
            # no transaction survives a restart (they are stopped with PowerLoss): their TxProfiles are stale
            stale = [p.profile.id for p in self.engine.installed() if p.profile.purpose is Purpose.TX
                     and not self._tx_running(p.connector_id)]
            for pid in stale:
                self.engine.clear(id=pid)
            if stale or len(rows) != restored:
                self._persist()
        for c in range(1, self.station.connectors + 1):
            self.applied[c] = self.station.snapshot(c).limits.get(LIMIT_NAME)
        self._unsubscribe = self.station.subscribe(self._on_station_item)
        listeners = getattr(self.transactions, "listeners", None)
        if listeners is not None:
            listeners.append(self._on_transactions_changed)
        self.request_apply()
        return restored

    def stop(self) -> None:
        listeners = getattr(self.transactions, "listeners", None)
        if listeners is not None and self._on_transactions_changed in listeners:
            listeners.remove(self._on_transactions_changed)
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._cancel_timer()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def subscribe(self, fn: Callable[[], None]) -> Callable[[], None]:
        """``fn()`` after every evaluation (tests, diagnostics)."""
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    # ------------------------------------------------------------------ OCPP requests

    async def set_profile(self, connector_id: int, profile: ChargingProfile) -> Verdict:
        """SetChargingProfile: the engine's verdict; an Accepted profile is applied to the station first
        (the new pilot duty does not wait for the disk), then persisted before the answer goes out."""
        verdict = self.engine.set_profile(connector_id, profile, self.clock.now())
        if verdict.accepted:
            await self.apply()
            self._persist()
        else:
            self.log.info("SetChargingProfile %d on connector %d rejected: %s", profile.id, connector_id,
                          verdict.reason)
        return verdict

    async def clear(self, id: int | None = None, connector_id: int | None = None,
                    purpose: Purpose | str | None = None, stack_level: int | None = None) -> list[int]:
        """ClearChargingProfile: the removed ids (empty -> Unknown); applied, then persisted."""
        removed = self.engine.clear(id=id, connector_id=connector_id, purpose=purpose, stack_level=stack_level)
        if removed:
            await self.apply()
            self._persist()
        return removed

    def composite(self, connector_id: int, duration_s: int, unit: str | None = None) -> CompositeSchedule:
        """GetCompositeSchedule from now (the time of receipt); W <-> A with the phases in use."""
        phases = None
        if connector_id > 0:
            snap = self.station.snapshot(connector_id)
            phases = snap.phases if snap.contactor_c1 else None
        return self.engine.composite(connector_id, self.clock.now(), duration_s, unit, phases=phases)

    # ------------------------------------------------------------------ hooks of the OCPP session

    def check_remote_start_profile(self, profile_dict: Mapping[str, Any]) -> Verdict:
        """Would a RemoteStartTransaction.chargingProfile be accepted?  Checked before the CP answers,
        so that a profile the engine refuses gives Rejected rather than Accepted-then-dropped."""
        try:
            profile = ChargingProfile.from_dict(dict(profile_dict))
        except ProfileError as e:
            return Verdict(False, str(e), e.field)
        return self.engine.check_remote_start(profile)

    def on_remote_start_profile(self, connector: int, profile_dict: Mapping[str, Any]) -> Verdict:
        """RemoteStartTransaction.chargingProfile (snake_case or camelCase dict): kept until the
        transaction starts on ``connector``."""
        try:
            profile = ChargingProfile.from_dict(dict(profile_dict))
        except ProfileError as e:
            self.log.warning("RemoteStart chargingProfile ignored: %s", e)
            return Verdict(False, str(e), e.field)
        verdict = self.engine.bind_pending_tx_profile(connector, profile)
        if verdict.accepted:
            self.request_apply()  # applied ahead of the transaction (see _pending_limit)
        else:
            self.log.warning("RemoteStart chargingProfile ignored: %s", verdict.reason)
        return verdict

    def on_transaction_started(self, connector: int, local_id: int) -> None:
        """A transaction started locally (its CSMS id is not known yet)."""
        tx = self.transactions.active(connector) if self.transactions is not None else None
        if tx is not None and not getattr(tx, "remote", True):
            self.engine.discard_pending_tx_profile(connector)  # a RemoteStart profile of another start
        start = getattr(tx, "start_time", None) or self.clock.now()
        provisional = -abs(int(local_id)) or -1
        self._tx_ids[connector] = provisional
        self.engine.transaction_started(connector, provisional, start)
        self._changed()

    def on_transaction_id(self, connector: int, transaction_id: int | None) -> None:
        """StartTransaction.conf gave the transaction's id: re-bind its TxProfiles to it."""
        old = self._tx_ids.get(connector)
        info = self.engine.transactions.get(connector)
        if transaction_id is None or old is None or info is None or transaction_id == old:
            return
        own = [p.profile for p in self.engine.installed()
               if p.connector_id == connector and p.profile.purpose is Purpose.TX and p.profile.transaction_id == old]
        self._tx_ids[connector] = transaction_id
        self.engine.transaction_started(connector, transaction_id, info.start)
        for p in own:
            self.engine.install(connector, dataclasses.replace(p, transaction_id=transaction_id), verify=False)
        self._changed()

    def _on_transactions_changed(self, connector: int) -> None:
        """A RemoteStart whose transaction did not start (ConnectionTimeOut, refused) drops its profile."""
        tm = self.transactions
        if (self.engine.pending_tx_profile(connector) is not None and connector not in self._tx_ids
                and tm.pending(connector) is None and tm.active(connector) is None
                and not self.station.snapshot(connector).authorized):
            self.log.info("connector %d: RemoteStart did not start a transaction, its profile is dropped", connector)
            self.engine.discard_pending_tx_profile(connector)
            self.request_apply()

    def on_transaction_ended(self, connector: int, local_id: int | None = None) -> None:
        self._tx_ids.pop(connector, None)
        self.engine.transaction_ended(connector)
        self._changed()

    # ------------------------------------------------------------------ applying

    def _tx_running(self, connector: int) -> bool:
        if self.transactions is None:
            return connector in self._tx_ids
        return self.transactions.active(connector) is not None

    def _changed(self) -> None:
        self._persist()
        self.request_apply()

    def _persist(self) -> None:
        if self.store is not None:
            self.store.save(row.to_json() for row in self.engine.installed())

    def _on_station_item(self, item: Any) -> None:
        if isinstance(item, StateChanged):
            self.request_apply()
        elif self._timer is not None and self.clock.wall_offset != self._armed_offset:
            self._rearm()  # the wall clock was corrected (Boot/Heartbeat currentTime) since arming

    def _rearm(self) -> None:
        """Move the boundary timer after a wall-clock correction (the boundary is a wall instant)."""
        target = self._timer_target
        self._cancel_timer()
        self._armed_offset = self.clock.wall_offset
        if target is None:
            return
        left = (target - self.clock.now()).total_seconds()
        if left < EARLY_S:
            self.request_apply()
        else:
            self._timer = self.clock.call_at(self.clock.monotonic() + left, self._on_timer)

    def request_apply(self) -> None:
        """Evaluate and submit the limits soon (one task; requests during a run cause one more run)."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._apply_loop(), name="smart-charging-apply")

    async def _apply_loop(self) -> None:
        while True:
            self._again = False
            try:
                await self.apply()
            except Exception:
                self.log.exception("applying the smart-charging limit failed")
            if not self._again:
                return

    def limits(self, at: datetime | None = None) -> dict[int, float | None]:
        """What the ``"ocpp"`` limit of every connector should be at ``at`` (default now)."""
        at = at or self.clock.now()
        demands: dict[int, float | None] = {}
        phases: dict[int, int] = {}
        for c in range(1, self.station.connectors + 1):
            snap = self.station.snapshot(c)
            if c in self._tx_ids or (snap.ev_connected and snap.authorized):
                demands[c] = None
            if snap.contactor_c1 or snap.ev_requesting:
                phases[c] = snap.phases
        shares = self.engine.station_share(at, demands, phases)
        out = {c: (lim.amps if lim is not None else None) for c, lim in shares.items()}
        # a connector not wanting power now (no PWM, draws nothing) gets the share it would have if it
        # joined, not 0: its authorisation then starts charging at once instead of pausing first, and the
        # transaction start re-shares the cap among everyone within the same step
        for c, lim in shares.items():
            if c not in demands and lim is not None and lim.purpose is Purpose.CHARGE_POINT_MAX:
                joined = self.engine.station_share(at, {**demands, c: None}, phases)[c]
                out[c] = joined.amps if joined is not None else None
        for c in out:
            if c not in self._tx_ids and self.engine.pending_tx_profile(c) is not None:
                out[c] = self._pending_limit(c, at, phases.get(c))
        return out

    def _pending_limit(self, connector: int, at: datetime, phases: int | None) -> float | None:
        """The limit the connector will have once its RemoteStart transaction starts at ``at``: applied
        ahead, so the first PWM the authorisation brings already carries it (no blip at the maximum)."""
        e = self.engine
        pending = e.pending_tx_profile(connector)
        assert pending is not None
        scratch = SmartChargingEngine(e.connectors, e.nominal_voltage, e.default_phases, e.max_stack_level,
                                      e.max_periods, e.max_profiles + 1, [u.value for u in e.allowed_units],
                                      e.max_current_a)
        scratch.restore(row.to_json() for row in e.installed())
        scratch.transaction_started(connector, 0, at)
        scratch.install(connector, dataclasses.replace(pending, transaction_id=0), at, verify=False)
        lim = scratch.limit(connector, at, phases)
        return lim.amps if lim is not None else None

    async def apply(self) -> dict[int, float | None]:
        """Submit the limits that differ from what was applied and arm the next-boundary timer."""
        async with self._lock:
            return await self._apply()

    async def _apply(self) -> dict[int, float | None]:
        now = self.clock.now()
        target = self._timer_target
        if target is not None and now < target and self._timer is None and (target - now).total_seconds() < EARLY_S:
            now = target  # the boundary timer fired a hair early (float time): evaluate at the boundary
        self._timer_target = None
        wanted = self.limits(now)
        self.applies += 1
        for c, amps in wanted.items():
            if self.applied.get(c, None) != amps:
                self.applied[c] = amps
                await self.station.submit(SetLimit(c, LIMIT_NAME, amps))
        self._arm(now)
        for fn in list(self._listeners):
            fn()
        return wanted

    def next_boundary(self, after: datetime) -> datetime | None:
        best: datetime | None = None
        for c in range(1, self.station.connectors + 1):
            n = self.engine.next_change(c, after)
            if n is not None and (best is None or n < best):
                best = n
        return best

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, now: datetime) -> None:
        self._cancel_timer()
        nxt = self.next_boundary(now)
        if nxt is None:
            return
        delay = (nxt - now).total_seconds()
        self._timer_target = nxt
        self._armed_offset = self.clock.wall_offset
        self._timer = self.clock.call_at(self.clock.monotonic() + max(0.0, delay), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        target = self._timer_target
        if target is not None:
            left = (target - self.clock.now()).total_seconds()
            if left >= EARLY_S:  # the wall clock was set back (Heartbeat/Boot currentTime): wait on
                self._timer = self.clock.call_at(self.clock.monotonic() + left, self._on_timer)
                return
        self.request_apply()


__all__ = ["LIMIT_NAME", "ProfileStore", "SmartChargingService", "units_from_key"]
