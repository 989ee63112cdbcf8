"""Property-based tests: random event sequences through controller + simulated board (no asyncio).

After every controller step ``check_invariants()`` runs (inside SimRig), and this file checks the
safety rules again independently, from the commands the controller emitted and the physics of the
simulation -- it does not trust the controller's own bookkeeping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from backends.sim import SimModel, SimOptions
from chargepoint.controller import (
    Authorize,
    Controller,
    ControllerSettings,
    Fault,
    FaultChanged,
    RequestUnlock,
    ResetFault,
    SetAvailability,
    SetLimit,
    SetPhases,
)
from chargepoint.harness.sim_rig import SimRig
from chargepoint.iec61851.duty import duty_permille
from hal.types import PilotLevel, PilotMode, PilotReading, SetContactors, SetPilot

C1_TIMEOUT = 6.0
PILOT_DEBOUNCE = 0.5
ACTIVATION_PULSE = 3.0
#: power unavailable (the firmware's setStatePowerUnavailable): stop through C1, not at once
GRACEFUL = frozenset({Fault.OVER_TEMPERATURE, Fault.METER})

_fault_names = st.sampled_from(["rcd", "overtemp", "weld", "contactor", "lock", "meter", "diode", "pilot_short", "panic"])
_limit_names = st.sampled_from(["ocpp", "mains", "solar", "override"])
_conn = st.integers(min_value=1, max_value=2)

ACTION = st.one_of(
    st.tuples(st.just("plug"), _conn, st.sampled_from([13.0, 16.0, 20.0, 32.0, 63.0])),
    st.tuples(st.just("unplug"), _conn),
    st.tuples(st.just("ev_charging"), _conn, st.booleans()),
    st.tuples(st.just("ev_max"), _conn, st.sampled_from([6.0, 10.0, 16.0, 32.0])),
    st.tuples(st.just("ev_phases"), _conn, st.sampled_from([1, 3])),
    st.tuples(st.just("ev_soc"), _conn, st.sampled_from([10.0, 79.0, 95.0, 99.9])),
    st.tuples(st.just("auth"), st.integers(0, 2), st.booleans()),
    st.tuples(st.just("limit"), st.integers(0, 2), _limit_names,
              st.one_of(st.none(), st.sampled_from([0.0, 3.0, 5.9, 6.0, 8.0, 13.5, 16.0, 40.0]))),
    st.tuples(st.just("avail"), st.integers(0, 2), st.booleans()),
    st.tuples(st.just("phases"), st.integers(0, 2), st.sampled_from([1, 3])),
    st.tuples(st.just("fault"), _conn, _fault_names, st.booleans()),
    st.tuples(st.just("reset"), st.integers(0, 2), st.sampled_from(list(Fault))),
    st.tuples(st.just("unlock"), _conn),
    st.tuples(st.just("wait"), st.sampled_from([0.0, 0.01, 0.2, 0.49, 0.51, 1.0, 2.5, 5.9, 6.1, 16.0, 45.0, 300.0])),
)


@dataclass
class Watch:
    """Independent bookkeeping of what the controller told the hardware."""

    c1: dict[int, bool] = field(default_factory=dict)
    c2: dict[int, bool] = field(default_factory=dict)
    pilot: dict[int, SetPilot] = field(default_factory=dict)
    pwm_withdrawn_at: dict[int, float] = field(default_factory=dict)
    level: dict[int, PilotLevel] = field(default_factory=dict)
    invalid_since: dict[int, float] = field(default_factory=dict)
    activate_at: dict[int, float] = field(default_factory=dict)
    faults: dict[int, set[Fault]] = field(default_factory=dict)
    authorised: dict[int, bool] = field(default_factory=dict)
    steps: int = 0
    energised: int = 0
    c1_pauses: int = 0
    fault_events: int = 0
    graceful_stops: int = 0
    glitches: int = 0
    activations: int = 0

    def on_step(self, inp: Any, outs: list[Any], now: float) -> None:
        self.steps += 1
        if isinstance(inp, PilotReading):
            prev = self.level.get(inp.connector)
            if inp.level is PilotLevel.V12 and prev in (PilotLevel.V9, PilotLevel.V6, PilotLevel.V3):
                self.authorised[inp.connector] = False  # the EV left: the plug-in session ended
            if inp.level is PilotLevel.V12 or inp.level in (PilotLevel.V9, PilotLevel.V6, PilotLevel.V3):
                self.level[inp.connector] = inp.level
                self.invalid_since.pop(inp.connector, None)
            elif self.pilot.get(inp.connector) is None or self.pilot[inp.connector].mode is not PilotMode.OFF:
                self.invalid_since.setdefault(inp.connector, now)  # shorted / invalid, pilot connected
                if self.c1.get(inp.connector):
                    self.glitches += 1
        if isinstance(inp, Authorize):
            for n in (1, 2) if inp.connector == 0 else (inp.connector,):
                self.authorised[n] = inp.granted
        if isinstance(inp, RequestUnlock):
            self.authorised[inp.connector] = False
        for o in outs:
            if isinstance(o, FaultChanged):
                self.fault_events += 1
                fs = self.faults.setdefault(o.connector, set())
                (fs.add if o.active else fs.discard)(o.fault)
            elif isinstance(o, SetPilot):
                prev = self.pilot.get(o.connector)
                self.pilot[o.connector] = o
                if o.mode is PilotMode.ACTIVATE:
                    self.activate_at[o.connector] = now
                    self.activations += 1
                else:
                    self.activate_at.pop(o.connector, None)
                if o.mode is PilotMode.OFF:
                    self.invalid_since.pop(o.connector, None)  # readings of a disconnected pilot say nothing
                if o.mode is PilotMode.PWM:
                    assert o.duty_permille == duty_permille(o.current_a), o
                    assert 6.0 <= o.current_a <= 80.0, o
                    self.pwm_withdrawn_at.pop(o.connector, None)
                elif prev is None or prev.mode is PilotMode.PWM:
                    self.pwm_withdrawn_at[o.connector] = now
                    if self.c1.get(o.connector):
                        self.c1_pauses += 1
            elif isinstance(o, SetContactors):
                n = o.connector
                was1, was2 = self.c1.get(n, False), self.c2.get(n, False)
                if was1 and o.c1:
                    assert o.c2 == was2, f"C2 changed while C1 closed at {now}"
                assert not (o.c2 and not o.c1), "C2 without C1"
                self.c1[n], self.c2[n] = o.c1, o.c2
                self.energised += o.c1
        # the rules, after the step
        for n, at in self.activate_at.items():  # the -12 V activation pulse: short, never energised
            assert now - at <= ACTIVATION_PULSE + 1e-6, f"activation pulse since {at} still on at {now}"
            assert not self.c1.get(n), f"activation pulse with the contactors closed at {now}"
        for n, closed in self.c1.items():
            if not closed:
                continue
            p = self.pilot.get(n)
            assert p is not None
            faults = self.faults.get(n, set())
            hard = faults - GRACEFUL
            assert not hard, f"closed with hard faults {hard} at {now}"
            assert self.level.get(n) in (PilotLevel.V6, PilotLevel.V3), f"closed at pilot {self.level.get(n)}"
            bad = self.invalid_since.get(n)
            assert bad is None or now - bad <= PILOT_DEBOUNCE + 0.002, f"closed with the pilot invalid since {bad}"
            if p.mode is PilotMode.PWM:
                assert not faults, f"PWM offered while energised with faults {faults} at {now}"
                assert p.duty_permille >= 100
                assert self.authorised.get(n, False), f"closed in C2 without authorisation at {now}"
            else:
                # C1: PWM withdrawn, the EV still in C (the level check above), at most C1_TIMEOUT;
                # the only window in which a (power-unavailable) fault may be active while closed
                assert p.mode is PilotMode.CONSTANT, p
                since = self.pwm_withdrawn_at.get(n)
                assert since is not None and now - since <= C1_TIMEOUT + 1e-6, f"C1 too long at {now}"
                if faults:
                    self.graceful_stops += 1


def _run(actions: list[tuple[Any, ...]], owns: bool = False) -> tuple[SimRig, Watch]:
    model = SimModel(SimOptions(connectors=2, ev_reaction_s=0.5, ev_request_delay_s=0.2, meter_interval_s=5.0,
                                ev_soc=30.0))
    ctrl = Controller(ControllerSettings(connectors=2, max_current_a=32.0), model.capabilities)
    watch = Watch()
    rig = SimRig(ctrl, model, on_step=watch.on_step)
    energy = {1: 0.0, 2: 0.0}
    for action in actions:
        kind = action[0]
        now = rig.now
        if kind == "plug":
            if not model.connector(action[1]).ev.plugged:
                model.plug(action[1], action[2], now=now)
        elif kind == "unplug":
            model.unplug(action[1], now=now)
        elif kind == "ev_charging":
            model.set_ev(action[1], charging=action[2], now=now)
        elif kind == "ev_max":
            model.set_ev(action[1], max_current_a=action[2], now=now)
        elif kind == "ev_phases":
            model.set_ev(action[1], phases=action[2], now=now)
        elif kind == "ev_soc":
            model.set_ev(action[1], soc=action[2], now=now)
        elif kind == "auth":
            rig.feed(Authorize(action[1], action[2]))
        elif kind == "limit":
            rig.feed(SetLimit(action[1], action[2], action[3]))
        elif kind == "avail":
            rig.feed(SetAvailability(action[1], action[2]))
        elif kind == "phases":
            rig.feed(SetPhases(action[1], action[2]))
        elif kind == "fault":
            model.inject_fault(action[1], action[2], action[3], now=now)
        elif kind == "reset":
            rig.feed(ResetFault(action[1], action[2]))
        elif kind == "unlock":
            rig.feed(RequestUnlock(action[1]))
        elif kind == "wait":
            rig.run_for(action[1])
        rig.run_for(0.0)
        # physics: current only flows through closed contactors, energy never decreases
        for n in (1, 2):
            sc = model.connector(n)
            if any(model.ev_current(n)):
                assert sc.act_c1, "EV draws current with C1 open"
            e = model.energy_wh(n)
            assert e >= energy[n] - 1e-9
            energy[n] = e
    rig.run_for(10.0)
    return rig, watch


#: half of the sequences start from a charging session on both connectors, so that the random
#: actions hit C2/C1 often; the other half start from nothing
_PREFIX = [("plug", 1, 32.0), ("plug", 2, 20.0), ("auth", 0, True), ("wait", 2.5)]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.booleans(), st.lists(ACTION, min_size=1, max_size=40))
def test_random_sequences_keep_the_safety_invariants(charging_first: bool, actions: list[tuple[Any, ...]]) -> None:
    rig, watch = _run((_PREFIX if charging_first else []) + actions)
    assert watch.steps == rig.steps
    event(f"energised: {watch.energised > 0}")
    event(f"C1 pause: {watch.c1_pauses > 0}")
    event(f"faults: {watch.fault_events > 0}")
    event(f"graceful stop: {watch.graceful_stops > 0}")
    event(f"pilot glitch while energised: {watch.glitches > 0}")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([
    ("wait", 2.5), ("wait", 0.6), ("wait", 6.1), ("unplug", 1), ("plug", 1, 63.0), ("auth", 0, False),
    ("plug", 1, 32.0), ("auth", 1, True), ("wait", 2.5), ("wait", 16.0), ("limit", 0, "ocpp", 5.0),
    ("limit", 0, "ocpp", None), ("phases", 1, 1), ("phases", 1, 3), ("ev_charging", 1, False),
    ("ev_charging", 1, True),
]), min_size=5, max_size=40))
def test_charging_sequences_reach_energy_safely(actions: list[tuple[Any, ...]]) -> None:
    """A narrower alphabet around a charging session, so that C1/B1/phase paths get exercised."""
    _, watch = _run(_PREFIX + actions)
    event(f"energised: {watch.energised > 0}")
    event(f"C1 pause: {watch.c1_pauses > 0}")


def test_a_plain_session_charges() -> None:
    """The property harness itself can reach charging (guards against vacuous passes)."""
    rig, watch = _run([("plug", 1, 32.0), ("auth", 1, True), ("wait", 5.0), ("wait", 5.0)])
    assert any(watch.c1.values()) or rig.model.energy_wh(1) > 0
    assert rig.model.energy_wh(1) > 0


def test_the_harness_reaches_the_new_paths() -> None:
    """Graceful stops, pilot glitches under load and the activation pulse are reachable by the
    alphabet above (guards against vacuous passes of the new rules)."""
    _, watch = _run([*_PREFIX, ("fault", 1, "overtemp", True), ("wait", 0.2), ("wait", 2.5)])
    assert watch.graceful_stops > 0
    _, watch = _run([*_PREFIX, ("fault", 1, "pilot_short", True), ("wait", 0.2), ("fault", 1, "pilot_short", False), ("wait", 1.0)])
    assert watch.glitches > 0 and watch.energised > 0
    _, watch = _run([("plug", 1, 32.0), ("ev_charging", 1, False), ("auth", 1, True), ("wait", 45.0)])
    assert watch.activations > 0


def _closed_watch() -> Watch:
    w = Watch()
    w.on_step(Authorize(1, True), [], 0.0)
    w.on_step(PilotReading(1, PilotLevel.V6), [SetPilot(1, PilotMode.PWM, 266, 16.0), SetContactors(1, True, True)],
              0.0)
    return w


def test_the_watch_rejects_what_the_rules_forbid() -> None:
    """The independent checker fails on each forbidden C1 path (it is not vacuous)."""
    import pytest

    # a hard fault with the contactors still closed
    w = _closed_watch()
    with pytest.raises(AssertionError, match="hard faults"):
        w.on_step(Authorize(1, True), [FaultChanged(1, Fault.RCD, True)], 1.0)
    # a power-unavailable fault while the PWM is still on
    w = _closed_watch()
    with pytest.raises(AssertionError, match="PWM offered while energised"):
        w.on_step(Authorize(1, True), [FaultChanged(1, Fault.OVER_TEMPERATURE, True)], 1.0)
    # C1 (PWM withdrawn) longer than 6 s
    w = _closed_watch()
    w.on_step(Authorize(1, True), [FaultChanged(1, Fault.OVER_TEMPERATURE, True), SetPilot(1, PilotMode.CONSTANT)],
              1.0)
    with pytest.raises(AssertionError, match="C1 too long"):
        w.on_step(Authorize(1, True), [], 7.01)
    # the EV left C (9 V) and the contactors are still closed
    w = _closed_watch()
    w.on_step(Authorize(1, True), [SetPilot(1, PilotMode.CONSTANT)], 1.0)
    with pytest.raises(AssertionError, match="closed at pilot"):
        w.on_step(PilotReading(1, PilotLevel.V9), [], 1.5)
    # an invalid pilot for more than 500 ms with the contactors closed
    w = _closed_watch()
    w.on_step(PilotReading(1, PilotLevel.SHORT), [], 1.0)
    with pytest.raises(AssertionError, match="pilot invalid"):
        w.on_step(Authorize(1, True), [], 1.51)
    # the activation pulse with the contactors closed / for more than 3 s
    w = _closed_watch()
    with pytest.raises(AssertionError, match="activation pulse"):
        w.on_step(Authorize(1, True), [SetPilot(1, PilotMode.ACTIVATE, 0)], 1.0)
