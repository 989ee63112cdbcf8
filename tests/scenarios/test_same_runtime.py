"""Scenario replay runs the Runtime of ``chargepoint run``, and an OCPP Reset restarts the station in
replay exactly as in a run: a new board, a new controller, a new station, a new OCPP client."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from chargepoint.app import OcppService, build_runtime
from chargepoint.clock import VirtualClock
from chargepoint.config import load_config
from chargepoint.csms import TestCsms
from chargepoint.runtime import Runtime
from scenarios.runner import replay
from scenarios.schema import load_scenario
from scenarios.stack import Stack, scenario_config

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"


def _parts(runtime: Runtime) -> tuple[Any, ...]:
    station = runtime.station
    assert station is not None
    ocpp = next(s for s in runtime.services if isinstance(s, OcppService))
    return station, station.controller, station.board, ocpp.client, runtime.energy


async def _reset_and_compare(clock: VirtualClock, runtime: Runtime, csms: TestCsms, cp_id: str,
                             kind: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    await csms.wait_for_connection(cp_id, 10)
    await clock.sleep(5)
    before = _parts(runtime)
    outcome = await csms.call(cp_id, "Reset", {"type": kind})
    assert outcome.payload == {"status": "Accepted"}
    boots = len([f for f in csms.frames if f.action == "BootNotification" and f.message_type == "CALL"])
    await csms.wait_for_frame(lambda f: f.action == "BootNotification" and f.message_type == "CALL", 60,
                              start=0 if boots > 1 else len(csms.frames))
    await clock.sleep(1)
    return before, _parts(runtime)


@pytest.mark.parametrize("kind", ["Soft", "Hard"])
def test_reset_rebuilds_the_station_in_run_and_in_replay(tmp_path, kind):
    """The same Reset against ``chargepoint run``'s runtime and against a scenario's stack: both build
    every part again, and both count one restart."""

    async def main(clock: VirtualClock) -> None:
        # chargepoint run: the runtime build_runtime makes of a configuration
        csms = TestCsms(clock, http_port=None, console_log=False, ping_interval=None)
        await csms.start()
        cfg = load_config(None, env={}, overrides={"http.listen": "", "chargepoint.data_dir": str(tmp_path / "run")})
        runtime = build_runtime(cfg, clock, csms_url=csms.url)
        task = asyncio.create_task(runtime.run())
        try:
            run_before, run_after = await _reset_and_compare(clock, runtime, csms, cfg.chargepoint.id, kind)
            run_starts = runtime.starts
        finally:
            runtime.stop_requested.set()
            await task
            await csms.stop()

        # scenario replay: the stack of the reset scenario
        scn = load_scenario(LIBRARY / f"reset_{kind.lower()}.yaml")
        stack = Stack(clock, scn.chargepoint, scn.csms, data_dir=tmp_path / "replay")
        await stack.start()
        try:
            assert stack.runtime is not None and stack.csms is not None
            assert type(stack.runtime) is Runtime
            replay_before, replay_after = await _reset_and_compare(clock, stack.runtime, stack.csms,
                                                                   scn.chargepoint.id, kind)
            assert stack.restarts == 1
            assert stack.board is replay_after[2]  # steps act on the current board
        finally:
            await stack.stop()

        for before, after in ((run_before, run_after), (replay_before, replay_after)):
            for old, new in zip(before, after, strict=True):
                assert new is not old  # station, controller, board, OCPP client, energy service
        assert run_starts == 2

    clock = VirtualClock()
    clock.run(main(clock))


def test_replay_config_is_a_chargepoint_run_config(tmp_path):
    """The scenario's charge point becomes the Config ``chargepoint run`` reads: the production controller
    settings (unlock, ventilation, temperature, PP table) are the configuration's, not replay's own."""
    scn = load_scenario(LIBRARY / "two_connectors.yaml")
    cfg = scenario_config(scn.chargepoint, tmp_path)
    assert cfg.backend.name == "sim" and cfg.backend.connectors == 2
    assert cfg.http.listen == ""  # no HTTP listener in replay
    assert cfg.controller == load_config(None, env={}).controller  # defaults of the run configuration
    assert cfg.energy["mains_meter"] == "meter"


def test_reset_scenario_shows_the_station_restart():
    """reset_soft replays green and its timeline shows what a run shows after a Reset: the board starts
    afresh (the simulated EV is gone), so connector 1 reports Available after the new BootNotification."""
    run = replay(load_scenario(LIBRARY / "reset_soft.yaml"))
    assert run.passed, run.error
    boots = [f.t for f in run.frames if f.action == "BootNotification" and f.message_type == "CALL"]
    assert len(boots) == 2
    after = [f.payload["status"] for f in run.frames if f.t >= boots[1] and f.action == "StatusNotification"
             and f.message_type == "CALL" and f.payload["connectorId"] == 1]
    assert after and after[0] == "Available"
