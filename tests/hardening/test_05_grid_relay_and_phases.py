"""Issue 12, point 5 (part): the grid relay (EnWG §14a) limits all connectors together to
GridRelayMaxSumMains (18 A summed over the phases) in every mode, the first-started EV keeping its
share; a manual 1-/3-phase request is refused without C2."""

from __future__ import annotations

import pytest

from chargepoint.energy import EnableC2, EnergyManager, EnergySettings, EvStatus, Mode


def _ev(n, charging=True):
    return EvStatus(n, connected=True, charging=charging, phases=3, offered_a=16, cap_a=16)


def test_grid_relay_limits_one_three_phase_ev_to_6_a_in_normal_mode():
    em = EnergyManager(EnergySettings(mode=Mode.NORMAL))
    d = em.step(0.0, [_ev(1)])
    assert d.connectors[1].limit() is None
    em.feed_grid_relay(1.0, True)
    d = em.step(2.0, [_ev(1)])
    assert d.connectors[1].limits["grid_relay"] == 6.0 and d.connectors[1].binding == "grid_relay"
    assert any(c.name == "grid_relay" and c.amps == 6.0 for c in d.commands(None))
    em.feed_grid_relay(3.0, False)
    d = em.step(4.0, [_ev(1)])
    assert d.connectors[1].limits["grid_relay"] is None


def test_grid_relay_budget_goes_to_the_first_ev_the_second_pauses():
    em = EnergyManager(EnergySettings(mode=Mode.NORMAL, max_circuit_a=32))
    em.step(0.0, [_ev(1), _ev(2, charging=False)])
    em.step(2.0, [_ev(1), _ev(2)])
    em.feed_grid_relay(3.0, True)
    d = em.step(4.0, [_ev(1), _ev(2)])
    assert d.connectors[1].limits["grid_relay"] == 6.0
    assert d.connectors[2].limits["grid_relay"] == 0.0  # below MinCurrent: the controller pauses it
    total = sum((d.connectors[n].limit() or 0) * 3 for n in (1, 2))
    assert total <= 18.0


def test_manual_phase_request_needs_c2():
    em = EnergyManager(EnergySettings(mode=Mode.SMART, enable_c2=EnableC2.NOT_PRESENT))
    with pytest.raises(ValueError, match="phases"):
        em.request_phases(1)
    em = EnergyManager(EnergySettings(mode=Mode.NORMAL, enable_c2=EnableC2.ALWAYS_ON))
    em.request_phases(1)
    d = em.step(0.0, [_ev(1, charging=False)])
    assert d.connectors[1].phases == 1
    with pytest.raises(ValueError, match="phases"):
        em.request_phases(2)


# --------------------------------------------------------------------------- over real HTTP (issue 12.5)

from collections.abc import AsyncIterator  # noqa: E402
from contextlib import asynccontextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import aiohttp  # noqa: E402

from chargepoint.clock import VirtualClock  # noqa: E402
from chargepoint.controller import Authorize  # noqa: E402
from chargepoint.runtime import Runtime  # noqa: E402
from scenarios.loader import ScenarioError  # noqa: E402
from scenarios.runner import replay  # noqa: E402
from scenarios.schema import parse_scenario  # noqa: E402
from tests.hardening.test_05_rfid_reader_modes import call, charger  # noqa: E402


@asynccontextmanager
async def serve(tmp_path: Path, clock: VirtualClock, *, energy: dict[str, Any] | None = None,
                sim: dict[str, Any] | None = None, backend_phases: int = 3,
                ) -> AsyncIterator[tuple[Runtime, aiohttp.ClientSession]]:
    """The production runtime with the local API (tests/hardening/test_05_rfid_reader_modes.charger)."""
    async with charger(tmp_path, "ocpp", clock, energy=energy, sim=sim, backend__phases=backend_phases) as served:
        yield served


async def _charging(runtime: Runtime, s: aiohttp.ClientSession, clock: VirtualClock) -> None:
    assert runtime.station is not None
    await call(s, "POST", "/api/sim/connectors/1/plug", {})
    await clock.sleep(1)
    await runtime.station.submit(Authorize(1, True))
    await clock.sleep(10)


def test_grid_relay_routes_sim_input_and_api_with_the_contact_polarity(tmp_path: Path) -> None:
    clock = VirtualClock()

    async def main() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with serve(tmp_path, clock, energy={"mode": "normal", "grid_relay_limit_on": "open"}) as (rt, s):
            await _charging(rt, s, clock)
            assert rt.station is not None
            seen["before"] = (await call(s, "GET", "/api/grid-relay"))[1]
            seen["open"] = await call(s, "POST", "/api/sim/grid-relay", {"contact": "open"})
            await clock.sleep(3)
            snap = rt.station.snapshot(1)
            seen["limited"] = (snap.offered_current_a, snap.binding_limit, snap.contactor_c1)
            seen["closed"] = await call(s, "POST", "/api/sim/grid-relay", {"contact": "closed"})
            await clock.sleep(3)
            seen["released"] = rt.station.snapshot(1).offered_current_a
            seen["api"] = await call(s, "POST", "/api/grid-relay", {"limiting": True})
            seen["energy"] = (await call(s, "GET", "/api/energy"))[1]["grid_relay_limiting"]
            seen["bad"] = [await call(s, "POST", path, body) for path, body in [
                ("/api/grid-relay", {}), ("/api/grid-relay", {"limiting": "yes"}),
                ("/api/grid-relay", {"contact": "ajar"}), ("/api/grid-relay", {"limiting": True, "contact": "open"}),
                ("/api/sim/grid-relay", {"relay": 1}), ("/api/grid-relay", "[[[["),
            ]]
        return seen

    r = clock.run(main())
    assert r["before"]["limiting"] is False and r["before"]["max_sum_mains_a"] == 18
    status, doc = r["open"]
    assert status == 200 and doc["limiting"] is True and doc["connectors"][0]["limit_a"] == 6.0
    assert r["limited"] == (6.0, "grid_relay", True)
    assert r["closed"][1]["limiting"] is False and r["released"] == 16.0
    assert r["api"][0] == 200 and r["api"][1]["limiting"] is True and r["energy"] is True
    assert [(st, doc["field"]) for st, doc in r["bad"]] == [
        (400, "limiting"), (400, "limiting"), (400, "contact"), (400, "limiting"), (400, "relay"), (400, None)]


def test_grid_relay_polarity_closed_and_a_bad_polarity_names_the_key(tmp_path: Path) -> None:
    clock = VirtualClock()

    async def main() -> tuple[bool, bool]:
        async with serve(tmp_path, clock, energy={"grid_relay_limit_on": "closed"}) as (_rt, s):
            closed = (await call(s, "POST", "/api/sim/grid-relay", {"contact": "closed"}))[1]["limiting"]
            opened = (await call(s, "POST", "/api/sim/grid-relay", {"contact": "open"}))[1]["limiting"]
            return closed, opened

    assert clock.run(main()) == (True, False)
    with pytest.raises(ValueError, match="grid_relay_limit_on"):
        clock2 = VirtualClock()

        async def bad() -> None:
            async with serve(tmp_path / "b", clock2, energy={"grid_relay_limit_on": "ajar"}):
                pass

        clock2.run(bad())


def test_phase_request_over_http_switches_to_one_phase_and_back(tmp_path: Path) -> None:
    clock = VirtualClock()

    async def main() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with serve(tmp_path, clock, energy={"mode": "normal", "enable_c2": "always_on"}) as (rt, s):
            await _charging(rt, s, clock)
            assert rt.station is not None
            seen["get"] = (await call(s, "GET", "/api/phases"))[1]
            seen["post"] = await call(s, "POST", "/api/phases", {"phases": 1})
            await clock.sleep(2)
            seen["during"] = (str(rt.station.snapshot(1).substate), rt.station.snapshot(1).contactor_c1)
            await clock.sleep(40)
            snap = rt.station.snapshot(1)
            seen["one"] = (snap.phases, snap.contactor_c1, rt.station.board.ev_current(1))
            seen["bad"] = [await call(s, "POST", "/api/phases", body) for body in
                           ({"phases": 2}, {"phases": "1"}, {}, {"phases": 1, "x": 0}, {"phases": True})]
            seen["withdraw"] = await call(s, "POST", "/api/phases", {"phases": None})
            await clock.sleep(40)
            seen["three"] = rt.station.snapshot(1).phases
        return seen

    r = clock.run(main())
    assert r["get"]["switchable"] is True and r["get"]["requested"] is None
    assert r["post"][0] == 200 and r["post"][1]["requested"] == 1
    assert r["during"] == ("B1", False)  # switched with the contactors open
    phases, closed, current = r["one"]
    assert phases == 1 and closed and current[0] > 0 and current[1] == current[2] == 0.0
    assert [(st, doc["field"]) for st, doc in r["bad"]] == [(400, "phases"), (400, "phases"), (400, "phases"),
                                                            (400, "x"), (400, "phases")]
    assert r["withdraw"][0] == 200 and r["withdraw"][1]["requested"] is None and r["three"] == 3


@pytest.mark.parametrize(("options", "words"), [
    ({"energy": {"enable_c2": "not_present"}}, "not_present"),
    ({"sim": {"has_c2": False}}, "no C2"),
    ({"backend_phases": 1}, "single-phase"),
])
def test_phase_request_is_409_on_a_charger_that_cannot_switch(tmp_path: Path, options: dict[str, Any],
                                                               words: str) -> None:
    clock = VirtualClock()

    async def main() -> tuple[tuple[int, Any], Any]:
        async with serve(tmp_path, clock, **options) as (_rt, s):
            return await call(s, "POST", "/api/phases", {"phases": 1}), (await call(s, "GET", "/api/phases"))[1]

    (status, doc), get = clock.run(main())
    assert status == 409 and doc["field"] == "phases" and words in doc["error"]
    assert get["switchable"] is False and words in get["reason"]


def test_openapi_documents_the_new_routes(tmp_path: Path) -> None:
    clock = VirtualClock()

    async def main() -> dict[str, Any]:
        async with serve(tmp_path, clock) as (_rt, s):
            return (await call(s, "GET", "/api/openapi.json"))[1]

    paths = clock.run(main())["paths"]
    for path in ("/api/grid-relay", "/api/sim/grid-relay", "/api/phases", "/api/rfid", "/api/rfid/cards",
                 "/api/rfid/cards/{uid}", "/api/rfid/learn"):
        assert path in paths, path
    assert "409" in paths["/api/phases"]["post"]["responses"]


# --------------------------------------------------------------------------- scenario steps

HEAD = "name: x\ntags: [t]\n"


@pytest.mark.parametrize(("text", "line", "field", "words"), [
    (HEAD + "steps:\n  - at: 1\n    grid_relay: sometimes\n", 5, "steps[0].grid_relay", "must be a mapping"),
    (HEAD + "steps:\n  - at: 1\n    grid_relay: {contact: ajar}\n", 5, "steps[0].grid_relay.contact", "one of"),
    (HEAD + "steps:\n  - at: 1\n    grid_relay: {}\n", 5, "steps[0].grid_relay", "limiting"),
    (HEAD + "steps:\n  - at: 1\n    battery_current: 500\n", 5, "steps[0].battery_current", "<= 199.9"),
    (HEAD + "steps:\n  - at: 1\n    battery_current: {amps: 5}\n", 5, "steps[0].battery_current.amps", "unknown"),
    (HEAD + "chargepoint:\n  sim:\n    house: {battery: {capacity_wh: 5000}}\nsteps:\n  - at: 1\n"
            "    battery_current: 5\n", 8, "steps[0].battery_current", "already reports"),
    (HEAD + "steps:\n  - at: 1\n    energy_settings: {mode: turbo}\n", 5, "steps[0].energy_settings.mode",
     "one of"),
    (HEAD + "steps:\n  - at: 1\n    energy_settings: {max_mains_a: 5}\n", 5, "steps[0].energy_settings.max_mains_a",
     "10..200"),
    (HEAD + "steps:\n  - at: 1\n    energy_settings: {colour: red}\n", 5, "steps[0].energy_settings.colour",
     "unknown"),
    (HEAD + "steps:\n  - at: 1\n    energy_settings: {}\n", 5, "steps[0].energy_settings", "at least one"),
    (HEAD + "steps:\n  - at: 1\n    energy_settings: {mode: solar, override_current_a: 10}\n", 5,
     "steps[0].energy_settings.override_current_a", "solar"),
    (HEAD + "steps:\n  - at: 1\n    phases: 2\n", 5, "steps[0].phases", "1, 3 or null"),
    (HEAD + "chargepoint:\n  phases: 1\nsteps:\n  - at: 1\n    phases: 3\n", 7, "steps[0].phases",
     "single-phase"),
    (HEAD + "chargepoint:\n  energy: {enable_c2: not_present}\nsteps:\n  - at: 1\n    phases: 1\n", 7,
     "steps[0].phases", "not_present"),
    (HEAD + "chargepoint:\n  energy: {grid_relay_limit_on: ajar}\n", 4, "chargepoint.energy.grid_relay_limit_on",
     "open or closed"),
])
def test_bad_energy_steps_name_file_line_and_field(text: str, line: int, field: str, words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "bad.yaml")
    err = info.value
    assert (err.file, err.line, err.field) == ("bad.yaml", line, field), str(err)
    assert words in err.message, err.message


def test_energy_steps_replay_and_fail_when_the_feature_is_missing() -> None:
    """The same short scenario passes; without its grid_relay step its expectation fails (the
    expectation depends on the step, not on chance)."""
    text = HEAD + """duration: 60
chargepoint: {max_current: 16, energy: {mode: normal}}
steps:
  - {at: 1, plug: 1}
  - {at: 2, call: {action: RemoteStartTransaction, payload: {idTag: T, connectorId: 1}}}
  - {at: 20, grid_relay: true}
  - {at: 25, energy_settings: {grid_relay_max_sum_mains_a: 24}}
  - {at: 30, phases: 1}
  - {at: 31, battery_current: {current: 3}}
expect:
  - {state: C2, at: 22, offered: 6, binding_limit: grid_relay}
  - {state: C2, at: 27, offered: 8, binding_limit: grid_relay}
  - {state: C2, at: 55, offered: 16, binding_limit: max, phases: 1}
"""
    run = replay(parse_scenario(text, "ok.yaml"))
    assert run.passed, [r.actual for r in run.results if not r.passed]
    assert any("grid relay limiting" in e.text for e in run.events)
    broken = replay(parse_scenario(text.replace("  - {at: 20, grid_relay: true}\n", ""), "broken.yaml"))
    assert not broken.passed


def test_the_firmwares_rest_phases_parameter_is_the_same_request(tmp_path: Path) -> None:
    clock = VirtualClock()

    async def main() -> tuple[Any, Any, Any]:
        async with charger(tmp_path, "ocpp", clock, energy={"enable_c2": "always_on"}) as (rt, s):
            answers = []
            for query in ("phases=1", "phases=2", "phases=abc"):
                async with s.post(f"/settings?{query}", data="") as resp:
                    answers.append((await resp.json())["phases"])
            assert rt.energy is not None
            return answers, rt.energy.manager.requested_phases, (await call(s, "GET", "/api/phases"))[1]["requested"]

    answers, requested, via_api = clock.run(main())
    assert answers == [1, "Value not allowed!", "Value not allowed!"] and requested == 1 and via_api == 1


@pytest.mark.parametrize("name", ["energy_grid_relay", "energy_battery_stale", "energy_settings_midrun",
                                  "energy_phase_request"])
def test_energy_steps_survive_record_and_replay(tmp_path: Path, name: str) -> None:
    """A replay's trace turns back into a scenario with the same energy steps, which passes again."""
    from scenarios.schema import load_scenario
    from scenarios.trace import trace_to_yaml

    path = Path(__file__).resolve().parents[2] / "scenarios" / "library" / f"{name}.yaml"
    original = load_scenario(path)
    trace = tmp_path / "t.jsonl"
    assert replay(original, trace_path=str(trace)).passed
    regression = parse_scenario(trace_to_yaml(trace), f"{name}-regression.yaml")
    kinds = {"grid_relay", "battery_current", "energy_settings", "phases"}
    assert [(s.kind, s.args) for s in regression.steps if s.kind in kinds] == \
        [(s.kind, s.args) for s in original.steps if s.kind in kinds]
    run = replay(regression)
    assert run.passed, [r.actual for r in run.results if not r.passed]
