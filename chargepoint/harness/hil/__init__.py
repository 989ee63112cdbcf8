"""Hardware in the loop: the SmartEVSE v4 emulator on a pty and simulated Modbus meters following its EV.

* :mod:`.ev_meter` -- :class:`EmulatorEvSource` / :class:`EmulatorMainsSource`: meter register
  sources that read the emulated CH32 and its EV;
* :mod:`.stack` -- :class:`HilStack`: emulator + meter servers, and the configuration
  (``[[meters]]`` tables, a TOML for ``chargepoint run``) that connects to them.

``chargepoint hil`` (:mod:`chargepoint.harness.hil_cli`) runs a stack as a process; docs/HARDWARE.md explains
the real hardware it stands in for.
"""

from chargepoint.harness.hil.ev_meter import EmulatorEvSource, EmulatorMainsSource
from chargepoint.harness.hil.stack import HilMeter, HilOptions, HilStack

__all__ = ["EmulatorEvSource", "EmulatorMainsSource", "HilMeter", "HilOptions", "HilStack"]
