"""Test rig for the OCPP session: the real charge point (sim board -> controller -> station ->
OcppClient) against the real test CSMS over loopback websockets, in virtual time.

Why not :class:`chargepoint.runtime.Runtime`: these are tests of the OCPP client, and several of them
(power loss TC_032, reservations surviving a restart, boot with a plugged EV) stop and start the
client alone while the board and its simulated EV stay as they are -- an application restart with the
car still plugged in, which the Runtime (it rebuilds the sim board on every start) cannot show.
Scenario replay and the HIL harness run the Runtime."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backends.sim import create_backend
from chargepoint.clock import Clock
from chargepoint.controller import Controller
from chargepoint.controller.types import ControllerSettings
from chargepoint.csms import IN, OUT, Frame, TestCsms
from chargepoint.ocpp.client import OcppClient
from chargepoint.ocpp.options import OcppOptions
from chargepoint.station import Station

CP = "CP-1"


class Rig:
    def __init__(self, clock: Clock, data_dir: Path, *, connectors: int = 1, keys: dict[str, str] | None = None,
                 csms: TestCsms | None = None, sim: dict[str, Any] | None = None, cp_id: str = CP,
                 options: dict[str, Any] | None = None, start_client: bool = True) -> None:
        self.clock = clock
        self.data_dir = data_dir
        self.connectors = connectors
        self.keys = {"MeterValueSampleInterval": "0", **(keys or {})}
        self.csms = csms
        self._own_csms = csms is None
        self.sim_options = {"connectors": connectors, **(sim or {})}
        self.cp_id = cp_id
        self.options = options or {}
        self.start_client = start_client
        self.client: OcppClient | None = None
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Rig:
        if self.csms is None:
            self.csms = TestCsms(self.clock, http_port=None, console_log=False)
            await self.csms.start()
        self.board = create_backend(self.clock, self.sim_options)
        self.controller = Controller(ControllerSettings(connectors=self.connectors), self.board.capabilities)
        self.station = Station(self.clock, self.board, self.controller)
        await self.station.start()
        if self.start_client:
            await self.start()
        return self

    def make_options(self) -> OcppOptions:
        assert self.csms is not None
        kw: dict[str, Any] = {"csms_url": self.csms.url, "cp_id": self.cp_id, "connectors": self.connectors,
                              "serial": "SN-1", "firmware": "1.0", "config": dict(self.keys),
                              "reconnect_min_s": 1.0, "reconnect_max_s": 10.0, "boot_retry_s": 30.0}
        kw.update(self.options)
        return OcppOptions(**kw)

    async def start(self) -> None:
        self.client = OcppClient(self.clock, self.station, self.make_options(), self.data_dir, rng_seed=1)
        self.task = asyncio.create_task(self.client.run())
        await self.client.ready.wait()

    async def stop_client(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_client()
        await self.station.stop()
        if self._own_csms and self.csms is not None:
            await self.csms.stop()

    @property
    def ctx(self) -> Any:
        assert self.client is not None and self.client.ctx is not None
        return self.client.ctx

    # -- frames -------------------------------------------------------------------------------
    def calls(self, action: str | None = None) -> list[Frame]:
        assert self.csms is not None
        return [f for f in self.csms.frames if f.direction == IN and f.message_type == "CALL"
                and (action is None or f.action == action)]

    def replies(self, action: str | None = None) -> list[Frame]:
        """Our answers to CSMS CALLs."""
        assert self.csms is not None
        return [f for f in self.csms.frames if f.direction == IN and f.message_type in ("CALLRESULT", "CALLERROR")
                and (action is None or f.action == action)]

    async def wait_call(self, action: str, pred: Callable[[dict[str, Any]], bool] = lambda p: True,
                        timeout: float = 60.0, start: int = 0) -> Frame:  # noqa: ASYNC109
        assert self.csms is not None
        return await self.csms.wait_for_frame(
            lambda f: f.direction == IN and f.message_type == "CALL" and f.action == action and pred(f.payload),
            timeout, start)

    def statuses(self, connector: int | None = None) -> list[str]:
        return [f.payload["status"] for f in self.calls("StatusNotification")
                if connector is None or f.payload["connectorId"] == connector]

    async def wait_status(self, connector: int, status: str, timeout: float = 60.0, start: int = 0) -> Frame:  # noqa: ASYNC109 - virtual-clock time
        return await self.wait_call("StatusNotification",
                                    lambda p: p["connectorId"] == connector and p["status"] == status, timeout, start)

    def mark(self) -> int:
        assert self.csms is not None
        return len(self.csms.frames)

    async def booted(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109 - virtual-clock time
        await self.wait_call("BootNotification", timeout=timeout)
        await self.wait_status(0, self.ctx.status.current_status(0) if self.client else "Available", timeout)

    async def call(self, action: str, payload: dict[str, Any], timeout: float = 30.0) -> Any:  # noqa: ASYNC109 - virtual-clock time
        assert self.csms is not None
        return await self.csms.call(self.cp_id, action, payload, timeout)

    async def settle(self, seconds: float = 1.0) -> None:
        await self.clock.sleep(seconds)

    def out_frames(self) -> list[Frame]:
        assert self.csms is not None
        return [f for f in self.csms.frames if f.direction == OUT]


def vrun(fn: Callable[[Clock], Any]) -> Any:
    """Run ``fn(clock)`` (a coroutine function) in virtual time."""
    from chargepoint.clock import VirtualClock

    clock = VirtualClock()
    return clock.run(fn(clock))
