"""``chargepoint hil --nodes N``: N emulated SmartEVSE nodes (addresses 2..N+1, each with an SDM630 EV
meter) and a mains meter (address 10) on one emulated RS485 bus, served by pymodbus RTU servers on a
pty pair (optionally symlinked) -- what ``chargepoint run --backend smartevse-rs485`` connects to.

stdin: ``plug <address> [A]``, ``unplug <address>``, ``silent|deaf|crc|talk|reboot|rcd|rcd_reset
<address>``, ``temp <address> <C>``, ``master on|off`` (a second master), ``status``.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from pathlib import Path

from backends.modbus.simulator import PtyPair
from backends.smartevse_rs485.emulator import NodeBus, make_nodes
from backends.smartevse_rs485.emulator.bus import NODE_FAULTS
from chargepoint.clock import Clock


class Rs485Hil:
    def __init__(self, clock: Clock, nodes: int, *, link: str | None = None, base_load_a: float = 2.0) -> None:
        if not 1 <= nodes <= 7:
            raise ValueError(f"--nodes {nodes}: 1..7 nodes fit on the bus")
        self.clock = clock
        self.link = link
        self.bus = NodeBus(clock, make_nodes(nodes, now=clock.monotonic()), mains_meter="sdm630",
                           base_load_a=base_load_a)
        self.pty: PtyPair | None = None

    async def start(self) -> None:
        self.pty = PtyPair()
        self.pty.start()
        await self.bus.serve_rtu(self.pty.server_path)
        await self.bus.start()
        if self.link:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.link)
            os.symlink(self.pty.client_path, self.link)

    async def stop(self) -> None:
        await self.bus.stop()
        if self.pty is not None:
            self.pty.close()
        if self.link:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.link)

    @property
    def serial_path(self) -> str:
        assert self.pty is not None
        return self.link or self.pty.client_path

    def write_config(self, path: Path, *, http_listen: str = "127.0.0.1:8080", data_dir: str = "") -> None:
        nodes = ",".join(str(a) for a in sorted(self.bus.nodes))
        lines = ["[backend]", 'name = "smartevse-rs485"', f'serial = "{self.serial_path}"', f'nodes = "{nodes}"',
                 'mains_meter = "sdm630@10"', "baudrate = 9600", "", "[controller]", "max_current_a = 16", "",
                 "[http]", f'listen = "{http_listen}"', "", "[energy]", 'mode = "smart"', "max_mains_a = 25",
                 "max_circuit_a = 48"]
        if data_dir:
            lines += ["", "[chargepoint]", f'data_dir = "{data_dir}"']
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def banner(self, config_path: Path) -> str:
        command = ["chargepoint", "run", "--config", str(config_path)]
        return "\n".join([
            f"{len(self.bus.nodes)} SmartEVSE nodes (addresses {', '.join(map(str, sorted(self.bus.nodes)))}) "
            f"and a mains meter (address 10) on {self.serial_path}, 9600 8N1",
            f"config written to {config_path}",
            f"run: {shlex.join(command)}",
            "stdin: plug <addr> [A] | unplug <addr> | silent|deaf|crc|talk|reboot|rcd|rcd_reset <addr> | "
            "temp <addr> <C> | master on|off | status",
            "ready"])

    def command(self, line: str) -> str:
        words = line.split()
        if not words:
            return ""
        cmd, args = words[0].lower(), words[1:]
        try:
            if cmd == "status":
                return "; ".join(n.firmware.describe() for n in self.bus.nodes.values())
            if cmd == "master":
                self.bus.second_master = args[:1] == ["on"]
                return "ok"
            address = int(args[0])
            if cmd == "plug":
                self.bus.plug(address, **({"max_current_a": float(args[1])} if len(args) > 1 else {}))
            elif cmd == "unplug":
                self.bus.unplug(address)
            elif cmd == "temp":
                self.bus.inject(address, "temp", float(args[1]))
            elif cmd in NODE_FAULTS:
                self.bus.inject(address, cmd)
            else:
                return f"unknown command {cmd!r}"
        except (IndexError, ValueError) as exc:
            return f"bad arguments for {cmd!r}: {exc}"
        return "ok"
