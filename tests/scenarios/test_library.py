"""Every scenario of scenarios/library replays green against the real stack (one test each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.report import results_text
from scenarios.runner import replay
from scenarios.schema import load_scenario

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"
FILES = sorted(LIBRARY.glob("*.yaml"))


def test_library_has_at_least_30_tagged_scenarios():
    assert len(FILES) >= 30
    for path in FILES:
        scn = load_scenario(path)
        assert scn.tags, f"{path.name} has no tags"
        assert scn.expectations, f"{path.name} checks nothing"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_library_scenario_passes(path):
    run = replay(load_scenario(path))
    assert run.error is None, run.error
    assert run.passed, results_text(run)
    assert run.virtual_s == pytest.approx(run.scenario.duration)
