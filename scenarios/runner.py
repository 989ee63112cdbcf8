"""Run one scenario against the real stack in virtual time and collect what happened.

``replay(scenario) -> RunResult`` creates a :class:`~chargepoint.clock.VirtualClock` starting at the
scenario's ``start``, starts the stack, applies the steps at their offsets, takes the observations the
expectations need at their times, runs until ``duration`` and evaluates every expectation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from backends.sim.board import SimBoard
from backends.sim.house import SimHouse
from chargepoint.clock import DEFAULT_WALL_TIMEOUT, Clock, RealClock, VirtualClock
from chargepoint.controller.limits import Limit
from chargepoint.controller.types import FaultChanged, OfferedCurrentChanged, StateChanged
from chargepoint.csms import Frame, NotConnectedError, TestCsms
from chargepoint.csms.session import CallOutcome
from chargepoint.recording import TraceRecorder
from chargepoint.station import Station
from hal.types import MeterReading
from scenarios import energy_steps
from scenarios.rs485 import NodeRig
from scenarios.schema import ChargePointSpec, Expectation, Scenario, Step
from scenarios.stack import MainsMeter, Stack

CP_TO_CSMS = "cp->csms"
SETTLE_S = 0.001
#: steps written to a replay's own trace as ``sim`` records (CALLs and CSMS answers are in the frames)
TRACED_STEPS = {"plug": "plug", "unplug": "unplug", "ev": "ev", "rfid": "rfid", "fault": "fault",
                "temperature": "temperature", "mains": "mains", "load": "load", "offline": "csms_offline",
                "clock": "clock_jump", **{k: k for k in energy_steps.KINDS}}
CSMS_TO_CP = "csms->cp"


@dataclass
class FrameRecord:
    t: float
    direction: str  # cp->csms | csms->cp
    message_type: str  # CALL CALLRESULT CALLERROR INVALID
    action: str | None
    payload: Any
    unique_id: str | None
    cp_id: str | None = None


@dataclass
class Event:
    t: float
    kind: str  # ocpp step state fault offered error
    text: str


@dataclass
class Sample:
    t: float
    connector: int
    offered_a: float
    actual_a: float
    limit_a: float | None  # the smart-charging ("ocpp") limit
    power_w: float


@dataclass
class ExpectationResult:
    expectation: Expectation
    passed: bool
    summary: str
    expected: str = ""
    actual: str = ""


@dataclass
class RunResult:
    scenario: Scenario
    frames: list[FrameRecord] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    observations: dict[int, Any] = field(default_factory=dict)  # expectation index -> what was seen
    call_outcomes: dict[int, CallOutcome] = field(default_factory=dict)  # id(step) -> outcome
    results: list[ExpectationResult] = field(default_factory=list)
    wall_s: float = 0.0
    virtual_s: float = 0.0
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(r.passed for r in self.results)

    @property
    def speedup(self) -> float:
        return self.virtual_s / self.wall_s if self.wall_s > 0 else float("inf")


def compact(value: Any, limit: int | None = None) -> str:
    text = json.dumps(value, separators=(",", ":"), sort_keys=False)
    if limit is not None and len(text) > limit:
        return text[: limit - 1] + "…"
    return text


class _Collector:
    """Listens to the CSMS frame log and the station; stamps everything with scenario time."""

    def __init__(self, clock: Clock, t0: float, result: RunResult, *, frame_events: bool = True) -> None:
        self.clock = clock
        self.frame_events = frame_events  # a fleet's timeline shows summaries, not every frame
        self.t0 = t0
        self.result = result
        self._last: dict[int, tuple[float, float, float | None, float]] = {}
        self._actual: dict[int, tuple[float, float]] = {}
        self.stack: Stack | None = None  # the station sampled is the stack's current one
        self.end: float | None = None  # nothing after the scenario's duration is kept

    def _late(self, t: float) -> bool:
        return self.end is not None and t > self.end

    def now(self) -> float:
        return round(self.clock.monotonic() - self.t0, 6)

    def on_frame(self, frame: Frame) -> None:
        t = self.now()
        if self._late(t):
            return
        rec = FrameRecord(t, frame.direction, frame.message_type, frame.action, frame.payload, frame.unique_id,
                          frame.cp_id)
        self.result.frames.append(rec)
        if not self.frame_events:
            return
        arrow = "CP -> CSMS" if frame.direction == CP_TO_CSMS else "CSMS -> CP"
        if frame.message_type == "CALLERROR":
            body = f"{frame.payload.get('errorCode')} {frame.payload.get('errorDescription', '')}".strip()
        else:
            body = compact(frame.payload, 240)
        self.result.events.append(Event(t, "ocpp", f"{arrow}  {frame.message_type} {frame.action or '?'} {body}"))

    def note(self, kind: str, text: str) -> None:
        if kind == "error" or not self._late(self.now()):
            self.result.events.append(Event(self.now(), kind, text))

    def on_station(self, item: Any) -> None:
        if isinstance(item, StateChanged):
            s = item.snapshot
            self.note("state", f"connector {item.connector}: {item.old} -> {item.new} "
                               f"(offered {s.offered_current_a:g} A, contactors {'closed' if s.contactor_c1 else 'open'})")
            self._sample(item.connector)
        elif isinstance(item, FaultChanged):
            self.note("fault", f"connector {item.connector}: fault {item.fault} {'raised' if item.active else 'cleared'}"
                               + (f" ({item.detail})" if item.detail else ""))
        elif isinstance(item, OfferedCurrentChanged):
            self.note("offered", f"connector {item.connector}: offered {item.offered_a:g} A ({item.binding_limit})")
            self._sample(item.connector)
        elif isinstance(item, MeterReading) and item.connector >= 1:
            self._actual[item.connector] = (max(item.current_a), item.power_w)
            self._sample(item.connector)

    def _sample(self, connector: int) -> None:
        if self.stack is None or connector < 1 or self._late(self.now()):
            return
        snap = self.stack.station.snapshot(connector)
        actual, power = self._actual.get(connector, (0.0, 0.0))
        limit = snap.limits.get(Limit.OCPP)
        key = (snap.offered_current_a, actual, limit, power)
        if self._last.get(connector) == key:
            return
        self._last[connector] = key
        self.result.samples.append(Sample(self.now(), connector, snap.offered_current_a, actual, limit, power))


def _step_text(step: Step) -> str:
    a = step.args
    if step.kind in energy_steps.KINDS:
        return energy_steps.text(step.kind, a)
    if step.kind == "plug":
        return f"plug connector {a['connector']} (cable {a['cable_a']:g} A)"
    if step.kind == "unplug":
        return f"unplug connector {a['connector']}"
    if step.kind == "ev":
        return f"EV on connector {a['connector']}: " + ", ".join(f"{k}={v}" for k, v in a.items() if k != "connector")
    if step.kind == "rfid":
        return f"RFID {a['id_tag']} presented (connector {a['connector']})"
    if step.kind == "call":
        return f"CSMS calls {a['action']} {compact(a['payload'], 200)}"
    if step.kind == "fault":
        return f"fault {a['fault']} {'injected' if a['active'] else 'cleared'} (connector {a['connector']})"
    if step.kind == "temperature":
        return f"temperature of connector {a['connector']} = {a['celsius']:g} °C"
    if step.kind == "mains":
        return f"mains meter: {a['currents']} A"
    if step.kind == "csms":
        return f"CSMS behaviour: {compact(a['changes'])}"
    if step.kind == "offline":
        return f"CSMS offline for {a['seconds']:g} s"
    if step.kind == "clock":
        return f"wall clock jumps {a['jump']:+g} s"
    if step.kind == "node":
        what = f"{a['fault']}{' ' + format(a['celsius'], 'g') + ' °C' if 'celsius' in a else ''}"
        return f"RS485 node of connector {a['connector']}: {what} {'injected' if a['active'] else 'ended'}"
    if step.kind == "base_load":
        return f"house base load on the RS485 mains meter: {a['amps']:g} A per phase"
    if step.kind == "load":
        where = " (sub-panel)" if a["subpanel"] else ""
        return f"house load {a['name']}{where}: {a['currents']} A"
    return step.kind


async def run_in_clock(scn: Scenario, clock: Clock, *, trace_path: str | None = None,
                       progress: Callable[[float], None] | None = None) -> RunResult:
    """Run ``scn`` on ``clock`` (already running); returns the result without evaluating expectations."""
    result = RunResult(scn)
    t0 = clock.monotonic()
    col = _Collector(clock, t0, result)
    recorder: TraceRecorder | None = None
    observers: list[Callable[[Any], None]] = [col.on_station]
    frame_listeners: list[Callable[[Frame], None]] = [col.on_frame]
    if trace_path is not None:
        recorder = TraceRecorder(clock, trace_path, {"scenario": scn.name, "chargepoint": vars(scn.chargepoint),
                                                     "csms": scn.csms})
        observers.append(recorder.station_item)
        # frames as the charge point sees them: "out" = charge point -> CSMS
        frame_listeners.append(lambda f: recorder.frame("out" if f.direction == CP_TO_CSMS else "in", f.raw))
    stack = Stack(clock, scn.chargepoint, scn.csms, observers=observers, frame_listeners=frame_listeners)
    col.stack = stack
    call_tasks: list[asyncio.Task[Any]] = []
    try:
        await stack.start()
        plan = sorted(plan_of(scn, ("state", "energy", "composite_schedule")), key=lambda p: (p[0], p[1], p[2]))
        ticker = asyncio.create_task(_progress(clock, t0, scn.duration, progress)) if progress else None
        for at, _, index, item in plan:
            await clock.sleep_until(t0 + at)
            stack.check()
            if isinstance(item, Step):
                col.note("step", _step_text(item))
                if recorder is not None and item.kind in TRACED_STEPS:
                    recorder.sim(TRACED_STEPS[item.kind], **item.args)
                task = await _apply(stack, item, result, col)
                if task is not None:
                    call_tasks.append(task)
            else:
                task = _observe(stack, item, index, result, col)
                if task is not None:
                    call_tasks.append(task)

        def check() -> None:  # after the last instant: the stack's health, the RS485 bus's broadcasts
            stack.check()
            if stack.nodes is not None:  # for the balanced expectations
                sums = stack.nodes.sums(t0)
                for i, exp in enumerate(scn.expectations):
                    if exp.kind == "balanced":
                        result.observations[i] = [(t, da) for t, da in sums if t <= scn.duration]

        await run_to_end(clock, t0, col, ticker, progress, check=check)
    except Exception as exc:  # the stack broke: report it, do not hide it
        result.error = f"{type(exc).__name__}: {exc}"
        col.note("error", result.error)
    finally:
        for task in call_tasks:
            task.cancel()
        await asyncio.gather(*call_tasks, return_exceptions=True)
        await stack.stop()
        if recorder is not None:
            recorder.close()
    return result


def plan_of(scn: Scenario, observed: tuple[str, ...]) -> list[tuple[float, int, int, Any]]:
    """(time, 0, index, step) for every step and (time, 1, index, expectation) for every expectation
    of the ``observed`` kinds (looked at, at their time)."""
    plan: list[tuple[float, int, int, Any]] = [(step.at, 0, i, step) for i, step in enumerate(scn.steps)]
    plan += [(exp.args["at"], 1, i, exp) for i, exp in enumerate(scn.expectations) if exp.kind in observed]
    return plan


async def run_to_end(clock: Clock, t0: float, col: _Collector, ticker: asyncio.Task[None] | None,
                     progress: Callable[[float], None] | None, check: Callable[[], None] = lambda: None) -> None:
    """Run to the scenario's end, let what was triggered at the last instant finish (answers in flight
    on the loopback socket), then keep only what happened up to the end: the same timeline every run."""
    scn = col.result.scenario
    await clock.sleep_until(t0 + scn.duration)
    col.end = scn.duration
    await clock.sleep(SETTLE_S)
    check()
    if ticker is not None and progress is not None:
        ticker.cancel()
        progress(1.0)
    col.result.virtual_s = min(clock.monotonic() - t0, scn.duration)


async def _progress(clock: Clock, t0: float, duration: float, report: Callable[[float], None]) -> None:
    step = max(duration / 50.0, 1.0)
    while True:
        report(min(1.0, (clock.monotonic() - t0) / duration))
        await clock.sleep(step)


class Target(Protocol):
    """What steps and observations act on: the :class:`~scenarios.stack.Stack`, or one member of a fleet."""

    @property
    def clock(self) -> Clock: ...
    @property
    def csms(self) -> TestCsms | None: ...
    @property
    def spec(self) -> ChargePointSpec: ...
    @property
    def board(self) -> SimBoard: ...
    @property
    def station(self) -> Station: ...
    @property
    def mains(self) -> MainsMeter: ...
    @property
    def house(self) -> SimHouse | None: ...
    @property
    def nodes(self) -> NodeRig | None: ...
    def energy_wh(self, connector: int) -> float: ...


async def _call(stack: Target, action: str, payload: Any, timeout: float) -> CallOutcome:  # noqa: ASYNC109 - virtual time
    assert stack.csms is not None
    try:
        return await stack.csms.call(stack.spec.id, action, payload, timeout)
    except NotConnectedError as exc:
        return CallOutcome("error", error_code="NotConnected", error_description=str(exc))


async def _apply(stack: Target, step: Step, result: RunResult, col: _Collector) -> asyncio.Task[Any] | None:
    a = step.args
    csms = stack.csms
    assert csms is not None
    try:
        if stack.nodes is not None and step.kind in stack.nodes.STEPS:
            stack.nodes.apply(step.kind, a)
            return None
        if step.kind == "plug":
            stack.board.plug(a["connector"], a["cable_a"])
        elif step.kind == "unplug":
            stack.board.unplug(a["connector"])
        elif step.kind == "ev":
            stack.board.set_ev(a["connector"], **{k: v for k, v in a.items() if k != "connector"})
        elif step.kind == "rfid":
            stack.board.present_rfid(a["id_tag"], a["connector"])
        elif step.kind == "fault":
            stack.board.inject_fault(a["connector"], a["fault"], a["active"])
        elif step.kind == "temperature":
            stack.board.set_temperature(a["connector"], a["celsius"])
        elif step.kind == "mains":
            stack.mains.push(a["currents"], a["voltage"])
        elif step.kind == "csms":
            csms.behaviour.update(a["changes"])
        elif step.kind == "offline":
            await csms.go_offline(a["seconds"])
        elif step.kind == "clock":
            stack.clock.set_wall_offset(stack.clock.wall_offset + a["jump"])
        elif step.kind == "load":
            on = any(x > 0 for x in a["currents"])
            assert stack.house is not None  # the schema allows load steps only with a sim house
            stack.house.set_load(a["name"], tuple(a["currents"]) if on else None, subpanel=a["subpanel"])
        elif step.kind in energy_steps.KINDS:
            assert isinstance(stack, Stack)  # energy steps act on one charge point's runtime (no fleet steps)
            await energy_steps.apply(stack, step.kind, a)
        elif step.kind == "call":
            async def call() -> None:
                outcome = await _call(stack, a["action"], a["payload"], a["timeout"])
                result.call_outcomes[id(step)] = outcome
                if outcome.status == "timeout":
                    col.note("step", f"{a['action']}: no answer within {a['timeout']:g} s")
                elif outcome.error_code == "NotConnected":
                    col.note("step", f"{a['action']}: charge point not connected")

            return asyncio.create_task(call())
    except ValueError as exc:  # the simulation refused the control (e.g. plug twice)
        col.note("error", f"{step.where}: {step.kind}: {exc}")
        result.error = result.error or f"{step.where}: {step.where.field}: {exc}"
    return None


def _observe(stack: Target, exp: Expectation, index: int, result: RunResult, col: _Collector) -> asyncio.Task[Any] | None:
    a = exp.args
    if exp.kind == "state":
        n = a["connector"]
        seen: dict[str, Any] = {"status": _last_status(result.frames, n, stack.spec.id)}
        if n >= 1:
            snap = stack.station.snapshot(n)
            seen.update(state=str(snap.substate), iec_state=str(snap.iec_state), offered=snap.offered_current_a,
                        contactors="closed" if snap.contactor_c1 else "open", binding_limit=snap.binding_limit,
                        locked=snap.locked, authorized=snap.authorized, faults=sorted(str(f) for f in snap.faults),
                        phases=snap.phases)
        result.observations[index] = seen
    elif exp.kind == "energy":
        result.observations[index] = stack.energy_wh(a["connector"])
    elif exp.kind == "composite_schedule":
        payload = {"connectorId": a["connector"], "duration": a["duration"], "chargingRateUnit": a["unit"]}

        async def ask() -> None:
            result.observations[index] = await _call(stack, "GetCompositeSchedule", payload, 30.0)

        return asyncio.create_task(ask())
    return None


def _last_status(frames: list[FrameRecord], connector: int, cp_id: str | None = None) -> str | None:
    for f in reversed(frames):
        if (f.direction == CP_TO_CSMS and f.message_type == "CALL" and f.action == "StatusNotification"
                and (cp_id is None or f.cp_id in (None, cp_id))
                and isinstance(f.payload, dict) and f.payload.get("connectorId") == connector):
            return f.payload.get("status")
    return None


@contextlib.contextmanager
def synchronous_schema_validation() -> Iterator[None]:
    """The ocpp library validates payloads in a worker thread by default; when that thread finishes
    relative to the loopback socket traffic varies from run to run, and so would the order of events
    that share a virtual instant.  Validating inline (the library's ``ASYNC_VALIDATION`` switch) gives
    the same timeline every run, and saves the thread hand-offs."""
    import ocpp.messages

    before = ocpp.messages.ASYNC_VALIDATION
    ocpp.messages.ASYNC_VALIDATION = False
    try:
        yield
    finally:
        ocpp.messages.ASYNC_VALIDATION = before


def replay(scn: Scenario, *, trace_path: str | None = None,
           progress: Callable[[float], None] | None = None, realtime: bool = False) -> RunResult:
    """Run ``scn`` in its own VirtualClock (``realtime``: on the real clock, as long as it lasts) and
    evaluate the expectations.  A scenario with a ``fleet:`` section runs its fleet
    (scenarios/fleet_runner.py)."""
    from scenarios.expectations import evaluate_all

    began = time.perf_counter()
    with synchronous_schema_validation():
        if scn.fleet is not None:
            from scenarios.fleet_runner import run_fleet

            if trace_path is not None:
                raise ValueError("a fleet scenario cannot be recorded as a trace (--record)")
            result = _run(lambda clock: run_fleet(scn, clock, progress=progress), scn, realtime,
                          wall_timeout=None)  # a big fleet may take long; it is not spinning
        else:
            result = _run(lambda clock: run_in_clock(scn, clock, trace_path=trace_path, progress=progress), scn,
                          realtime)
    result.wall_s = time.perf_counter() - began
    result.results = evaluate_all(result)
    return result


def _run(main: Callable[[Clock], Any], scn: Scenario, realtime: bool,
         wall_timeout: float | None = DEFAULT_WALL_TIMEOUT) -> RunResult:
    if realtime:
        real = RealClock()
        return real.run(main(real))
    clock = VirtualClock(scn.start)
    return clock.run(main(clock), wall_timeout=wall_timeout)


def tty_progress(name: str) -> Callable[[float], None] | None:
    """A progress bar on stderr, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(fraction: float) -> None:
        width = 30
        done = int(fraction * width)
        sys.stderr.write(f"\r{name[:40]:<40} [{'#' * done}{'.' * (width - done)}] {fraction * 100:5.1f}%")
        if fraction >= 1.0:
            sys.stderr.write("\r" + " " * 80 + "\r")
        sys.stderr.flush()

    return show
