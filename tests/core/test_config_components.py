"""Configuration parts owned by other modules are checked before anything starts: one line naming
the key, exit code 2, no traceback, for `run` and for `config --check`."""

from __future__ import annotations

import subprocess
import sys

import pytest

CASES = [
    ("[backend]\nname = 'nosuch'\n", "backend.name = 'nosuch': unknown backend"),
    ("[energy]\nmode = 'bogus'\n", "energy.mode"),
    ("[energy]\nmax_mains_a = 5000\n", "energy.max_mains_a"),
    ("[energy]\nbogus_key = 1\n", "energy.bogus_key"),
    ("[sim]\nev_soc = 'x'\n", "ev_soc"),
    ("[sim]\nfoo = 1\n", "sim.foo: unknown key"),
    ("[[meters]]\ntype = 'sdm630'\ntransport = 'tcp'\n", "meters[0]"),
]


@pytest.mark.parametrize(("text", "needle"), CASES)
@pytest.mark.parametrize("command", ["run", "config"])
def test_bad_component_config_is_one_clear_line(tmp_path, text, needle, command):
    cfg = tmp_path / "cp.toml"
    cfg.write_text(text + "[chargepoint]\ndata_dir = '" + str(tmp_path / "data") + "'\n")
    args = ["run", "--config", str(cfg), "--http", ""] if command == "run" else ["config", "--check", str(cfg)]
    out = subprocess.run([sys.executable, "-m", "chargepoint", *args], capture_output=True, text=True,
                         timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert out.returncode == 2, out.stdout + out.stderr
    assert needle in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert "OCPP endpoint" not in out.stdout  # nothing started


def test_good_component_config_passes_the_check(tmp_path):
    cfg = tmp_path / "cp.toml"
    cfg.write_text("[energy]\nmode = 'smart'\nmax_mains_a = 25\n[sim]\nev_soc = 30\n")
    out = subprocess.run([sys.executable, "-m", "chargepoint", "config", "--check", str(cfg)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "OK" in out.stdout
