"""Test peers for the CSMS: an ``ocpp``-library charge point and a raw websocket client."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

import aiohttp
from ocpp.routing import on
from ocpp.v16 import ChargePoint
from ocpp.v16 import call_result as result
from ocpp.v16.enums import Action
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from chargepoint.csms import TestCsms


class ClientCp(ChargePoint):
    """A minimal charge point built on the ``ocpp`` library (what the real CP also uses)."""

    def __init__(self, cp_id: str, connection: Any) -> None:
        super().__init__(cp_id, connection, response_timeout=60)
        self.remote_starts: list[dict[str, Any]] = []

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(self, id_tag: str, **extra: Any):
        self.remote_starts.append({"id_tag": id_tag, **extra})
        return result.RemoteStartTransaction(status="Accepted")


async def open_ws(csms: TestCsms, cp_id: str, subprotocols: list[str] | None = None, **kwargs: Any) -> ClientConnection:
    kwargs.setdefault("proxy", None)
    protocols = ["ocpp1.6"] if subprotocols is None else subprotocols
    return await connect(f"{csms.url}/{cp_id}", subprotocols=protocols or None, **kwargs)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def client_cp(csms: TestCsms, cp_id: str, **kwargs: Any) -> AsyncIterator[ClientCp]:
    ws = await open_ws(csms, cp_id, **kwargs)
    cp = ClientCp(cp_id, ws)
    task = asyncio.get_running_loop().create_task(cp.start())
    try:
        await csms.wait_for_connection(unquote(cp_id), timeout=5)
        yield cp
    finally:
        await ws.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await task


class RawClient:
    """Sends hand-written frames; answers nothing unless told to."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = 0

    async def call(self, action: str, payload: Any) -> list[Any]:
        self._ids += 1
        unique_id = f"raw-{self._ids}"
        await self.ws.send(json.dumps([2, unique_id, action, payload]))
        return await self.expect(lambda m: m[0] in (3, 4) and m[1] == unique_id)

    async def expect(self, predicate: Any) -> list[Any]:
        while True:
            msg = json.loads(await self.ws.recv())
            if predicate(msg):
                return msg


async def http(method: str, url: str, body: Any = None, raw: str | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        async with session.request(method, url, data=data, headers={"Content-Type": "application/json"}) as resp:
            return resp.status, await resp.json()
