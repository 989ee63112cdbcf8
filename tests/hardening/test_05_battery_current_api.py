"""Issue 12, point 5: the home-battery current fed through the local API, with the firmware's 60 s
staleness (smartevse.md §5.6: after 60 s without an update it is ignored; used in Solar only).  Both
routes -- ``POST /api/battery`` (A) and the SmartEVSE-compatible ``POST /currents?battery_current``
(dA) -- reach the same service call; real HTTP against the production runtime in virtual time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from chargepoint.clock import VirtualClock
from tests.hardening.test_05_rfid_reader_modes import call, charger


async def _energy_after(s: aiohttp.ClientSession, clock: VirtualClock, seconds: float) -> dict[str, Any]:
    """Feed the API mains meter (1 A import per phase) every 2 s for ``seconds``, then GET /api/energy."""
    end = clock.monotonic() + seconds
    while clock.monotonic() < end:
        await call(s, "POST", "/api/mains", {"l1": 1, "l2": 1, "l3": 1})
        await clock.sleep(min(2.0, end - clock.monotonic()))
    return (await call(s, "GET", "/api/energy"))[1]


def test_battery_current_counts_for_60_s_then_is_ignored(tmp_path: Path) -> None:
    clock = VirtualClock()

    async def main() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with charger(tmp_path, "ocpp", clock, energy={"mode": "solar", "mains_meter": "api"}) as (_rt, s):
            status, doc = await call(s, "POST", "/api/battery", {"current_a": 9.0})
            seen["post"] = (status, doc)
            seen["fresh"] = await _energy_after(s, clock, 3)
            seen["at_58"] = await _energy_after(s, clock, 55)
            seen["at_62"] = await _energy_after(s, clock, 4)
            # the firmware's route, in dA: the same service call, the same staleness
            async with s.post("/currents?battery_current=-60", data="") as resp:
                seen["currents"] = (resp.status, await resp.json())
            seen["discharging"] = await _energy_after(s, clock, 3)
            seen["later"] = await _energy_after(s, clock, 60)
        return seen

    r = clock.run(main())
    assert r["post"] == (200, {"current_a": 9.0, "valid_s": 60.0})
    # 9 A charging = 3 A per phase of apparent export: 1 - 3 = -2 A per phase
    assert r["fresh"]["battery_a"] == 9.0 and r["fresh"]["mains_a"] == [-2.0, -2.0, -2.0]
    assert 2.0 <= r["fresh"]["battery_age_s"] <= 4.0
    assert r["at_58"]["battery_a"] == 9.0 and r["at_58"]["battery_age_s"] <= 60.0
    assert r["at_62"]["battery_a"] == 0.0 and r["at_62"]["mains_a"] == [1.0, 1.0, 1.0]
    assert r["at_62"]["battery_age_s"] is None
    assert r["currents"] == (200, {"battery_current": -60})
    assert r["discharging"]["battery_a"] == -6.0 and r["discharging"]["mains_a"] == [3.0, 3.0, 3.0]
    assert r["later"]["battery_a"] == 0.0


def test_battery_current_is_used_in_solar_only(tmp_path: Path) -> None:
    clock = VirtualClock()

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        async with charger(tmp_path, "ocpp", clock, energy={"mode": "smart", "mains_meter": "api"}) as (_rt, s):
            await call(s, "POST", "/api/battery", {"current_a": 9.0})
            smart = await _energy_after(s, clock, 3)
            await call(s, "POST", "/api/settings", {"mode": "solar"})
            solar = await _energy_after(s, clock, 3)
            return smart, solar

    smart, solar = clock.run(main())
    assert smart["battery_a"] == 0.0 and smart["mains_a"] == [1.0, 1.0, 1.0]
    assert solar["battery_a"] == 9.0  # the reading, still fresh, counts once Solar is on


def test_bad_battery_bodies_are_400_naming_the_field(tmp_path: Path) -> None:
    clock = VirtualClock()

    async def main() -> list[tuple[int, Any]]:
        async with charger(tmp_path, "ocpp", clock) as (_rt, s):
            out = []
            for body in ({}, {"current_a": "9"}, {"current_a": 1e400}, {"current_a": 10**400}, {"current_a": 200},
                         {"current_a": 9, "volts": 1}, "nope"):
                status, doc = await call(s, "POST", "/api/battery", body)
                out.append((status, doc.get("field")))
            return out

    assert clock.run(main()) == [(400, "current_a"), (400, "current_a"), (400, "current_a"), (400, "current_a"),
                                 (400, "current_a"), (400, "volts"), (400, None)]
