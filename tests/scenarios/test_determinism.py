"""Replays are deterministic (same timeline text twice) and fast in virtual time."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.report import timeline_text
from scenarios.runner import replay
from scenarios.schema import load_scenario

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"


@pytest.mark.parametrize("name", ["offline_transaction", "remote_start_stop", "reset_soft", "smart_charging_stacking"])
def test_same_timeline_twice(name):
    scn = load_scenario(LIBRARY / f"{name}.yaml")
    first, second = replay(scn), replay(scn)
    assert first.passed and second.passed
    text = timeline_text(first)
    assert text == timeline_text(second)
    assert "CP -> CSMS  CALL StartTransaction" in text
    assert [(s.t, s.offered_a, s.actual_a) for s in first.samples] == [(s.t, s.offered_a, s.actual_a)
                                                                      for s in second.samples]


def test_nothing_after_the_end_is_kept():
    run = replay(load_scenario(LIBRARY / "clock_aligned_values.yaml"))
    assert run.passed and max(e.t for e in run.events) <= 3000
    # the heartbeat at exactly t = 3000 s is kept with its answer
    last = [e.text for e in run.events if e.t == 3000]
    assert any("CALL Heartbeat" in t for t in last) and any("CALLRESULT Heartbeat" in t for t in last)


def test_time_windows_use_virtual_time():
    run = replay(load_scenario(LIBRARY / "txdefault_daily.yaml"))
    assert run.passed
    assert run.virtual_s == 4500
    assert run.events[-1].t <= 4500
