"""The HAL parts of one node connector: they hand their commands to the board, which puts them on the bus."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hal.types import MeterReading, PilotMode

if TYPE_CHECKING:
    from backends.smartevse_rs485.board import Rs485Board

log = logging.getLogger(__name__)


class NodePilot:
    def __init__(self, board: Rs485Board, connector: int) -> None:
        self._board, self._n = board, connector

    async def set_pilot(self, mode: PilotMode, duty_permille: int, current_a: float) -> None:
        self._board.set_pilot(self._n, mode, current_a)


class NodeContactors:
    """The node switches its contactors itself (on entering C, and C1 -> B1); opening is honoured as a
    pause request, closing is the node's business."""

    def __init__(self, board: Rs485Board, connector: int) -> None:
        self._board, self._n = board, connector

    async def set_contactors(self, c1: bool, c2: bool) -> None:
        if not c1:
            await self._board.request_state(self._n, "C1")
        else:
            log.debug("node %d: SetContactors(closed) -- the node closes them itself on entering C", self._n)


class NodeMeter:
    def __init__(self, board: Rs485Board, connector: int) -> None:
        self._board, self._n = board, connector
        self.last: MeterReading | None = None

    def latest(self) -> MeterReading | None:
        return self.last


class NodeConnector:
    """``hal.ConnectorHardware`` of a node: pilot and contactors; lock and RCD are the node's own."""

    def __init__(self, board: Rs485Board, connector: int, *, with_meter: bool = False) -> None:
        self.pilot = NodePilot(board, connector)
        self.contactors = NodeContactors(board, connector)
        self.lock = None
        self.meter: NodeMeter | None = NodeMeter(board, connector) if with_meter else None
        self.rcd = None
