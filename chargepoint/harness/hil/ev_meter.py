"""The EV meter of the emulated SmartEVSE: a Modbus meter whose registers follow the emulator's EV.

:class:`EmulatorEvSource` is a *source* for :class:`backends.modbus.simulator.SimulatedMeter`: on
every Modbus request it reads the CH32 emulator as it is now -- the per-phase current the EV draws
(zero unless the emulated contactors are closed in C/C1; C2 decides 1 or 3 phases) and the energy
the emulator has integrated for the EV (``Ch32Firmware.ev_energy_wh``, which survives a CH32
restart like a real kWh meter's register).  Nothing is computed twice: the meter shows exactly what
the emulated EV drew, so a test can compare the transaction's energy with the EV's.
"""

from __future__ import annotations

from backends.modbus.meters import MeterValues
from backends.smartevse.emulator import Ch32Emulator

#: CH32 state codes in which the contactors may be closed (C and C1).
_ENERGISED_STATES = frozenset({2, 10})


class EmulatorEvSource:
    """``source()`` -> :class:`MeterValues` of the emulator's EV, as of the emulator's last 10 ms tick."""

    def __init__(self, emulator: Ch32Emulator) -> None:
        self.emulator = emulator

    def currents(self) -> tuple[float, float, float]:
        fw = self.emulator.firmware
        if not (fw.c1 and fw.state in _ENERGISED_STATES):
            return (0.0, 0.0, 0.0)
        amps = fw.ev.ev.draw_a  # set by the firmware's 10 ms tick (EvModel.draw_a)
        phases = min(fw.ev.phases, 3 if fw.c2 else 1)
        return (amps, amps if phases > 1 else 0.0, amps if phases > 2 else 0.0)

    def __call__(self) -> MeterValues:
        fw = self.emulator.firmware
        v = fw.voltage_v
        currents = self.currents()
        return MeterValues((v, v, v), currents, sum(currents) * v, fw.ev_energy_wh, 0.0)


class EmulatorMainsSource:
    """A mains meter behind the emulated unit: the house's base load on every phase plus the EV."""

    def __init__(self, emulator: Ch32Emulator, ev: EmulatorEvSource | None = None) -> None:
        self.emulator = emulator
        self.ev = ev or EmulatorEvSource(emulator)

    def __call__(self) -> MeterValues:
        fw = self.emulator.firmware
        v = fw.voltage_v
        currents = tuple(a + fw.house_load_a for a in self.ev.currents())
        return MeterValues((v, v, v), (currents[0], currents[1], currents[2]), sum(currents) * v,
                           fw.mains_energy_wh, 0.0)
