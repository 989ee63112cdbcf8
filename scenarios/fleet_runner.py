"""Replay a fleet scenario: the test CSMS and a :class:`chargepoint.fleet.fleet.Fleet` of full charge
points (``chargepoint fleet``'s members: board + EV, controller, station, OCPP client and store each)
on one clock -- a VirtualClock for ``chargepoint replay``, the real clock with ``--realtime`` -- over
real loopback websockets.

The members' behaviour (arrivals, sessions, faults) runs as in ``chargepoint fleet``; the scenario's
steps act on the targeted members' boards (the single charge point's steps, :func:`scenarios.runner._apply`)
or on the CSMS; its expectations look at the CSMS's frames (per charge point or all), at one member's
state, or count the fleet (:func:`fleet_counts`).  The timeline shows the steps and a fleet summary
every ``summary_every`` seconds instead of every frame.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

from backends.sim.board import SimBoard
from backends.sim.house import SimHouse
from chargepoint.clock import Clock
from chargepoint.csms import Behaviour, Frame, TestCsms
from chargepoint.fleet.fleet import Fleet
from chargepoint.fleet.member import Member
from chargepoint.station import Station
from scenarios.fleet_schema import COUNTS, describe_counts
from scenarios.rs485 import NodeRig
from scenarios.runner import (
    ExpectationResult,
    RunResult,
    _apply,
    _Collector,
    _observe,
    _progress,
    _step_text,
    plan_of,
    run_to_end,
)
from scenarios.schema import ChargePointSpec, Expectation, Scenario, Step
from scenarios.stack import MainsMeter, scratch_dir

#: timeline summary lines of a fleet run when the scenario does not say (``fleet.summary_every``)
SUMMARIES = 12


class MemberTarget:
    """One member as the single charge point's steps and observations see a stack."""

    def __init__(self, member: Member, csms: TestCsms, clock: Clock) -> None:
        self.member = member
        self.csms: TestCsms | None = csms
        self.clock = clock
        self.spec = ChargePointSpec(id=member.cp_id, connectors=member.spec.connectors)

    def _running(self) -> Member:
        if not self.member.started or self.member.board is None or self.member.station is None:
            raise ValueError(f"{self.member.cp_id} is not running")
        return self.member

    @property
    def board(self) -> SimBoard:
        board = self._running().board
        assert board is not None
        return board

    @property
    def station(self) -> Station:
        station = self._running().station
        assert station is not None
        return station

    @property
    def mains(self) -> MainsMeter:
        raise ValueError("a fleet member has no scripted mains meter")

    @property
    def house(self) -> SimHouse | None:
        return None

    @property
    def nodes(self) -> NodeRig | None:  # no emulated RS485 nodes on a fleet member
        return None

    def energy_wh(self, connector: int) -> float:
        return self.board.energy_wh(connector)


class FleetRun:
    """The CSMS, the fleet and what the run counts."""

    def __init__(self, scn: Scenario, clock: Clock, col: _Collector) -> None:
        assert scn.fleet is not None
        self.scn = scn
        self.clock = clock
        self.col = col
        behaviour = Behaviour()
        behaviour.update(scn.csms)
        # keep-alive pings off on the CSMS side, as for one charge point (scenarios/stack.py)
        self.csms = TestCsms(clock, http_port=None, console_log=False, behaviour=behaviour, ping_interval=None)
        self.frame_kinds: Counter[str] = Counter()
        self.csms.frame_log.listeners += [col.on_frame, self._count_frame]
        self.scratch = scratch_dir("fleet-scenario-")
        self.fleet: Fleet | None = None

    def _count_frame(self, frame: Frame) -> None:
        self.frame_kinds[frame.message_type] += 1

    async def start(self) -> None:
        spec = self.scn.fleet
        assert spec is not None
        await self.csms.start()
        self.fleet = Fleet(self.clock, spec.template.with_overrides(csms_url=self.csms.url), self.scratch.name,
                           seed=spec.seed)
        await self.fleet.start()

    async def stop(self) -> None:
        if self.fleet is not None:
            await self.fleet.stop()
        await self.csms.stop()
        self.scratch.cleanup()

    def target(self, cp_id: str) -> MemberTarget:
        assert self.fleet is not None
        return MemberTarget(self.fleet.members[cp_id], self.csms, self.clock)

    # -- steps ---------------------------------------------------------------------------------------
    async def apply(self, step: Step, result: RunResult) -> list[asyncio.Task[Any]]:
        tasks = []
        if step.targets:
            for cp_id in step.targets:
                task = await _apply(self.target(cp_id), step, result, self.col)
                if task is not None:
                    tasks.append(task)
        elif step.kind == "csms":  # the fleet-wide steps: on the CSMS (and the wall clock)
            self.csms.behaviour.update(step.args["changes"])
        elif step.kind == "offline":
            await self.csms.go_offline(step.args["seconds"])
        elif step.kind == "clock":
            self.clock.set_wall_offset(self.clock.wall_offset + step.args["jump"])
        elif step.kind == "csms_restart":
            await self.csms.stop()
            tasks.append(asyncio.create_task(self._start_again(step.args["seconds"])))
        return tasks

    async def _start_again(self, seconds: float) -> None:
        await self.clock.sleep(seconds)
        await self.csms.start()  # the same port; registrations and transactions are remembered

    def observe(self, exp: Expectation, index: int, result: RunResult) -> asyncio.Task[Any] | None:
        if exp.kind == "fleet":
            result.observations[index] = self.counts()
            return None
        try:
            return _observe(self.target(exp.args["cp"]), exp, index, result, self.col)
        except ValueError as exc:  # the member is not running: nothing to observe
            self.col.note("error", f"{exp.where}: {exp.kind}: {exc}")
            return None

    # -- counting ------------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        fleet = self.fleet
        assert fleet is not None
        return fleet_counts(fleet, self.csms, self.frame_kinds)

    def summary_text(self) -> str:
        c = self.counts()
        assert self.fleet is not None
        return (f"{c['booted']}/{len(self.fleet.members)} booted, {c['connected']} connected, {c['charging']} "
                f"charging, transactions {c['transactions_started']} started / {c['transactions_stopped']} "
                f"stopped, {c['queued']} queued, {c['faulted']} faulted, {c['errors']} errors, "
                f"{sum(self.frame_kinds.values())} frames")


def fleet_counts(fleet: Fleet, csms: TestCsms, frame_kinds: Counter[str]) -> dict[str, int]:
    """The :data:`~scenarios.fleet_schema.COUNTS` now."""
    out = dict.fromkeys(COUNTS, 0)
    for m in fleet.members.values():
        out["errors"] += m.errors
        out["restarts"] += m.restarts
        if not m.started:
            continue
        out["running"] += 1
        out["connected"] += m.connected
        out["booted"] += m.registration == "Accepted"
        ctx = m.client.ctx if m.client is not None else None
        if ctx is not None:
            out["heartbeating"] += ctx.outbox.stats.heartbeats > 0
            out["queued"] += ctx.outbox.pending_transaction_messages()
        out["charging"] += m.charging_connectors()
        out["faulted"] += m.faulted()
    for tx in csms.transactions.values():
        started, stopped = tx.get("start") is not None, tx.get("stop") is not None
        out["transactions_started"] += started
        out["transactions_stopped"] += stopped
        out["transactions_open"] += started and not stopped
    out["errors"] += fleet.behaviour_errors + len(csms.violations) + frame_kinds["INVALID"]
    out["callerrors"] = frame_kinds["CALLERROR"]
    out["arrivals"] = fleet.driver_stats.arrivals
    out["departures"] = fleet.driver_stats.departures
    return out


async def run_fleet(scn: Scenario, clock: Clock, *, progress: Callable[[float], None] | None = None) -> RunResult:
    """Run the fleet scenario ``scn`` on ``clock`` (already running); expectations are not evaluated."""
    assert scn.fleet is not None
    result = RunResult(scn)
    t0 = clock.monotonic()
    col = _Collector(clock, t0, result, frame_events=False)
    run = FleetRun(scn, clock, col)
    every = scn.fleet.summary_every
    times = ([k * every for k in range(1, int(scn.duration / every + 1e-9) + 1)] if every
             else [scn.duration * k / SUMMARIES for k in range(1, SUMMARIES + 1)])
    summaries: list[tuple[float, int, int, Any]] = [(t, 2, k, None) for k, t in enumerate(times)]
    tasks: list[asyncio.Task[Any]] = []
    ticker: asyncio.Task[None] | None = None
    try:
        await run.start()
        ticker = asyncio.create_task(_progress(clock, t0, scn.duration, progress)) if progress else None
        for at, _, index, item in sorted(plan_of(scn, ("state", "energy", "composite_schedule", "fleet"))
                                         + summaries, key=lambda p: (p[0], p[1], p[2])):
            await clock.sleep_until(t0 + at)
            if isinstance(item, Step):
                where = f" ({len(item.targets)} charge points)" if item.targets and len(item.targets) > 1 else (
                    f" ({item.targets[0]})" if item.targets else "")
                text = (f"CSMS restarts: its port is closed for {item.args['seconds']:g} s"
                        if item.kind == "csms_restart" else _step_text(item))
                col.note("step", text + where)
                tasks += await run.apply(item, result)
            elif item is None:
                col.note("fleet", run.summary_text())
            elif (task := run.observe(item, index, result)) is not None:
                tasks.append(task)
        await run_to_end(clock, t0, col, ticker, progress)
    except Exception as exc:  # the stack broke: report it, do not hide it
        result.error = f"{type(exc).__name__}: {exc}"
        col.note("error", result.error)
    finally:
        if ticker is not None:
            ticker.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await run.stop()
    return result


def judge_counts(exp: Expectation, index: int, run: RunResult) -> ExpectationResult:
    """A ``fleet`` expectation: every count within its bounds at its time."""
    a = exp.args
    want = describe_counts(a["counts"])
    what = f"fleet at {a['at']:g} s: {want}"
    seen = run.observations.get(index)
    if seen is None:
        return ExpectationResult(exp, False, what, expected=want, actual="not observed (the run ended early)")
    wrong = [key for key, (lo, hi) in a["counts"].items() if not (seen[key] >= lo and (hi is None or seen[key] <= hi))]
    actual = ", ".join(f"{key}={seen[key]}" for key in a["counts"])
    return ExpectationResult(exp, not wrong, what, expected=want,
                             actual=actual + (f" (wrong: {', '.join(wrong)})" if wrong else ""))
