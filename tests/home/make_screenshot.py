"""Writes docs/status-page.png: the status page of a charging simulated EV with an hour of history.

``python -m tests.home.make_screenshot [OUT.png]`` (needs chromium + chromium-driver).  The hour is
simulated first in virtual time (override 10 A after 15 min, Pause 35-40 min, back to 16 A), then a
real-time charger serves the page with that history and headless Chromium takes the picture.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from chargepoint.api import LocalApi
from chargepoint.app import build_runtime
from chargepoint.clock import RealClock, VirtualClock
from chargepoint.config import load_config
from chargepoint.controller import Authorize
from chargepoint.home.firmware import ModeId
from chargepoint.home.hub import HomeHub, Sample, find_hub
from tests.home.browser import start_chromium


def _config(data_dir: str, listen: str) -> object:
    return load_config(env={}, overrides={"chargepoint.data_dir": data_dir, "http.listen": listen,
                                          "chargepoint.id": "GARAGE-1"})


async def _charge(runtime: object, clock: object) -> HomeHub:
    station = runtime.station  # type: ignore[attr-defined]
    station.board.plug(1, cable_a=32.0)
    await clock.sleep(1)  # type: ignore[attr-defined]
    await station.submit(Authorize(1, True))
    hub = find_hub(runtime)
    assert hub is not None
    return hub


def simulate_hour(data_dir: str) -> list[Sample]:
    clock = VirtualClock()

    async def main() -> list[Sample]:
        runtime = build_runtime(_config(data_dir, ""), clock)  # type: ignore[arg-type]
        await runtime.start()
        hub = await _charge(runtime, clock)
        await clock.sleep(15 * 60)
        await runtime.energy.update({"override_current_a": 10.0})
        await clock.sleep(20 * 60)
        await hub.set_mode(ModeId.PAUSE)
        await clock.sleep(5 * 60)
        await hub.set_mode(ModeId.NORMAL)
        await runtime.energy.update({"override_current_a": None})
        await clock.sleep(20 * 60)
        samples = list(hub.history)
        await runtime.stop()
        return samples

    return clock.run(main())


async def shoot(out: Path, samples: list[Sample], data_dir: str) -> None:
    clock = RealClock()
    runtime = build_runtime(_config(data_dir, "127.0.0.1:0"), clock)  # type: ignore[arg-type]
    await runtime.start()
    hub = await _charge(runtime, clock)
    shift = clock.timestamp() - samples[-1].t
    hub.history.clear()
    hub.history.extend(Sample(s.t + shift, s.connectors) for s in samples)
    await clock.sleep(3)
    port = next(s for s in runtime.services if isinstance(s, LocalApi)).bound_port

    def take() -> None:
        driver = start_chromium(900, 1250)
        try:
            driver.get(f"http://127.0.0.1:{port}/")
            time.sleep(3)
            driver.save_screenshot(str(out))
        finally:
            driver.quit()

    await asyncio.to_thread(take)
    await runtime.stop()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/status-page.png")
    with TemporaryDirectory() as a, TemporaryDirectory() as b:
        samples = simulate_hour(a)
        asyncio.run(shoot(out, samples, b))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
