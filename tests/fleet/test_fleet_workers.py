"""``chargepoint fleet --workers K``: K real processes, each a shard of the id range (docs/FLEET.md):
their ids are disjoint and cover the range, worker k serves the HTTP API on port + k and writes its
export file with ``-k``, and a SIGTERM of the parent stops every worker cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from chargepoint.clock import RealClock
from chargepoint.csms import IN, TestCsms
from chargepoint.fleet.cli import event_loop_factory
from chargepoint.fleet.fleet import shard_numbers

ROOT = Path(__file__).resolve().parents[2]
COUNT = 11  # odd: the shards are 6 and 5


def _two_free_ports() -> int:
    """A port p with p + 1 free too (worker k listens on p + k)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no two consecutive free ports")


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def _until(predicate, within: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def _get(http: aiohttp.ClientSession, url: str) -> dict:
    async with http.get(url) as r:
        assert r.status == 200, await r.text()
        return await r.json()


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
async def test_two_workers_split_the_range_and_stop_together_on_sigterm(tmp_path, loop):
    clock = RealClock()
    csms = TestCsms(clock, http_port=None, console_log=False, ping_interval=None)
    await csms.start()
    port = _two_free_ports()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chargepoint", "fleet", "--workers", "2", "--count", str(COUNT), "--ramp", "0",
        "--csms-url", csms.url, "--http", f"127.0.0.1:{port}", "--export", str(tmp_path / "lat.json"),
        "--data-dir", str(tmp_path / "data"), "--interval", "0", "--loop", loop, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    workers: list[int] = []
    try:
        await _until(lambda: sum(1 for s in csms.registration.values() if s == "Accepted") == COUNT, 60,
                     f"{COUNT} accepted boots")
        workers += _children(proc.pid)
        assert len(workers) == 2
        shards = []
        async with aiohttp.ClientSession() as http:
            for k in range(2):
                base = f"http://127.0.0.1:{port + k}/api"
                summary = await _get(http, f"{base}/summary")
                listing = await _get(http, f"{base}/chargepoints?limit=1000")
                shards.append((summary, [c["id"] for c in listing["chargepoints"]]))
        (s0, ids0), (s1, ids1) = shards
        assert (s0["shard"], s1["shard"]) == ("0/2", "1/2")
        assert s0["loop"] == s1["loop"] == loop  # --loop reaches the workers
        assert (s0["charge_points"], s1["charge_points"]) == (6, 5)
        expected = [[f"CP-{n:05d}" for n in shard_numbers(range(1, COUNT + 1), (k, 2))] for k in range(2)]
        assert sorted(ids0) == expected[0] and sorted(ids1) == expected[1]
        assert not set(ids0) & set(ids1)
        assert set(ids0) | set(ids1) == set(csms.registration) == {f"CP-{n:05d}" for n in range(1, COUNT + 1)}
        boots = Counter(f.cp_id for f in csms.frames
                        if f.direction == IN and f.message_type == "CALL" and f.action == "BootNotification")
        assert set(boots.values()) == {1}  # each charge point is in exactly one worker

        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 60)
        out, err = await proc.communicate()
        assert code == 0, err.decode()[-2000:]
        assert not any(_alive(pid) for pid in workers), "a worker outlived the parent"
        # each worker stopped cleanly: its final summary printed, its export written, its sessions closed
        assert out.decode().count("latencies written to") == 2, out.decode()
        for k, ids in enumerate((ids0, ids1)):
            export = json.loads((tmp_path / f"lat-{k}.json").read_text())
            assert sorted(c["id"] for c in export["chargepoints"]) == sorted(ids)
            assert export["summary"]["shard"] == f"{k}/2"
        assert not (tmp_path / "lat.json").exists()
        await _until(lambda: not csms.sessions, 10, "every websocket closed")
    finally:
        for pid in workers:  # whatever the test saw fail, leave no process behind
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await csms.stop()


async def test_a_worker_that_fails_stops_the_others_and_the_fleet_exits_non_zero(tmp_path):
    """Worker 1's HTTP port is taken: it exits at once; the parent stops worker 0 (which booted its
    shard) and exits with worker 1's code -- no fleet running with a shard missing."""
    clock = RealClock()
    csms = TestCsms(clock, http_port=None, console_log=False, ping_interval=None)
    await csms.start()
    port = _two_free_ports()
    taken = socket.socket()
    taken.bind(("127.0.0.1", port + 1))
    taken.listen()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chargepoint", "fleet", "--workers", "2", "--count", str(COUNT), "--ramp", "0",
        "--csms-url", csms.url, "--http", f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "data"),
        "--interval", "0", cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        code = await asyncio.wait_for(proc.wait(), 90)
        _, err = await proc.communicate()
        assert code != 0
        assert "worker 1 exited with" in err.decode() and "stopping the others" in err.decode(), err.decode()[-2000:]
        await _until(lambda: not csms.sessions, 10, "worker 0's websockets closed")
    finally:
        taken.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await csms.stop()


def test_the_default_event_loop_is_uvloop_where_it_is_installed():
    uvloop = pytest.importorskip("uvloop")
    assert event_loop_factory("auto") is uvloop.new_event_loop
    assert event_loop_factory("uvloop") is uvloop.new_event_loop
    assert event_loop_factory("asyncio") is None
