"""The energy manager: MaxMains / MaxCircuit / MaxSumMains balancing, Smart and Solar regulation,
home-battery neutralisation and automatic C2 phase switching (smartevse.md §5, §3.2, §4.8).

Pure and synchronous: feed measurements with the monotonic time they arrived, call :meth:`step`
**every 2 s** (the firmware's regulation cycle: the regulation gains, NoCurrent counting and timer
thresholds assume it) with the connectors' situation, and hand ``decision.commands(previous)``
(SetLimit / SetPhases) to the controller.

Scope: one standalone charger with one or more connectors.  Several connectors behave like the
firmware's master with its nodes on one circuit (MaxCircuit is shared); on the smartevse-rs485
backend the connectors *are* SmartEVSE nodes on the RS485 bus, and the board passes the TotalCurrent
of each mains reading's instant (``charging_a``).  Internal arithmetic is in deci-amperes
with C integer division, like the firmware.  Deliberate choices where the firmware lines differ:

* MaxSumMains headroom is ``min(Idifference, (MaxSumMains - Isum)/3)`` (dingo35 / fork), not the
  upstream overwrite.
* The Solar stop condition uses the single-EVSE threshold ``Isum > (MinCurrent*Phases -
  StartCurrent)`` (dingo ``02dafa2`` / fork) so it still works with several connectors.
* Auto phase switching uses its own timer (fork ``PhaseSwitchTimer``) instead of reusing
  SolarStopTimer; the numbers are upstream's (30 s severe / StopTime mild, fires at <= 2 s left;
  63 s for 1P->3P, fires at <= 3 s left).  With StopTime 0 mild import never switches to 1P.
* LESS_6A is kept per connector; the global causes (NoCurrent > 2, mains > 2 x MaxMains, Solar
  stop, MaxSumMains timer) pause every charging connector, like the master's broadcast.

Long file: :meth:`EnergyManager.step` is one regulation cycle of the firmware (measure, shortage
and timers, available current, distribution, decision) whose helpers share the timers and the
per-connector state; kept in one file so it can be read side by side with smartevse.md §5.  The
parts that stand alone already have their own files (settings, measurements, phases,
distribution, adapter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chargepoint.controller.limits import Limit
from chargepoint.energy.distribution import Share, distribute
from chargepoint.energy.grid_relay import apply_grid_relay
from chargepoint.energy.measurements import (
    MAINS_TIMEOUT_S,
    Measurements,
    battery_corrected,
    cdiv,
    check_api_da,
)
from chargepoint.energy.phases import (
    SEVERE_IMPORT_SWITCH_S,
    SWITCH_1P_AT_REMAINING_S,
    SWITCH_3P_AT_REMAINING_S,
    SWITCH_3P_TIMER_S,
    fixed_phases,
    start_phases,
    upgrade_spare_a,
)
from chargepoint.energy.settings import EnableC2, EnergySettings, Mode
from chargepoint.energy.types import LIMIT_NAMES, ConnectorDecision, EnergyDecision, EvStatus
from hal.types import MeterReading

#: The regulation cycle the caller must keep (s).
CYCLE_S = 2.0
#: ChargeDelay after "not enough power" (CHARGEDELAY), counted from the moment power is back.
CHARGE_DELAY_S = 60.0
#: Solar: a new session is held at MinCurrent this long (SOLARSTARTTIME).
SOLAR_START_S = 40.0
#: LESS_6A when NoCurrent exceeds this (i.e. 3 consecutive hard-shortage cycles).
NO_CURRENT_LIMIT = 2
#: Upper clamp of IsetBalanced (dA).
ISET_MAX_DA = 800


@dataclass(slots=True)
class _Connector:
    charging_since: float | None = None  # time it became active (C, not paused)
    less_6a: bool = False
    pause_reason: str = ""
    pause_name: str = Limit.MAINS
    delay_until: float | None = None
    phases: int = 3
    switch_pending: bool = False
    switch_seen_stop: bool = False


def _a(da: int | float) -> float:
    return round(da / 10.0, 1)


class EnergyManager:
    """Pure energy manager.  See the module docstring and ``chargepoint.energy`` for the API."""

    def __init__(self, settings: EnergySettings | None = None, now: float | None = None) -> None:
        self.settings = (settings or EnergySettings()).validate()
        self.meters = Measurements()
        self._started_at = now
        self._iset_da = 0
        self._binding: str = Limit.SOLAR if self.settings.mode == Mode.SOLAR else Limit.MAINS
        self._used_mains_seq = 0
        self._no_current = 0
        self._solar_stop_at: float | None = None
        self._max_sum_at: float | None = None
        self._phase_at: float | None = None
        self._phase_kind = ""  # "1p" | "3p"
        self._hard_name: str = Limit.MAINS
        self._conn: dict[int, _Connector] = {}
        self._now = 0.0
        self._statuses: list[EvStatus] = []
        #: the grid relay asks to limit (EnWG §14a), fed by the board's input or the API
        self.grid_relay_limiting = False
        #: a manual 1-/3-phase request (local API) overriding EnableC2 / Auto; None = no request
        self.requested_phases: int | None = None
        self.last: EnergyDecision | None = None

    # ------------------------------------------------------------------ inputs
    def feed_mains(self, now: float, l1: float, l2: float, l3: float, charging_a: float | None = None) -> None:
        """Mains (grid) currents per phase in A, signed, import positive; ``charging_a``: the TotalCurrent
        at the instant of the reading when known (see :meth:`feed_meter_reading`).  Raises ValueError
        naming a bad field."""
        self.meters.feed_mains(now, l1, l2, l3, charging_a)

    def feed_ev_meter(self, now: float, connector: int, l1: float, l2: float, l3: float) -> None:
        """EV meter of ``connector`` (1..n) or the EV sub-panel meter (0), A per phase, signed."""
        self.meters.feed_ev_meter(now, connector, l1, l2, l3)

    def feed_battery(self, now: float, current_a: float) -> None:
        """Home battery current in A, positive = charging (used in Solar only, for 60 s)."""
        self.meters.feed_battery(now, current_a)

    def feed_meter_reading(self, now: float, reading: MeterReading, charging_a: float | None = None) -> None:
        """A HAL MeterReading: connector 0 is the mains meter, 1..n the connectors' EV meters.

        ``charging_a`` (mains only): the TotalCurrent -- the sum of the currents given to the charging
        connectors -- at the instant of the reading, when the board knows it (the RS485 master: what
        was on the wire).  Baseload is then computed against it instead of against the currents
        offered now, which a reading taken before the latest change does not show yet."""
        l1, l2, l3 = reading.current_a
        if reading.connector == 0:
            self.meters.feed_mains(now, l1, l2, l3, charging_a)
        else:
            self.meters.feed_ev_meter(now, reading.connector, l1, l2, l3)

    def feed_mains_api(self, now: float, l1_da: object, l2_da: object, l3_da: object) -> None:
        """API-fed mains meter (``POST /currents?L1=&L2=&L3=``, MQTT ``L1:L2:L3``): deci-amperes, each
        -2000 < x < 2000 (ints or integer strings).  Raises ValueError naming the bad field; nothing is
        stored unless all three are valid."""
        values = [check_api_da(n, v) for n, v in (("L1", l1_da), ("L2", l2_da), ("L3", l3_da))]
        self.meters.feed_mains(now, values[0] / 10, values[1] / 10, values[2] / 10)

    def feed_battery_api(self, now: float, current_da: object) -> None:
        """API-fed home battery current (``battery_current`` in dA, + = charging)."""
        self.meters.feed_battery(now, check_api_da("battery_current", current_da) / 10)

    def feed_grid_relay(self, now: float, limiting: bool) -> None:
        """The grid relay input: True while the grid operator limits (GridRelayMaxSumMains)."""
        if not isinstance(limiting, bool):
            raise ValueError(f"limiting: must be true or false, got {limiting!r}")
        self.grid_relay_limiting = limiting

    def request_phases(self, phases: int | None) -> None:
        """A manual 1-/3-phase request (None withdraws it).  Raises ValueError naming ``phases`` when
        the charger has no C2 contactor to switch, or for another value than 1 or 3."""
        if phases is not None and (isinstance(phases, bool) or phases not in (1, 3)):
            raise ValueError(f"phases: must be 1 or 3, got {phases!r}")
        if phases is not None and self.settings.enable_c2 == EnableC2.NOT_PRESENT:
            raise ValueError("phases: this charger has no C2 contactor (enable_c2 = not_present)")
        self.requested_phases = phases

    def update_settings(self, settings: EnergySettings) -> None:
        """Replace the settings (validated).  A mode or EnableC2 change resets the timers, NoCurrent
        and LESS_6A pauses (charge delays already running keep running)."""
        settings.validate()
        old = self.settings
        self.settings = settings
        if settings.enable_c2 == EnableC2.NOT_PRESENT:
            self.requested_phases = None  # nothing left to switch
        if settings.mode != old.mode or settings.enable_c2 != old.enable_c2:
            self._binding = Limit.SOLAR if settings.mode == Mode.SOLAR else Limit.MAINS
            self._reset_timers()
            self._no_current = 0
            for st in self._conn.values():
                st.less_6a = False
                st.switch_pending = False

    # ------------------------------------------------------------------ step
    def step(self, now: float, connectors: list[EvStatus]) -> EnergyDecision:
        """One 2-s regulation cycle.  Returns the decision (also kept in ``self.last``)."""
        _check_statuses(connectors)
        self._now = now
        if self._started_at is None:
            self._started_at = now
        s = self.settings
        statuses = sorted(connectors, key=lambda c: c.connector)
        self._statuses = statuses
        multi = len(statuses) > 1
        joined_ids = self._track_connectors(now, statuses)
        joined = bool(joined_ids)
        active = [c for c in statuses if c.charging and not self._conn[c.connector].less_6a]
        # TotalCurrent: what the active connectors were given; a connector joining this step counts 0
        # (its draw is not in the mains reading yet; firmware: Balanced = 0 at B->C).
        total_da = sum(_cap_da(c.offered_a) for c in active if c.connector not in joined_ids)

        circuit = self.meters.circuit_da(now) if s.baseload_ev else None
        ev_imeasured = max(circuit) if circuit is not None else None
        baseload_ev = max(0, ev_imeasured - total_da) if ev_imeasured is not None else 0
        warnings = tuple(f"EV meter {n} stale (no data for > 64 s), ignored"
                         for n in self.meters.stale_ev_meters(now))

        if s.mode == Mode.NORMAL:
            return self._finish(self._normal(now, statuses, active, total_da, multi, ev_imeasured,
                                             baseload_ev, joined, warnings))

        age = self.meters.mains_age(now)
        started_at = self._started_at
        if age is None or age >= MAINS_TIMEOUT_S:
            stale = (age is not None) or (now - started_at >= MAINS_TIMEOUT_S)
            return self._finish(self._no_mains(now, statuses, stale, warnings))

        # ---- measurements (smartevse.md §5.1, §5.6)
        battery = self.meters.battery_da(now) if s.mode == Mode.SOLAR else 0
        assert self.meters.mains is not None
        irms = battery_corrected(self.meters.mains.da, battery, s.enable_c2)
        imeasured = max(irms)
        isum = sum(irms)
        # Baseload = Imeasured - TotalCurrent, both of the same instant (the reading's, when known)
        at_reading = self.meters.mains.charging_da
        baseload = imeasured - (total_da if at_reading is None else at_reading)
        circuit_applies = multi or ev_imeasured is not None
        fresh = self.meters.mains_seq != self._used_mains_seq
        self._used_mains_seq = self.meters.mains_seq

        # ---- headroom (Idifference) and its binding component
        comps: dict[str, int] = {Limit.MAINS: s.max_mains_a * 10 - imeasured}
        if ev_imeasured is not None:
            comps[Limit.CIRCUIT] = s.max_circuit_a * 10 - ev_imeasured
        if s.max_sum_mains_a:
            comps[Limit.SUM_MAINS] = cdiv(s.max_sum_mains_a * 10 - isum, 3)
        diff_name = min(comps, key=lambda k: comps[k])
        idiff = comps[diff_name]

        # ---- phases fixed by the settings / chosen at the start (state B)
        self._fixed_and_start_phases(statuses, isum)

        notes: list[str] = []
        n_active = len(active)
        # ---- regulation (only on a new mains reading and when nobody just joined)
        if active and joined and s.mode == Mode.SMART:
            target = s.max_mains_a * 10 - baseload
            name = Limit.MAINS
            if circuit_applies and s.max_circuit_a * 10 - baseload_ev < target:
                target, name = s.max_circuit_a * 10 - baseload_ev, Limit.CIRCUIT
            if s.max_sum_mains_a and cdiv(s.max_sum_mains_a * 10 - isum, 3) < target:
                target, name = cdiv(s.max_sum_mains_a * 10 - isum, 3), Limit.SUM_MAINS
            self._iset_da, self._binding = target, name
            notes.append(f"EV joined: Iset reset to {_a(target)} A")
        elif active and fresh and not joined:
            self._regulate(idiff, diff_name, isum, notes)

        # ---- guard rails
        if self._iset_da > s.max_mains_a * 10 - baseload:
            self._iset_da, self._binding = s.max_mains_a * 10 - baseload, Limit.MAINS
        if circuit_applies and self._iset_da > s.max_circuit_a * 10 - baseload_ev:
            self._iset_da, self._binding = s.max_circuit_a * 10 - baseload_ev, Limit.CIRCUIT

        # ---- shortage
        shortage = hard = False
        min_da = s.min_current_a * 10
        if active and fresh:
            minimum = n_active * min_da
            if self._iset_da < minimum:
                self._iset_da = minimum
                shortage = True
                hard, hard_name = self._shortage(now, active, isum, baseload, baseload_ev,
                                                 circuit_applies, notes)
                if hard and not any(self._conn[c.connector].switch_pending for c in statuses):
                    self._no_current += 1
                    self._hard_name = hard_name
            else:
                self._solar_stop_at = None
                self._max_sum_at = None
                self._no_current = 0
                self._upgrade_check(now, active, isum, notes)
        if not active:
            self._reset_timers()
            self._no_current = 0

        # ---- distribution among the active connectors
        active_max = sum(_cap_da(c.cap_a) for c in active)
        if active and self._iset_da > active_max:
            self._iset_da = active_max
        shares = [
            Share(c.connector, _cap_da(c.cap_a),
                  s.mode == Mode.SOLAR and now - (self._conn[c.connector].charging_since or now) < SOLAR_START_S)
            for c in active
        ]
        alloc = distribute(self._iset_da, shares, min_da)

        # ---- LESS_6A: pause every active connector
        pause: tuple[str, str] | None = None
        if active:
            if imeasured > 2 * s.max_mains_a * 10:
                pause = (Limit.MAINS, f"mains {_a(imeasured)} A above 2 x MaxMains ({2 * s.max_mains_a} A)")
            elif self._no_current > NO_CURRENT_LIMIT:
                pause = (self._hard_name,
                         f"hard shortage for {self._no_current} cycles (cannot keep MinCurrent)")
            elif self._solar_stop_at is not None and now >= self._solar_stop_at:
                pause = (Limit.SOLAR, f"Solar stop: import for StopTime ({s.stop_time_min} min)")
            elif self._max_sum_at is not None and now >= self._max_sum_at:
                pause = (Limit.SUM_MAINS, f"MaxSumMains exceeded for {s.max_sum_mains_time_min} min")
        if pause is not None:
            for c in active:
                st = self._conn[c.connector]
                st.less_6a, st.pause_name, st.pause_reason = True, pause[0], pause[1]
                st.delay_until = None
            self._reset_timers()
            self._no_current = 0
            notes.append(f"LESS_6A: {pause[1]}")
            active, alloc = [], {}

        # ---- per-connector decisions
        decisions = self._decide(now, statuses, active, alloc, isum, baseload, baseload_ev,
                                 circuit_applies, total_da)
        explanation = self._explain(irms, imeasured, isum, battery, comps, decisions, notes)
        return self._finish(EnergyDecision(
            now=now, mode=s.mode.value, connectors=decisions, stale_mains=False,
            shortage=shortage, hard_shortage=hard, no_current_cycles=self._no_current,
            less_6a=any(d.less_6a for d in decisions.values()), iset_balanced_a=_a(self._iset_da),
            mains_a=(_a(irms[0]), _a(irms[1]), _a(irms[2])), isum_a=_a(isum), battery_a=_a(battery),
            solar_stop_timer_s=self._remaining(self._solar_stop_at, now),
            max_sum_mains_timer_s=self._remaining(self._max_sum_at, now),
            phase_switch_timer_s=self._remaining(self._phase_at, now),
            explanation=explanation, warnings=warnings,
        ))

    # ------------------------------------------------------------------ pieces
    def _track_connectors(self, now: float, statuses: list[EvStatus]) -> set[int]:
        """Update per-connector bookkeeping; returns the connectors that became active this step (mod = 1)."""
        joined: set[int] = set()
        for c in statuses:
            st = self._conn.setdefault(c.connector, _Connector(phases=c.phases))
            if not c.connected:
                st.less_6a = False
                st.delay_until = None
                st.switch_pending = False
                st.charging_since = None
                continue
            if st.switch_pending:
                if not c.charging:
                    st.switch_seen_stop = True
                elif st.switch_seen_stop:
                    st.switch_pending = False
            if c.charging and not st.less_6a:
                if st.charging_since is None:
                    st.charging_since = now
                    joined.add(c.connector)
            else:
                st.charging_since = None
        return joined

    def _fixed_and_start_phases(self, statuses: list[EvStatus], isum: int | None) -> None:
        s = self.settings
        fixed = self.requested_phases or fixed_phases(s.mode, s.enable_c2)
        for c in statuses:
            st = self._conn[c.connector]
            if fixed is not None:
                st.phases = fixed
                st.switch_pending = False
            elif isum is not None and c.connected and not c.charging and not st.switch_pending:
                st.phases = start_phases(isum, s.min_current_a)
        if fixed is not None and self._phase_at is not None:
            self._phase_at = None

    def _regulate(self, idiff: int, diff_name: str, isum: int, notes: list[str]) -> None:
        s = self.settings
        if s.mode == Mode.SMART:
            step = idiff // 4 if idiff > 0 else idiff
            self._iset_da += step
            self._binding = diff_name
            notes.append(f"smart {'+' if step >= 0 else ''}{_a(step)} A")
        else:
            if idiff < 0:
                self._iset_da += idiff
                self._binding = diff_name
                notes.append(f"{diff_name} over by {_a(-idiff)} A: down at once")
            elif idiff > 0:  # fine regulation only with headroom left (Idifference == 0: no change)
                imp = isum - 10 * s.import_current_a
                if imp < -10 and idiff > 10:
                    step = 5
                elif imp < 0:
                    step = 1
                elif imp > 20:
                    step = -cdiv(imp, 2)
                elif imp > 10:
                    step = -5
                elif imp > 3:
                    step = -1
                else:
                    step = 0
                self._iset_da += step
                self._binding = Limit.SOLAR
                notes.append(f"solar {'+' if step >= 0 else ''}{_a(step)} A (Isum-Import {_a(imp)} A)")
        self._iset_da = max(0, min(ISET_MAX_DA, self._iset_da))

    def _shortage(self, now: float, active: list[EvStatus], isum: int, baseload: int, baseload_ev: int,
                  circuit_applies: bool, notes: list[str]) -> tuple[bool, str]:
        s = self.settings
        n_min = len(active) * s.min_current_a * 10
        if s.mode == Mode.SOLAR:
            imp = isum - 10 * s.import_current_a
            phases_active = max(self._conn[c.connector].phases for c in active)
            three = [c for c in active if self._conn[c.connector].phases == 3]
            auto_3p = s.enable_c2 == EnableC2.AUTO and bool(three)
            if imp > 0 and (isum > (s.min_current_a * phases_active - s.start_current_a) * 10 or auto_3p):
                if auto_3p:
                    self._solar_stop_at = None
                    if self._phase_at is None or self._phase_kind != "1p":
                        severe = imp >= s.min_current_a * 10
                        duration = SEVERE_IMPORT_SWITCH_S if severe else s.stop_time_min * 60.0
                        if duration > 0:
                            self._phase_at, self._phase_kind = now + duration, "1p"
                    if self._phase_at is not None and self._phase_at - now <= SWITCH_1P_AT_REMAINING_S:
                        for c in three:
                            st = self._conn[c.connector]
                            st.phases, st.switch_pending, st.switch_seen_stop = 1, True, False
                        self._phase_at = None
                        notes.append("Auto: import in shortage -> switching to 1 phase")
                elif self._solar_stop_at is None and s.stop_time_min > 0:
                    self._solar_stop_at = now + s.stop_time_min * 60.0
            else:
                self._solar_stop_at = None
                self._phase_at = None
        hard_name = ""
        if n_min + baseload > s.max_mains_a * 10:
            hard_name = Limit.MAINS
        elif circuit_applies and n_min + baseload_ev > s.max_circuit_a * 10:
            hard_name = Limit.CIRCUIT
        if s.max_sum_mains_a and isum > s.max_sum_mains_a * 10:
            if s.max_sum_mains_time_min == 0:
                hard_name = hard_name or Limit.SUM_MAINS
            elif self._max_sum_at is None:
                self._max_sum_at = now + s.max_sum_mains_time_min * 60.0
        notes.append(f"shortage: held at MinCurrent{' (hard: ' + hard_name + ')' if hard_name else ''}")
        return bool(hard_name), hard_name or Limit.MAINS

    def _upgrade_check(self, now: float, active: list[EvStatus], isum: int, notes: list[str]) -> None:
        s = self.settings
        ones = [c for c in active if self._conn[c.connector].phases == 1]
        if not (s.mode == Mode.SOLAR and s.enable_c2 == EnableC2.AUTO and ones):
            self._phase_at = None
            return
        spare = upgrade_spare_a(s.min_current_a, s.max_current_a)
        if self._iset_da + 8 >= s.max_current_a * 10 and -isum > 10 * spare:
            if self._phase_at is None or self._phase_kind != "3p":
                self._phase_at, self._phase_kind = now + SWITCH_3P_TIMER_S, "3p"
            if self._phase_at - now <= SWITCH_3P_AT_REMAINING_S:
                for c in ones:
                    st = self._conn[c.connector]
                    st.phases, st.switch_pending, st.switch_seen_stop = 3, True, False
                self._phase_at = None
                notes.append("Auto: enough export at MaxCurrent -> switching to 3 phases")
        else:
            self._phase_at = None

    def _available(self, n_active: int, total: int, isum: int, baseload: int, baseload_ev: int,
                   circuit_applies: bool, phases: int) -> tuple[bool, str, str]:
        """IsCurrentAvailable() (smartevse.md §5.3): may one more connector start?"""
        s = self.settings
        m = s.min_current_a * 10
        if s.mode == Mode.SOLAR:
            if n_active == 0 and isum >= -s.start_current_a * 10:
                return False, Limit.SOLAR, f"export {_a(-isum)} A not above StartCurrent {s.start_current_a} A"
            if n_active * m > total:
                return False, Limit.SOLAR, "charging connectors are below MinCurrent"
            if n_active and isum > s.import_current_a * 10 + total - n_active * m:
                return False, Limit.SOLAR, "not enough surplus even with the others at MinCurrent"
        n = n_active + 1
        if s.mode != Mode.NORMAL and n * m + baseload > s.max_mains_a * 10:
            return False, Limit.MAINS, f"{n} x MinCurrent + base load {_a(baseload)} A > MaxMains {s.max_mains_a} A"
        if circuit_applies and n * m + baseload_ev > s.max_circuit_a * 10:
            return False, Limit.CIRCUIT, f"{n} x MinCurrent + EV base load > MaxCircuit {s.max_circuit_a} A"
        if s.mode != Mode.NORMAL and s.max_sum_mains_a and phases * n * m + isum > s.max_sum_mains_a * 10:
            return False, Limit.SUM_MAINS, f"would exceed MaxSumMains {s.max_sum_mains_a} A"
        return True, "", ""

    def _decide(self, now: float, statuses: list[EvStatus], active: list[EvStatus], alloc: dict[int, int],
                isum: int, baseload: int, baseload_ev: int, circuit_applies: bool,
                total: int) -> dict[int, ConnectorDecision]:
        s = self.settings
        default = {Mode.NORMAL: Limit.CIRCUIT, Mode.SMART: Limit.MAINS, Mode.SOLAR: Limit.SOLAR}[s.mode]
        regular = default if s.mode == Mode.NORMAL else self._binding
        active_ids = {c.connector for c in active}
        granted = 0
        out: dict[int, ConnectorDecision] = {}
        for c in statuses:
            st = self._conn[c.connector]
            cap = _cap_da(c.cap_a)
            if c.connector in active_ids:
                value = alloc[c.connector]
                why = "at its cap" if value >= cap else f"{regular} share"
                out[c.connector] = _decision(c.connector, regular, value, st.phases, reason=why)
                continue
            available, name, why = self._available(len(active) + granted, total + granted * s.min_current_a * 10,
                                                   isum, baseload, baseload_ev, circuit_applies, st.phases)
            if st.less_6a:
                if c.connected and not c.charging and available:
                    st.less_6a = False
                    st.delay_until = now + CHARGE_DELAY_S
                else:
                    out[c.connector] = _decision(c.connector, st.pause_name, 0, st.phases, less_6a=True,
                                                 delay=CHARGE_DELAY_S, reason=f"LESS_6A: {st.pause_reason}")
                    continue
            if st.delay_until is not None and now < st.delay_until:
                out[c.connector] = _decision(c.connector, st.pause_name, 0, st.phases,
                                             delay=st.delay_until - now,
                                             reason=f"ChargeDelay {st.delay_until - now:.0f} s")
                continue
            st.delay_until = None
            if available:
                if c.connected:
                    granted += 1
                out[c.connector] = _decision(c.connector, default, min(s.min_current_a * 10, cap), st.phases,
                                             reason="may start at MinCurrent")
            else:
                if c.connected:
                    st.less_6a, st.pause_name, st.pause_reason = True, name, why
                out[c.connector] = _decision(c.connector, name, 0, st.phases, less_6a=c.connected,
                                             delay=CHARGE_DELAY_S if c.connected else 0.0,
                                             reason=f"no power to start: {why}")
        return out

    def _normal(self, now: float, statuses: list[EvStatus], active: list[EvStatus], total: int, multi: bool,
                ev_imeasured: int | None, baseload_ev: int, joined: bool,
                warnings: tuple[str, ...]) -> EnergyDecision:
        """Normal mode: no mains meter involvement.  One connector: nothing limits.  Several: share
        ``MaxCircuit - Baseload_EV`` (the firmware master's Normal mode)."""
        s = self.settings
        self._fixed_and_start_phases(statuses, None)
        self._reset_timers()
        self._no_current = 0
        if not multi:
            decisions = {c.connector: ConnectorDecision(c.connector, dict.fromkeys(LIMIT_NAMES),
                                                        self._conn[c.connector].phases, None, None,
                                                        reason="normal mode: not limiting")
                         for c in statuses}
            return EnergyDecision(now=now, mode=s.mode.value, connectors=decisions,
                                  explanation="normal: energy manager not limiting", warnings=warnings)
        self._iset_da = s.max_circuit_a * 10 - baseload_ev
        min_da = s.min_current_a * 10
        shortage = bool(active) and self._iset_da < len(active) * min_da
        if shortage:
            self._iset_da = len(active) * min_da
        active_max = sum(_cap_da(c.cap_a) for c in active)
        if active and self._iset_da > active_max:
            self._iset_da = active_max
        alloc = distribute(self._iset_da, [Share(c.connector, _cap_da(c.cap_a)) for c in active], min_da)
        decisions = self._decide(now, statuses, active, alloc, 0, 0, baseload_ev, True, total)
        per = ", ".join(f"c{n}: {_fmt(d)}" for n, d in decisions.items())
        ev = f"EV circuit {_a(ev_imeasured)} A" if ev_imeasured is not None else "no EV meter"
        return EnergyDecision(
            now=now, mode=s.mode.value, connectors=decisions, shortage=shortage,
            iset_balanced_a=_a(self._iset_da),
            explanation=f"normal: MaxCircuit {s.max_circuit_a} A shared ({ev}); {per}", warnings=warnings)

    def _no_mains(self, now: float, statuses: list[EvStatus], stale: bool,
                  warnings: tuple[str, ...]) -> EnergyDecision:
        s = self.settings
        self._fixed_and_start_phases(statuses, None)
        self._reset_timers()
        self._no_current = 0
        why = ("mains meter data stale (none for >= 11 s): CT_NOCOMM, charging stopped" if stale
               else "waiting for the first mains reading")
        decisions = {c.connector: _decision(c.connector, Limit.MAINS, 0, self._conn[c.connector].phases, reason=why)
                     for c in statuses}
        return EnergyDecision(now=now, mode=s.mode.value, connectors=decisions, stale_mains=stale,
                              explanation=f"{s.mode.value}: {why}", warnings=warnings)

    def _explain(self, irms: tuple[int, int, int], imeasured: int, isum: int, battery: int, comps: dict[str, int],
                 decisions: dict[int, ConnectorDecision], notes: list[str]) -> str:
        s = self.settings
        parts = [f"{s.mode.value}: mains {_a(irms[0])}/{_a(irms[1])}/{_a(irms[2])} A "
                 f"(max {_a(imeasured)} of {s.max_mains_a} A, sum {_a(isum)} A"
                 + (f", battery {_a(battery)} A neutralised" if battery else "") + ")"]
        parts.append("headroom " + ", ".join(f"{k} {_a(v):+g} A" for k, v in comps.items()))
        parts.append(f"Iset {_a(self._iset_da)} A")
        parts.extend(notes)
        for label, deadline in (("solar stop", self._solar_stop_at), ("MaxSumMains stop", self._max_sum_at),
                                (f"switch to {self._phase_kind[:1]} phase(s)", self._phase_at)):
            if deadline is not None:
                parts.append(f"{label} in {max(0.0, deadline - self._now):.0f} s")
        parts.extend(f"c{n}: {_fmt(d)}" for n, d in decisions.items())
        return "; ".join(parts)

    def _reset_timers(self) -> None:
        self._solar_stop_at = None
        self._max_sum_at = None
        self._phase_at = None

    @staticmethod
    def _remaining(deadline: float | None, now: float) -> float | None:
        return None if deadline is None else max(0.0, deadline - now)

    def _finish(self, decision: EnergyDecision) -> EnergyDecision:
        if self.grid_relay_limiting:
            order = sorted((st.charging_since, n) for n, st in self._conn.items() if st.charging_since is not None)
            decision = apply_grid_relay(decision, self._statuses,
                                        phases={n: st.phases for n, st in self._conn.items()},
                                        order=[n for _t, n in order],
                                        max_sum_a=self.settings.grid_relay_max_sum_mains_a,
                                        min_current_a=self.settings.min_current_a)
        self.last = decision
        return decision


# ---------------------------------------------------------------------- helpers
def _cap_da(amps: float) -> int:
    return max(0, math.floor(amps * 10 + 1e-6))


def _decision(connector: int, name: str, value_da: int, phases: int, *, less_6a: bool = False,
              delay: float = 0.0, reason: str = "") -> ConnectorDecision:
    limits: dict[str, float | None] = dict.fromkeys(LIMIT_NAMES)
    limits[name] = _a(value_da)
    return ConnectorDecision(connector, limits, phases, _a(value_da), name, less_6a, delay, reason)


def _fmt(d: ConnectorDecision) -> str:
    if d.allocated_a is None:
        return "not limited"
    return f"{d.binding}={d.allocated_a:g} A, {d.phases}P ({d.reason})"


def _check_statuses(connectors: list[EvStatus]) -> None:
    seen: set[int] = set()
    for c in connectors:
        if not isinstance(c, EvStatus):
            raise ValueError(f"connectors: expected EvStatus items, got {type(c).__name__}")
        if isinstance(c.connector, bool) or not isinstance(c.connector, int) or c.connector < 1:
            raise ValueError(f"connector: must be an integer >= 1, got {c.connector!r}")
        if c.connector in seen:
            raise ValueError(f"connector: {c.connector} listed twice")
        seen.add(c.connector)
        if c.charging and not c.connected:
            raise ValueError(f"charging: connector {c.connector} cannot charge while not connected")
        if c.phases not in (1, 3):
            raise ValueError(f"phases: must be 1 or 3, got {c.phases!r} (connector {c.connector})")
        for name in ("offered_a", "drawn_a", "cap_a"):
            v = getattr(c, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name}: must be a finite number >= 0, got {v!r} (connector {c.connector})")
