"""Issue 12, point 9: ``chargepoint config --check`` answers a broken file with one line naming the
problem and exit code 2 -- a file that is not UTF-8, TOML nested too deeply, a sim option out of range."""

from __future__ import annotations

import subprocess
import sys

import pytest

CASES = [
    (b"[chargepoint]\nid = 'caf\xe9'\n", "not UTF-8 text (byte 0xe9 on line 2)"),
    (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
    (b"x = " + b"{y = " * 3000 + b"1" + b"}" * 3000 + b"\n", "nested too deeply"),
    (b"[sim]\nev_soc = 150\n", "'ev_soc' must be within 0..100 %, got 150"),
    (b"[sim]\nev_soc = -1\n", "'ev_soc' must be within 0..100 %"),
    (b"[sim]\nev_max_current_a = 500\n", "'ev_max_current_a' must be within 6..80 A"),
]


@pytest.mark.parametrize(("content", "needle"), CASES)
def test_config_check_rejects_with_one_line(tmp_path, content, needle):
    cfg = tmp_path / "cp.toml"
    cfg.write_bytes(content)
    out = subprocess.run([sys.executable, "-m", "chargepoint", "config", "--check", str(cfg)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert needle in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_config_check_still_accepts_a_sane_sim_table(tmp_path):
    cfg = tmp_path / "cp.toml"
    cfg.write_text("[sim]\nev_soc = 100\nev_max_current_a = 16\n")
    out = subprocess.run([sys.executable, "-m", "chargepoint", "config", "--check", str(cfg)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "OK" in out.stdout, out.stderr
