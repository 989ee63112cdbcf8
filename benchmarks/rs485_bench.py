"""SmartEVSE RS485 master: does one 2-s cycle for 7 nodes fit at 9600 baud, and how long from a CSMS
SetChargingProfile to the new balanced current on the wire?

1. Cycle budget: the frames of one cycle with 7 nodes (mains meter, one node's EV meter, 7 status
   reads, the grant writes of a busy cycle, the broadcast; the 22-register config broadcast counted
   too), their computed wire time at 9600 8N1 (10 bits a character, 3.5 characters of silence after
   each frame, 2 ms slave turnaround), and the cycle measured on the loopback bus in virtual time.
2. SetChargingProfile -> broadcast: the whole program in virtual time (tests/rs485 rig: OCPP to the
   test CSMS, smart charging, controller, backend, emulated nodes); the TxDefaultProfile of connector
   1 alternates 10 A / 14 A; latency = CSMS call sent -> first broadcast carrying the new current.

Run: ``python -m benchmarks.rs485_bench``; JSON in benchmarks/results/rs485.json.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path

from backends.modbus.meters import METERS
from backends.smartevse_rs485 import create_backend
from backends.smartevse_rs485.emulator import NodeBus, make_nodes
from backends.smartevse_rs485.protocol import (
    Request,
    SystemConfig,
    balanced_broadcast,
    config_changed_clear,
    ev_meter_config_read,
    state_write,
    status_read,
    system_config_broadcast,
    transaction_time_s,
)
from chargepoint.clock import VirtualClock

RESULTS = Path(__file__).resolve().parent / "results"
TURNAROUND_S = 0.002


def cycle_requests(nodes: int = 7) -> list[Request]:
    meter = METERS["sdm630"]
    reqs = [Request(10, b.function, b.address, b.count) for b in meter.reads()]  # mains meter
    reqs += [ev_meter_config_read(2), config_changed_clear(2)]
    reqs += [Request(12, b.function, b.address, b.count) for b in meter.reads()]  # one EV meter
    reqs += [status_read(2 + i) for i in range(nodes)]
    reqs += [state_write(2 + i, 5, 0) for i in range(nodes)]  # worst case: a grant to every node
    reqs += [balanced_broadcast([60] * 8, [0, 0, 0]), system_config_broadcast(SystemConfig())]
    return reqs


def measured_cycle_s(nodes: int = 7) -> float:
    clock = VirtualClock()

    async def main() -> float:
        bus = NodeBus(clock, make_nodes(nodes), mains_meter="sdm630")
        await bus.start()
        board = create_backend(clock, {"loopback": bus.handle_frame, "nodes": nodes, "mains_meter": "sdm630@10"})
        await board.start()
        await clock.sleep(20)
        await board.close()
        await bus.stop()
        return board.stats.max_duration_s

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
    wire = sum(transaction_time_s(r, 9600, TURNAROUND_S) for r in reqs)
    measured = measured_cycle_s()
    lat = profile_latencies()
    up = [x for i, x in enumerate(lat) if i % 2 == 1]
    down = [x for i, x in enumerate(lat) if i % 2 == 0]
    result = {
        "cycle_requests": len(reqs), "cycle_wire_time_s": round(wire, 4), "cycle_budget_s": 2.0,
        "cycle_measured_loopback_virtual_s": round(measured, 4),
        "profile_to_wire_p50_s": round(statistics.median(lat), 3), "profile_to_wire_p99_s": round(pct(lat, 99), 3),
        "lower_p50_s": round(statistics.median(down), 3), "raise_p50_s": round(statistics.median(up), 3),
        "samples": len(lat),
    }
    print("| metric | value |\n|---|---|")
    print(f"| requests in one 7-node cycle (worst case) | {len(reqs)} |")
    print(f"| computed minimum wire time at 9600 8N1 | {wire * 1000:.0f} ms of 2000 ms |")
    print(f"| measured cycle (loopback, virtual time, 7 nodes) | {measured * 1000:.0f} ms |")
    print(f"| SetChargingProfile -> broadcast p50 / p99 | {result['profile_to_wire_p50_s'] * 1000:.0f} / "
          f"{result['profile_to_wire_p99_s'] * 1000:.0f} ms |")
    print(f"| lowering p50 (early broadcast) / raising p50 (next cycle) | {result['lower_p50_s'] * 1000:.0f} / "
          f"{result['raise_p50_s'] * 1000:.0f} ms |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rs485.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
