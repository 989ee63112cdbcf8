"""``--ramp`` is the boot rate of the whole fleet: n shards (``--shard i/n``, ``--workers``) each start
their members at 1/n of it, so together they boot at the rate asked -- not n times it (a 2-worker
benchmark booted 10,000 at 179/s with 100/s asked).  Virtual time: the timing is exact."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargepoint.clock import VirtualClock
from chargepoint.csms import TestCsms
from chargepoint.fleet.fleet import Fleet
from chargepoint.fleet.template import template_from_dict

COUNT = 40
RAMP = 20.0  # per second, for the whole fleet


def _ramp_times(tmp_path: Path, shards: int) -> list[dict[str, object]]:
    clock = VirtualClock()

    async def main() -> list[dict[str, object]]:
        csms = TestCsms(clock, http_port=None, console_log=False, ping_interval=None)
        await csms.start()
        template = template_from_dict({"fleet": {"count": COUNT, "csms_url": csms.url, "ramp": f"{RAMP:g}/s"}})
        fleets = [Fleet(clock, template, tmp_path / f"shard{i}", shard=(i, shards)) for i in range(shards)]
        try:
            for fleet in fleets:
                await fleet.start()
            while sum(f.summary()["booted"] for f in fleets) < COUNT:
                await clock.sleep(0.05)
            for fleet in fleets:
                while fleet.ramp_done_at is None:
                    await clock.sleep(0.05)
            return [fleet.summary() for fleet in fleets]
        finally:
            for fleet in fleets:
                await fleet.stop()
            await csms.stop()

    return clock.run(main())


@pytest.mark.parametrize("shards", [1, 2, 4])
def test_the_shards_together_boot_at_the_rate_asked(tmp_path: Path, shards: int) -> None:
    summaries = _ramp_times(tmp_path, shards)
    per_shard = COUNT // shards
    for s in summaries:
        assert s["ramp_per_s"] == pytest.approx(RAMP / shards)
        assert s["charge_points"] == per_shard
        # member k of a shard is started at k / (RAMP / shards): the last at (per_shard - 1) / rate
        expected = (per_shard - 1) / (RAMP / shards)
        assert expected - 1e-6 <= s["ramp_s"] <= expected + 0.2, s  # type: ignore[operator]
    # the whole fleet: COUNT members over ~COUNT / RAMP seconds, whatever the number of shards
    assert sum(s["booted"] for s in summaries) == COUNT  # type: ignore[misc]
