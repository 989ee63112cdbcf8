"""``chargepoint replay`` as a user runs it: a real subprocess, exit codes, reports, plots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "scenarios" / "library"

WRONG = """name: wrong expectation
tags: [test]
duration: 60
steps:
  - {at: 5, plug: 1}
  - {at: 10, call: {action: RemoteStartTransaction, payload: {idTag: TAG1, connectorId: 1}, expect: Accepted}}
expect:
  - {state: C2, at: 50, offered: 10}
"""


def replay(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chargepoint", "replay", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=env)


def test_passing_scenarios_exit_0_and_write_reports(tmp_path):
    files = [str(LIBRARY / "remote_start_stop.yaml"), str(LIBRARY / "boot_pending.yaml")]
    out = replay(*files, "--report", str(tmp_path / "rep"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "CP -> CSMS  CALL StartTransaction" in out.stdout
    assert "PASSED: remote start and remote stop" in out.stdout and "2/2 scenario(s) passed" in out.stdout
    suites = ET.parse(tmp_path / "rep" / "junit.xml").getroot()
    assert suites.get("failures") == "0" and int(suites.get("tests")) >= 10
    assert [s.get("name") for s in suites] == ["remote start and remote stop", "boot pending, then accepted"]
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert report["passed"] is True
    first = report["scenarios"][0]
    assert first["speedup"] > 1 and any(f["action"] == "StopTransaction" for f in first["frames"])


def test_wrong_expectation_exits_1_with_expected_and_actual(tmp_path):
    bad = tmp_path / "wrong.yaml"
    bad.write_text(WRONG)
    out = replay(str(bad), "--junit", str(tmp_path / "j.xml"), "--json", str(tmp_path / "r.json"), "-q")
    assert out.returncode == 1
    assert f"[FAIL] connector 1 at 50 s: state=C2, offered=10.0  ({bad}:8)" in out.stdout
    assert "expected: state state=C2, offered=10.0" in out.stdout
    assert "actual:   state=C2, offered=16.0 (wrong: offered=16.0)" in out.stdout
    failure = ET.parse(tmp_path / "j.xml").getroot().find(".//failure")
    assert failure is not None and "offered=16.0" in failure.get("message")
    assert json.loads((tmp_path / "r.json").read_text())["passed"] is False


def test_malformed_file_exits_2_naming_file_line_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsteps:\n  - at: 3\n    plug: {connector: 1, cable: 99}\n")
    out = replay(str(bad))
    assert out.returncode == 2
    assert f"{bad}:4: steps[0].plug.cable: must be <= 80, got 99" in out.stderr


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plot(tmp_path, suffix):
    target = tmp_path / f"plot{suffix}"
    out = replay(str(LIBRARY / "limit_below_min_pauses.yaml"), "--plot", str(target), "-q")
    assert out.returncode == 0, out.stderr
    data = target.read_bytes()
    assert data.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in data[:2000]


def test_plot_without_matplotlib_says_how_to_get_it(tmp_path):
    shadow = tmp_path / "shadow" / "matplotlib"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('matplotlib is not installed')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "shadow")}
    out = replay(str(LIBRARY / "data_transfer.yaml"), "--plot", str(tmp_path / "p.png"), "-q", env=env)
    assert out.returncode == 0
    assert "plotting needs matplotlib: pip install 'smartevse-chargepoint[plot]'" in out.stderr
    assert not (tmp_path / "p.png").exists()


def test_plot_rejects_other_formats(tmp_path):
    out = replay(str(LIBRARY / "data_transfer.yaml"), "--plot", str(tmp_path / "p.jpg"))
    assert out.returncode == 2 and "must end in .png or .svg" in out.stderr


def test_same_timeline_text_twice():
    runs = [replay(str(LIBRARY / "reset_soft.yaml")) for _ in range(2)]
    texts = ["\n".join(line for line in r.stdout.splitlines() if "wall" not in line) for r in runs]
    assert runs[0].returncode == 0 and texts[0] == texts[1]


def test_no_files_is_a_usage_error():
    out = replay()
    assert out.returncode == 2 and "give one or more scenario files" in out.stderr
