"""The hardware-in-the-loop stack: a CH32 emulator on a pty plus simulated Modbus meters that follow it.

:class:`HilStack` starts

* the SmartEVSE v4 mainboard emulator (:class:`backends.smartevse.emulator.Ch32Emulator`) on a
  pseudo-terminal (optionally symlinked to a stable path) -- what ``chargepoint run --backend
  smartevse --serial PATH`` connects to;
* an EV meter (:class:`backends.modbus.simulator.SimulatedMeter`, default an Eastron SDM630 at
  address 12) whose registers follow the emulated EV (:class:`EmulatorEvSource`), served over
  Modbus TCP (127.0.0.1, an ephemeral port unless given) or RTU on a pty pair;
* optionally a mains meter (address 10) showing the house base load plus the EV.

Each meter gets its own server (its own TCP port or its own RTU pty pair): the runtime opens one
link per ``[[meters]]`` table, and a serial port can only have one master.

:meth:`HilStack.meter_tables` gives the ``[[meters]]`` tables a client needs and
:meth:`HilStack.config_toml` a complete configuration for ``chargepoint run``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.modbus.meters import METERS
from backends.modbus.simulator import MeterServer, PtyPair, SimulatedMeter
from backends.smartevse.emulator import Ch32Emulator
from chargepoint.clock import Clock
from chargepoint.harness.hil.ev_meter import EmulatorEvSource, EmulatorMainsSource

TRANSPORTS = ("tcp", "rtu")


@dataclass
class HilMeter:
    """One simulated meter of the stack and where a client finds it."""

    role: str  # "ev" | "mains"
    meter: SimulatedMeter
    server: MeterServer
    transport: str
    host: str = ""
    port: int = 0
    pty: PtyPair | None = None

    @property
    def client_port(self) -> str:
        """The serial device a client opens (RTU), '' for TCP."""
        return self.pty.client_path if self.pty is not None else ""

    def endpoint(self) -> str:
        if self.transport == "tcp":
            return f"tcp://{self.host}:{self.port}"
        return f"rtu {self.client_port} @ 9600 8N1"


@dataclass
class HilOptions:
    link: str | None = None  # symlink to the emulator's pty
    baudrate: int = 500_000
    meter_type: str = "sdm630"
    meter_transport: str = "tcp"  # "tcp" | "rtu" | "none" (no EV meter)
    meter_host: str = "127.0.0.1"
    meter_port: int = 0  # TCP port of the EV meter (0: ephemeral); the mains meter takes the next free one
    mains: bool = False
    ev_address: int = 12
    mains_address: int = 10
    ev: dict[str, Any] = field(default_factory=dict)  # EV fields: max_current_a, phases, cable_a, ...
    c1_charge_delay_s: int | None = None  # emulator's ChargeDelay after C1 (firmware: 15)

    def __post_init__(self) -> None:
        if self.meter_transport not in (*TRANSPORTS, "none"):
            raise ValueError(f"meter transport must be tcp, rtu or none, not {self.meter_transport!r}")
        if self.meter_type not in METERS:
            raise ValueError(f"meter type {self.meter_type!r} unknown; known: {', '.join(sorted(METERS))}")


class HilStack:
    """Emulator + meters.  ``await stack.start()``, then ``stack.serial_path``, ``stack.meters``."""

    def __init__(self, clock: Clock, options: HilOptions | None = None) -> None:
        self.clock = clock
        self.options = options or HilOptions()
        self.emulator = Ch32Emulator(clock, link=self.options.link, baudrate=self.options.baudrate)
        if self.options.ev:
            self.emulator.set_ev(**self.options.ev)
        if self.options.c1_charge_delay_s is not None:
            self.emulator.firmware.c1_charge_delay_s = int(self.options.c1_charge_delay_s)
        self.ev_source = EmulatorEvSource(self.emulator)
        self.meters: dict[str, HilMeter] = {}
        self.pty_path: str = ""

    @property
    def serial_path(self) -> str:
        """The path ``chargepoint run --serial`` should open (the symlink when one was asked for)."""
        return self.options.link or self.pty_path

    def meter(self, role: str = "ev") -> SimulatedMeter:
        return self.meters[role].meter

    async def start(self) -> None:
        self.pty_path = await self.emulator.start()
        opts = self.options
        if opts.meter_transport == "none":
            return
        try:
            definition = METERS[opts.meter_type]
            ev = SimulatedMeter(definition, opts.ev_address, source=self.ev_source)
            await self._serve("ev", ev, opts.meter_port)
            if opts.mains:
                mains = SimulatedMeter(definition, opts.mains_address,
                                       source=EmulatorMainsSource(self.emulator, self.ev_source))
                await self._serve("mains", mains, opts.meter_port + 1 if opts.meter_port else 0)
        except BaseException:
            await self.stop()
            raise

    async def _serve(self, role: str, meter: SimulatedMeter, port: int) -> None:
        server = MeterServer(meter)
        opts = self.options
        if opts.meter_transport == "tcp":
            try:
                bound = await server.start_tcp(opts.meter_host, port)
            except RuntimeError as exc:  # pymodbus: "Could not start listen"
                raise OSError(f"cannot listen for the {role} meter on {opts.meter_host}:{port}: {exc}") from None
            self.meters[role] = HilMeter(role, meter, server, "tcp", opts.meter_host, bound)
        else:
            pty = PtyPair()
            pty.start()
            try:
                await server.start_rtu(pty.server_path, 9600)
            except BaseException:
                pty.close()
                raise
            self.meters[role] = HilMeter(role, meter, server, "rtu", pty=pty)

    async def stop(self) -> None:
        for m in self.meters.values():
            with contextlib.suppress(Exception):
                await m.server.stop()
            if m.pty is not None:
                m.pty.close()
        self.meters.clear()
        await self.emulator.stop()

    # ------------------------------------------------------------------ client configuration
    def meter_tables(self, *, poll_interval_s: float | None = None,
                     comm_loss_s: float | None = None, timeout_s: float | None = None) -> list[dict[str, Any]]:
        """The ``[[meters]]`` tables (backends.modbus.create_meter options) that reach these meters."""
        tables: list[dict[str, Any]] = []
        for role, m in self.meters.items():
            table: dict[str, Any] = {"type": self.options.meter_type, "role": role,
                                     "address": m.meter.address, "transport": m.transport}
            if m.transport == "tcp":
                table.update(host=m.host, port=m.port)
            else:
                table.update(serial_port=m.client_port, baudrate=9600)
            for key, value in (("poll_interval_s", poll_interval_s), ("comm_loss_s", comm_loss_s),
                               ("timeout_s", timeout_s)):
                if value is not None:
                    table[key] = value
            tables.append(table)
        return tables

    def config_toml(self, *, http_listen: str = "127.0.0.1:8080", data_dir: str = "",
                    csms_port: int | None = None, csms_http_port: int | None = None,
                    watchdog_s: float | None = None, max_current_a: float | None = None,
                    **meter_options: float | None) -> str:
        """A configuration for ``chargepoint run`` that connects to this stack."""
        sections: dict[str, dict[str, Any]] = {
            # the emulated board has its RCM14-03 fitted: monitor it (@RCmon:1)
            "backend": {"name": "smartevse", "serial": self.serial_path, "baudrate": self.options.baudrate,
                        "rcmon": True},
            "http": {"listen": http_listen},
        }
        if watchdog_s is not None:
            sections["backend"]["watchdog_s"] = watchdog_s
        if max_current_a is not None:
            sections["controller"] = {"max_current_a": max_current_a}
        if data_dir:
            sections["chargepoint"] = {"data_dir": data_dir}
        csms = {k: v for k, v in (("port", csms_port), ("http_port", csms_http_port)) if v is not None}
        if csms:
            sections["csms"] = csms
        lines = ["# generated by `chargepoint hil`: connects `chargepoint run` to the emulated SmartEVSE"]
        for name, table in sections.items():
            lines.append(f"\n[{name}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
        for table in self.meter_tables(**meter_options):
            lines.append("\n[[meters]]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
        return "\n".join(lines) + "\n"

    def write_config(self, path: str | Path, **kwargs: Any) -> Path:
        target = Path(path)
        target.write_text(self.config_toml(**kwargs), encoding="utf-8")
        return target


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
