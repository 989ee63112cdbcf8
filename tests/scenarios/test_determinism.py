"""Replays are deterministic (same timeline text twice) and fast in virtual time."""

from __future__ import annotations

from pathlib import Path

from scenarios.report import timeline_text
from scenarios.runner import replay
from scenarios.schema import load_scenario

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"


def test_same_timeline_twice():
    scn = load_scenario(LIBRARY / "offline_transaction.yaml")
    first, second = replay(scn), replay(scn)
    assert first.passed and second.passed
    text = timeline_text(first)
    assert text == timeline_text(second)
    assert "CP -> CSMS  CALL StartTransaction" in text and "CSMS offline for 600 s" in text
    assert [s.t for s in first.samples] == [s.t for s in second.samples]


def test_time_windows_use_virtual_time():
    run = replay(load_scenario(LIBRARY / "txdefault_daily.yaml"))
    assert run.passed
    assert run.virtual_s == 4500
    assert run.events[-1].t <= 4500
