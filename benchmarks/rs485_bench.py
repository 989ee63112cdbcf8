"""SmartEVSE RS485 master: does one 2-s cycle for 7 nodes fit at 9600 baud, and how long from a CSMS
SetChargingProfile to the new balanced current on the wire?

1. Cycle budget: the master alone with 7 emulated nodes on the loopback bus in virtual time (which
   sleeps each frame's wire time at 9600 8N1, a 2 ms slave turnaround and the 100 ms timeout of a
   missing answer): each cycle's frames (mains meter, one node's EV meter, 7 status reads, the
   handshake writes, the broadcast, the config broadcast when due) -- its measured wire time and the
   computed minimum of the same frames (10 bits a character, 3.5 characters of silence after each
   frame, no turnaround) -- for the steady cycle with 7 EVs charging, the busiest one (7 EVs joining),
   one with all 7 nodes silent, and the computed worst case (a grant to every node).
2. SetChargingProfile -> broadcast: the whole program in virtual time (tests/rs485 rig: OCPP to the
   test CSMS, smart charging, controller, backend, emulated nodes); the TxDefaultProfile of connector
   1 alternates 10 A / 14 A; latency = CSMS call sent -> first broadcast carrying the new current.

Run: ``python -m benchmarks.rs485_bench``; JSON in benchmarks/results/rs485.json.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.modbus.meters import METERS
from backends.smartevse_rs485 import create_backend
from backends.smartevse_rs485.bus import LoopbackBus
from backends.smartevse_rs485.emulator import NodeBus, make_nodes
from backends.smartevse_rs485.protocol import (
    STATE_C,
    Request,
    SystemConfig,
    balanced_broadcast,
    config_changed_clear,
    ev_meter_config_read,
    frame_time_s,
    state_write,
    status_read,
    system_config_broadcast,
    transaction_time_s,
)
from chargepoint.clock import VirtualClock
from hal.types import PilotMode

RESULTS = Path(__file__).resolve().parent / "results"
TURNAROUND_S = 0.002
BAUD = 9600


def cycle_requests(nodes: int = 7) -> list[Request]:
    meter = METERS["sdm630"]
    reqs = [Request(10, b.function, b.address, b.count) for b in meter.reads()]  # mains meter
    reqs += [ev_meter_config_read(2), config_changed_clear(2)]
    reqs += [Request(12, b.function, b.address, b.count) for b in meter.reads()]  # one EV meter
    reqs += [status_read(2 + i) for i in range(nodes)]
    reqs += [state_write(2 + i, 5, 0) for i in range(nodes)]  # worst case: a grant to every node
    reqs += [balanced_broadcast([60] * 8, [0, 0, 0]), system_config_broadcast(SystemConfig())]
    return reqs


@dataclass
class CycleSample:
    requests: int
    measured_s: float  # the cycle's duration on the loopback bus (wire time, turnaround, timeouts)
    minimum_s: float  # the same frames' bytes at the baud rate with no turnaround and no timeout


def measured_cycles(nodes: int = 7, *, evs: bool = True, silent: bool = False, seconds: float = 60.0) -> list[CycleSample]:
    """The board alone on the loopback bus in virtual time, 7 nodes (each with its EV meter) and a mains
    meter; with ``evs`` every node's EV is plugged, authorised and granted (the COMM_B / COMM_C handshakes
    of the first cycles, then steady charging); with ``silent`` no node answers (every status read
    times out).  Each cycle's frames are taken from the bus and timed two ways (see CycleSample)."""
    clock = VirtualClock()

    async def main() -> list[CycleSample]:
        bus = NodeBus(clock, make_nodes(nodes), mains_meter="sdm630")
        await bus.start()
        board = create_backend(clock, {"loopback": bus.handle_frame, "nodes": nodes, "mains_meter": "sdm630@10",
                                       "mode": "smart"})
        assert isinstance(board.bus, LoopbackBus)
        loop = board.bus
        loop.keep_frames = 10_000
        samples: list[CycleSample] = []
        cycle = board.cycle

        async def timed_cycle() -> None:
            began, first = clock.monotonic(), len(loop.frames)
            await cycle()
            frames = loop.frames[first:]
            minimum = sum(frame_time_s(len(req), BAUD) + (frame_time_s(len(ans), BAUD) if ans else 0.0)
                          for req, ans in frames)
            samples.append(CycleSample(len(frames), clock.monotonic() - began, minimum))

        board.cycle = timed_cycle  # type: ignore[method-assign]
        for address in bus.nodes:
            if silent:
                bus.inject(address, "silent")
            elif evs:
                bus.plug(address)
        await board.start()
        for connector in board.tracks:
            await board.set_authorization(connector, True)
            board.set_pilot(connector, PilotMode.PWM, 6.0)
        for _ in range(int(seconds)):
            for connector in board.tracks:  # the energy manager's verdict, as the energy service gives it
                board.set_current_available(connector, True)
            await clock.sleep(1.0)
        board.cycle = cycle  # type: ignore[method-assign]
        in_c = sum(1 for n in bus.nodes.values() if n.firmware.state == STATE_C)
        if evs and not silent and in_c != nodes:
            raise RuntimeError(f"only {in_c} of {nodes} EVs charge at the end: the steady cycle is not measured")
        await board.close()
        await bus.stop()
        return samples

    return clock.run(main())


def profile_latencies(rounds: int = 40) -> list[float]:
    from tests.rs485.rig import Rs485Rig

    clock = VirtualClock()
    out: list[float] = []

    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            async with Rs485Rig(clock, Path(tmp), nodes=3, energy={"max_mains_a": 100, "max_circuit_a": 160}) as rig:
                await rig.start_charging(1, "TAG1")
                await clock.sleep(10)
                for i in range(rounds):
                    amps = 10 if i % 2 == 0 else 14
                    profile = {"chargingProfileId": 7, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
                               "chargingProfileKind": "Absolute", "chargingSchedule": {
                                   "chargingRateUnit": "A", "startSchedule": "2020-01-01T00:00:00Z",
                                   "chargingSchedulePeriod": [{"startPeriod": 0, "limit": amps}]}}
                    n = len(rig.bus.log.broadcasts)
                    sent = clock.monotonic()
                    await rig.call("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile})
                    while True:
                        hit = next((t for t, v, _ in rig.bus.log.broadcasts[n:] if v[1] == amps * 10), None)
                        if hit is not None:
                            out.append(hit - sent)
                            break
                        await clock.sleep(0.01)
                    await clock.sleep(3.3 + 0.37 * (i % 5))  # spread the phase against the 2-s cycle

    clock.run(main(), wall_timeout=300)
    return out


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def main() -> None:
    reqs = cycle_requests()
    worst = sum(transaction_time_s(r, BAUD, TURNAROUND_S) for r in reqs)
    worst_min = sum(transaction_time_s(r, BAUD) for r in reqs)
    charging = measured_cycles()
    steady = charging[-1]
    busiest = max(charging, key=lambda c: c.measured_s)
    silent = max(measured_cycles(evs=False, silent=True, seconds=20), key=lambda c: c.measured_s)
    lat = profile_latencies()
    up = [x for i, x in enumerate(lat) if i % 2 == 1]
    down = [x for i, x in enumerate(lat) if i % 2 == 0]
    result: dict[str, Any] = {
        "cycle_budget_s": 2.0, "baud": BAUD,
        "steady_cycle": {"requests": steady.requests, "measured_s": round(steady.measured_s, 4),
                         "computed_minimum_s": round(steady.minimum_s, 4)},
        "busiest_cycle": {"requests": busiest.requests, "measured_s": round(busiest.measured_s, 4),
                          "computed_minimum_s": round(busiest.minimum_s, 4)},
        "all_silent_cycle": {"requests": silent.requests, "measured_s": round(silent.measured_s, 4),
                             "computed_minimum_s": round(silent.minimum_s, 4)},
        "worst_case_requests": len(reqs), "worst_case_wire_s": round(worst, 4),
        "worst_case_computed_minimum_s": round(worst_min, 4),
        "profile_to_wire_p50_s": round(statistics.median(lat), 3), "profile_to_wire_p99_s": round(pct(lat, 99), 3),
        "lower_p50_s": round(statistics.median(down), 3), "raise_p50_s": round(statistics.median(up), 3),
        "samples": len(lat),
    }
    print(f"| one master cycle, 7 nodes, {BAUD} 8N1 (budget 2000 ms) | requests | wire time | computed minimum |")
    print("|---|---|---|---|")
    for label, c in (("steady: 7 EVs charging (loopback, virtual time)", steady),
                     ("busiest measured: the handshakes of 7 joining EVs", busiest),
                     ("7 nodes silent: every status read times out (100 ms)", silent)):
        print(f"| {label} | {c.requests} | {c.measured_s * 1000:.0f} ms | {c.minimum_s * 1000:.0f} ms |")
    print(f"| worst case computed: grants to all 7 + config broadcast | {len(reqs)} | {worst * 1000:.0f} ms "
          f"(2 ms turnaround) | {worst_min * 1000:.0f} ms |")
    print()
    print("| CSMS SetChargingProfile -> new balanced current on the wire | p50 | p99 |\n|---|---|---|")
    print(f"| all ({len(lat)} samples, virtual time) | {result['profile_to_wire_p50_s'] * 1000:.0f} ms | "
          f"{result['profile_to_wire_p99_s'] * 1000:.0f} ms |")
    print(f"| lowering (broadcast at once) | {result['lower_p50_s'] * 1000:.0f} ms | {pct(down, 99) * 1000:.0f} ms |")
    print(f"| raising (next energy cycle, then next bus cycle) | {result['raise_p50_s'] * 1000:.0f} ms | "
          f"{pct(up, 99) * 1000:.0f} ms |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rs485.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
