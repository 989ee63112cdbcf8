"""Hardware-in-the-loop emulator of the SmartEVSE v4 CH32 mainboard on a pseudo-terminal.

``python -m backends.smartevse.emulator --link /tmp/smartevse`` prints the pty path and creates the
symlink, so ``chargepoint run --backend smartevse --serial /tmp/smartevse`` can connect to it.
In-process: :class:`Ch32Emulator` (``start()``, ``plug()``, ``set_ev()``, ``inject()``, ``stop()``).
"""

from backends.smartevse.emulator.ev import EvModel
from backends.smartevse.emulator.firmware import Ch32Firmware
from backends.smartevse.emulator.runner import FAULTS, Ch32Emulator, WireRecord

__all__ = ["FAULTS", "Ch32Emulator", "Ch32Firmware", "EvModel", "WireRecord"]
