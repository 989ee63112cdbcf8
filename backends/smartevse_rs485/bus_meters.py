"""kWh meters on the load-balancing bus, read by the master between the node polls (reference §4.3
steps 2, 4, 5, 20): the mains meter (connector 0) and each node's own EV meter (its connector).

The register plan and decoding are the table-driven ones of :mod:`backends.modbus.meters`; this
module only runs the reads over the master's :class:`~backends.smartevse_rs485.bus.Bus` and applies
the firmware's comm-loss rule (mains 11 s -> CT_NOCOMM, EV 64 s -> EV_NOCOMM) as ``MeterStatus``.
"""

from __future__ import annotations

from dataclasses import dataclass

from backends.modbus.meters import DecodeError, MeterDefinition, MeterValues, decode
from backends.smartevse_rs485.bus import Bus, BusError
from backends.smartevse_rs485.protocol import Request
from hal.types import MeterReading, MeterStatus

MAINS_TIMEOUT_S = 11.0
EV_TIMEOUT_S = 64.0


async def read_meter(bus: Bus, definition: MeterDefinition, address: int) -> MeterValues:
    """One poll of a meter: every register block of its plan, then the table decode."""
    image: dict[int, int] = {}
    for block in definition.reads():
        regs = await bus.transact(Request(address, block.function, block.address, block.count))
        for i, value in enumerate(regs or []):
            image[block.address + i] = value
    return decode(definition, image)


@dataclass
class MeterWatch:
    """A meter's health: when it last answered, whether its MeterStatus says ok."""

    connector: int
    timeout_s: float
    last_ok_at: float | None = None
    ok: bool = True
    failures: int = 0
    last_error: str = ""

    def reading(self, now: float, values: MeterValues) -> list[MeterReading | MeterStatus]:
        self.last_ok_at = now
        self.failures = 0
        out: list[MeterReading | MeterStatus] = []
        if not self.ok:
            self.ok = True
            out.append(MeterStatus(self.connector, True, "meter answers again"))
        out.append(MeterReading(self.connector, values.voltage_v, values.current_a, values.power_w,
                                values.energy_import_wh, values.energy_export_wh))
        return out

    def failure(self, now: float, error: BusError | DecodeError, since: float) -> list[MeterStatus]:
        self.failures += 1
        self.last_error = str(error)
        last = self.last_ok_at if self.last_ok_at is not None else since
        if self.ok and now - last >= self.timeout_s:
            self.ok = False
            what = "mains meter" if self.connector == 0 else f"EV meter of connector {self.connector}"
            return [MeterStatus(self.connector, False,
                                f"{what}: no reading for {now - last:.0f} s ({self.last_error})")]
        return []
