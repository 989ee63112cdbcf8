"""The whole program on the smartevse-rs485 backend against emulated nodes, driven by the test CSMS.

``Rs485Rig`` builds the runtime the way ``chargepoint run --backend smartevse-rs485`` does
(:func:`chargepoint.app.build_runtime` on a Config) with the OCPP client talking to a
:class:`TestCsms`.  The bus is either the loopback into the emulated :class:`NodeBus` (virtual time)
or a real pty pair with pymodbus on both ends (real time).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from backends.modbus.simulator import PtyPair
from backends.smartevse_rs485.emulator import NodeBus, make_nodes
from chargepoint.app import build_runtime
from chargepoint.clock import Clock
from chargepoint.config import load_config
from chargepoint.csms import TestCsms
from chargepoint.runtime import Runtime

ENERGY = {"mode": "smart", "max_mains_a": 25, "max_circuit_a": 48}


class Rs485Rig:
    def __init__(self, clock: Clock, data_dir: Path, *, nodes: int = 3, pty: bool = False,
                 base_load_a: float = 2.0, energy: dict[str, Any] | None = None) -> None:
        self.clock = clock
        self.data_dir = data_dir
        self.pty_mode = pty
        self.bus = NodeBus(clock, make_nodes(nodes, now=clock.monotonic()), mains_meter="sdm630",
                           base_load_a=base_load_a)
        self.addresses = sorted(self.bus.nodes)
        self.energy = {**ENERGY, **(energy or {})}
        self.csms: TestCsms | None = None
        self.runtime: Runtime | None = None
        self.pty: PtyPair | None = None
        self._task: asyncio.Task[None] | None = None
        self.cp_id = "CP-1"

    async def __aenter__(self) -> Rs485Rig:
        await self.bus.start()
        sim: dict[str, Any] = {}
        if self.pty_mode:
            self.pty = PtyPair()
            self.pty.start()
            await self.bus.serve_rtu(self.pty.server_path)
            serial = self.pty.client_path
        else:
            serial = "loopback"
            sim["loopback"] = self.bus.handle_frame
        self.csms = TestCsms(self.clock, http_port=None, console_log=False, ping_interval=None)
        await self.csms.start()
        cfg = load_config(None, env={}, overrides={
            "http.listen": "", "chargepoint.data_dir": str(self.data_dir), "ocpp.csms_url": self.csms.url,
            "backend.name": "smartevse-rs485", "backend.serial": serial,
            "backend.nodes": ",".join(map(str, self.addresses)), "backend.mains_meter": "sdm630@10",
            "backend.baudrate": 9600, "controller.max_current_a": 16})
        cfg = replace(cfg, energy=dict(self.energy), sim=sim)
        self.runtime = build_runtime(cfg, self.clock, csms_url=self.csms.url)
        self._task = asyncio.create_task(self.runtime.run())
        await self.csms.wait_for_connection(self.cp_id, 30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.runtime is not None:
            self.runtime.stop_requested.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self.clock.wait_for(self._task, 30)
        if self.csms is not None:
            await self.csms.stop()
        await self.bus.stop()
        if self.pty is not None:
            self.pty.close()

    @property
    def board(self) -> Any:
        assert self.runtime is not None and self.runtime.station is not None
        return self.runtime.station.board

    async def call(self, action: str, payload: dict[str, Any]) -> Any:
        assert self.csms is not None
        return (await self.csms.call(self.cp_id, action, payload)).payload

    async def start_charging(self, connector: int, tag: str) -> int:
        """Plug the EV of the node behind ``connector`` and start a transaction by RemoteStart;
        returns the transaction id from the CSMS's StartTransaction."""
        assert self.csms is not None
        n = len(self.csms.frames)
        self.bus.plug(self.addresses[connector - 1])
        await self.clock.sleep(3)
        assert await self.call("RemoteStartTransaction", {"idTag": tag, "connectorId": connector}) == {
            "status": "Accepted"}
        start = await self.csms.wait_for_frame(
            lambda f: f.action == "StartTransaction" and f.message_type == "CALL"
            and f.payload["connectorId"] == connector, 60, start=n)
        result = await self.csms.wait_for_frame(
            lambda f: f.message_type == "CALLRESULT" and f.unique_id == start.unique_id, 30, start=n)
        return int(result.payload["transactionId"])

    def statuses(self, connector: int, since: int = 0) -> list[str]:
        assert self.csms is not None
        return [f.payload["status"] for f in self.csms.frames[since:]
                if f.action == "StatusNotification" and f.message_type == "CALL"
                and f.payload["connectorId"] == connector]

    async def wait_status(self, connector: int, status: str, within: float, since: int = 0) -> Any:
        assert self.csms is not None
        return await self.csms.wait_for_frame(
            lambda f: f.action == "StatusNotification" and f.message_type == "CALL"
            and f.payload["connectorId"] == connector and f.payload["status"] == status, within, start=since)
