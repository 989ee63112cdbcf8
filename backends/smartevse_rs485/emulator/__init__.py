"""Emulated SmartEVSE nodes on an RS485 bus (``chargepoint hil --nodes N``)."""

from backends.smartevse_rs485.emulator.bus import NodeBus, make_nodes
from backends.smartevse_rs485.emulator.node import EmulatedEv, NodeFirmware

__all__ = ["EmulatedEv", "NodeBus", "NodeFirmware", "make_nodes"]
