"""hal.Board for SmartEVSE units on the RS485 load-balancing bus: this program is the master, each
node (address 2..8) is one connector.

Every node runs its own IEC 61851 state machine, contactors and lock, so the board reports
``owns_state_machine=True`` (the controller's follower mode, as for the v4).  The master loop runs
every ``cycle_s`` (2 s, reference §4.3):

1. the mains meter on the bus -> ``MeterReading(0)``, released after step 3 with the TotalCurrent of
   its instant (:meth:`charging_at_reading`: the broadcast currents of the nodes in C at the read,
   less those the poll found out of C), so the energy manager's Baseload is of the reading's instant;
2. one node's EV meter per cycle, round robin (its type/address read from 0x0108 first, and again
   whenever the node raises its ConfigChanged flag, which is then cleared) -> ``MeterReading(n)``;
3. the status block of every node (FC04 0x0000 x8): ``BoardStateReport`` / ``ContactorFeedback`` on
   change, error flags -> ``BoardFault`` / ``RcdReading`` (+ ``TemperatureReading`` read from 0x000A
   when TEMP_HIGH rises or clears); the Online counter: 5 cycles without an answer -> ``BoardFault(n,
   "node_offline")``; the next answer reports the node's state, then clears it;
4. per node the handshake writes of :func:`master.node_writes` (COMM_B_OK / COMM_C_OK / LESS_6A /
   pause / mode);
5. the broadcast of the balanced currents and mains Irms (FC16 0x09 0x0020, 11 registers);
6. the system configuration broadcast (0x0200, 22 registers) at start and when a node (re)joins.

HAL commands: ``SetPilot(PWM, current_a)`` -> the node's balanced current (clamped to its
MaxCurrent; a *lower* current is broadcast at once, not at the next cycle); ``SetPilot(CONSTANT)``
-> 0; ``SetAuthorization`` -> may the master grant COMM_B/COMM_C; ``RequestBoardState("C1"|"B1")``
-> that state written to the node.  The energy manager tells :meth:`set_current_available` whether
a node may start (its LESS_6A verdict).  :meth:`connector_problem` says in words why a connector is
faulted (OCPP info / vendorErrorCode).  A second master on the bus is detected when a node reaches
B or C without our grant, or reports balanced currents we did not broadcast for 3 cycles
(``BoardFault(0, "second_master")``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from backends.modbus.link import RtuTransport, TcpTransport
from backends.modbus.meters import METER_INDEX, METERS, DecodeError, MeterDefinition, MeterValues
from backends.smartevse_rs485 import master
from backends.smartevse_rs485.bus import Bus, BusError, LoopbackBus, PymodbusBus
from backends.smartevse_rs485.bus_meters import EV_TIMEOUT_S, MAINS_TIMEOUT_S, MeterWatch, read_meter
from backends.smartevse_rs485.master import NodeTrack
from backends.smartevse_rs485.options import Rs485Options
from backends.smartevse_rs485.parts import NodeConnector
from backends.smartevse_rs485.protocol import (
    CONTACTOR_CLOSED_STATES,
    FC_READ_INPUT,
    HARD_FLAGS,
    RCM_TRIPPED,
    REG_TEMPERATURE,
    STATE_B,
    STATE_C,
    STATE_LETTER,
    TEMP_HIGH,
    NodeStatus,
    Request,
    access_write,
    balanced_broadcast,
    config_changed_clear,
    ev_meter_config_read,
    s16,
    status_read,
    system_config_broadcast,
)
from hal.clock import Clock
from hal.types import (
    BoardCapabilities,
    BoardFault,
    BoardStateReport,
    ContactorFeedback,
    HalEvent,
    MeterReading,
    PilotMode,
    RcdReading,
    TemperatureReading,
)

log = logging.getLogger(__name__)

#: Cycles in a row a node must report a balanced current we did not send before we call it a collision.
COLLISION_CYCLES = 3
#: How long a cleared problem is still given as the reason of a connector's fault: the controller
#: sees the clearing event a moment after the board.
PROBLEM_GRACE_S = 5.0
#: A node's error flag (HARD_FLAGS code) in a few words, for the OCPP info.
FLAG_TEXT = {
    "ct_nocomm": "no master broadcast (CT_NOCOMM)", "temp_high": "over temperature (TEMP_HIGH)",
    "ev_nocomm": "EV meter lost (EV_NOCOMM)", "rcm_tripped": "residual current (RCM_TRIPPED)",
    "test_io": "I/O test flag (TEST_IO)", "bl_flash": "bootloader flash (BL_FLASH)",
}


@dataclass
class CycleStats:
    cycles: int = 0
    last_duration_s: float = 0.0
    max_duration_s: float = 0.0
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    broadcasts: int = 0
    early_broadcasts: int = 0


class Rs485Board:
    """The master of a SmartEVSE RS485 bus; node ``config.connector`` is HAL connector n."""

    def __init__(self, clock: Clock, options: Rs485Options, bus: Bus | None = None) -> None:
        self.clock = clock
        self.options = options
        nodes = options.nodes
        self.capabilities = BoardCapabilities(
            connectors=len(nodes), max_current_a=options.max_current_a,
            phases=3 if any(n.phases == 3 for n in nodes) else 1, has_lock=False, has_c2=True,
            has_rcd=True, has_meter=any(n.ev_meter for n in nodes), has_temperature=True,
            owns_state_machine=True,
            extra={"board": "smartevse-rs485", "port": options.port or "loopback",
                   **{f"connector{n.connector}.address": str(n.address) for n in nodes},
                   **{f"connector{n.connector}.max_current_a": f"{n.max_current_a:g}" for n in nodes}},
        )
        self.tracks: dict[int, NodeTrack] = {n.connector: NodeTrack(n) for n in nodes}
        self._parts = {n.connector: NodeConnector(self, n.connector, with_meter=n.ev_meter) for n in nodes}
        self.bus: Bus = bus if bus is not None else _make_bus(clock, options)
        self.stats = CycleStats()
        self._queue: asyncio.Queue[HalEvent] = asyncio.Queue()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._early: asyncio.Task[None] | None = None
        self._faults: dict[tuple[int, str], bool] = {}
        self._last_problem: dict[int, tuple[tuple[str, str], float | None]] = {}  # (problem, cleared at)
        self._letters: dict[int, str] = {}
        self._contactors: dict[int, tuple[bool, bool]] = {}
        self._last_broadcast: list[int] = [0] * 8
        self._mismatch: dict[int, int] = {}
        self._mains_da: tuple[int, int, int] = (0, 0, 0)
        self._drawing_at_read: set[int] = set()  # nodes in C when the mains meter was read
        self._left_c: set[int] = set()  # ... of which this cycle's poll answered another state
        self._last_mains: tuple[MeterReading | None, float] = (None, 0.0)
        self._config_dirty = True
        self._ev_rr = 0
        self._started_at = 0.0
        self._first_cycle = asyncio.Event()
        self._bus_open = False
        self._temperature_wanted: int | None = None
        self._watch = {0: MeterWatch(0, MAINS_TIMEOUT_S)} if options.mains_meter else {}
        for n in nodes:
            if n.ev_meter:
                self._watch[n.connector] = MeterWatch(n.connector, EV_TIMEOUT_S)

    # ------------------------------------------------------------------ hal.Board
    async def start(self) -> None:
        """Start the master loop; returns after the first cycle (or ``start_timeout_s``)."""
        self._started_at = self.clock.monotonic()
        self._task = asyncio.create_task(self._run(), name="rs485-master")
        with contextlib.suppress(TimeoutError):
            await self.clock.wait_for(self._first_cycle.wait(), self.options.start_timeout_s)

    async def close(self) -> None:
        """Stop the loop, then leave every node safe: pauses written, balanced currents 0."""
        await self.clock.cancel_and_wait(self._task, self._early)
        self._task = self._early = None
        if self._bus_open:
            for t in self.tracks.values():
                t.permitted = False
            with contextlib.suppress(Exception):
                async with self._lock:
                    await self._handshakes()
                    await self._broadcast()
        self.bus.close()

    def connector(self, number: int) -> NodeConnector:
        if number not in self._parts:
            raise ValueError(f"connector {number} does not exist (nodes: {sorted(self._parts)})")
        return self._parts[number]

    async def events(self) -> AsyncIterator[HalEvent]:
        while True:
            yield await self._queue.get()

    async def request_state(self, connector: int, state: str) -> None:
        pause = master.pause_state_for(state)
        if pause is None:
            log.info("node %d: RequestBoardState(%r) has no node equivalent; ignored", connector, state)
            return
        self._track(connector).pause_request = pause

    async def set_authorization(self, connector: int, allowed: bool) -> None:
        self._track(connector).permitted = bool(allowed)

    def set_current_available(self, connector: int, available: bool, reason: str = "") -> None:
        """The energy manager's verdict (IsCurrentAvailable / LESS_6A) for a node."""
        t = self._track(connector)
        t.available, t.shortage_reason = bool(available), reason
        t.available_at = self.clock.monotonic()

    # ------------------------------------------------------------------ commands from the parts
    def set_pilot(self, connector: int, mode: PilotMode, current_a: float) -> None:
        t = self._track(connector)
        if mode is PilotMode.ACTIVATE:
            log.info("node %d: SetPilot(ACTIVATE) ignored: a node runs its own activation mode", connector)
            return
        new = round(current_a * 10) if mode is PilotMode.PWM and current_a > 0 else 0
        old_slot = master.balanced_da(t)
        t.offered_da = min(new, round(t.config.max_current_a * 10))
        if master.balanced_da(t) < old_slot and self._bus_open and (self._early is None or self._early.done()):
            self._early = asyncio.create_task(self._early_broadcast(), name="rs485-early-broadcast")

    def _track(self, connector: int) -> NodeTrack:
        if connector not in self.tracks:
            raise ValueError(f"connector {connector} does not exist (nodes: {sorted(self.tracks)})")
        return self.tracks[connector]

    # ------------------------------------------------------------------ the loop
    async def _run(self) -> None:
        deadline = self.clock.monotonic()
        while True:
            began = self.clock.monotonic()
            try:
                async with self._lock:
                    await self.cycle()
            except asyncio.CancelledError:
                raise
            except Exception:  # the master loop must survive anything a node sends
                log.exception("RS485 master cycle failed")
            duration = self.clock.monotonic() - began
            self.stats.last_duration_s = duration
            self.stats.max_duration_s = max(self.stats.max_duration_s, duration)
            self._first_cycle.set()
            deadline += self.options.cycle_s
            now = self.clock.monotonic()
            if deadline < now:
                log.warning("RS485 cycle took %.2f s, longer than %.1f s", duration, self.options.cycle_s)
                deadline = now
            await self.clock.sleep_until(deadline)

    async def cycle(self) -> None:
        """One master cycle (the caller holds the bus lock)."""
        self.stats.cycles += 1
        if not self._bus_open:
            self._bus_open = await self.bus.open()
            if not self._bus_open:
                self._set_fault(0, "link", True, f"RS485 bus {self.bus.describe()}: "
                                f"{getattr(self.bus, 'last_error', '') or 'cannot open'}")
                return
            self._set_fault(0, "link", False)
        held = await self._read_mains()
        await self._read_next_ev_meter()
        for t in self.tracks.values():
            await self._poll(t)
        self._release_mains(held)
        await self._handshakes()
        await self._broadcast()
        if self._config_dirty:
            if await self._send(system_config_broadcast(self.options.system_config())) is not False:
                self._config_dirty = False

    async def _send(self, req: Request) -> list[int] | bool | None:
        """One transaction; False on a bus error (counted and logged at debug)."""
        self.stats.requests += 1
        try:
            return await self.bus.transact(req)
        except BusError as exc:
            self.stats.errors[exc.kind] = self.stats.errors.get(exc.kind, 0) + 1
            log.debug("RS485 unit %d function %d: %s", req.unit, req.function, exc)
            if exc.kind == "down":
                self._bus_open = False
            return False

    async def _poll(self, t: NodeTrack) -> None:
        n = t.config.connector
        regs = await self._send(status_read(t.config.address))
        status: NodeStatus | None = None
        if isinstance(regs, list):
            try:
                status = NodeStatus.from_registers(regs)
            except ValueError as exc:
                self.stats.errors["frame"] = self.stats.errors.get("frame", 0) + 1
                log.warning("node %d (address %d): %s", n, t.config.address, exc)
        now = self.clock.monotonic()
        if status is None:
            never = not t.ever_seen and t.online == 0 and t.missed + 1 >= master.ONLINE_CYCLES
            if master.on_silence(t) or never:
                self._set_fault(n, "node_offline", True,
                                f"node {n} (address {t.config.address}) silent for {t.missed} cycles "
                                f"({t.missed * self.options.cycle_s:.0f} s)")
            return
        previous = t.status
        joined = master.on_answer(t, status, now)
        if not t.drawing:
            self._left_c.add(n)
        self._report(t, status, previous)  # its state first: the controller never sees a stale one unfaulted
        if joined:
            self._set_fault(n, "node_offline", False, f"node {n} (address {t.config.address}) answers")
            log.info("node %d (address %d) joined: state %s", n, t.config.address, status.state_name)
            self._config_dirty = True
            t.ev_meter_known = False
            await self._send(access_write(t.config.address, 1))

    def _report(self, t: NodeTrack, st: NodeStatus, previous: NodeStatus | None) -> None:
        n = t.config.connector
        letter = STATE_LETTER.get(st.state, "E")
        if self._letters.get(n) != letter:
            self._letters[n] = letter
            self._emit(BoardStateReport(n, letter))
        c1 = st.state in CONTACTOR_CLOSED_STATES
        pair = (c1, c1 and t.config.phases == 3)
        if self._contactors.get(n) != pair:
            self._contactors[n] = pair
            self._emit(ContactorFeedback(n, *pair))
        old_err = previous.error if previous is not None else 0
        for bit, code in HARD_FLAGS.items():
            active = bool(st.error & bit)
            if active != self._faults.get((n, code), False):
                self._set_fault(n, code, active, f"node {n} error flags {st.error:#06x}")
                if bit == RCM_TRIPPED:
                    self._emit(RcdReading(n, active))
        if (st.error ^ old_err) & TEMP_HIGH and (previous is not None or st.error & TEMP_HIGH):
            self._temperature_wanted = n  # raised or cleared: read the node's temperature (0x000A) for the controller
        self._check_collision(t, st, previous)

    def _check_collision(self, t: NodeTrack, st: NodeStatus, previous: NodeStatus | None) -> None:
        """Another master on the bus shows as a node granted B or C by someone else, or charging at a
        current we did not broadcast (3 cycles in a row)."""
        n = t.config.connector
        foreign = None if previous is None else master.foreign_grant(
            previous.state, st.state, granted_b=t.granted_b, granted_c=t.granted_c)
        t.granted_b = t.granted_c = False
        if foreign is not None:
            self._mismatch[n] = COLLISION_CYCLES
            self._set_fault(0, "second_master", True,
                            f"node {n} (address {t.config.address}) {foreign}: another master (a SmartEVSE with "
                            f"LoadBl=Master) is on the bus; set it to Node or Disabled")
            return
        sent = self._last_broadcast[t.config.slot]
        steady = previous is not None and previous.state == st.state and st.state in (STATE_B, STATE_C)
        if steady and st.current_da != sent:
            self._mismatch[n] = self._mismatch.get(n, 0) + 1
        else:
            self._mismatch[n] = 0
        if self._mismatch[n] >= COLLISION_CYCLES:
            self._set_fault(0, "second_master", True,
                            f"node {n} (address {t.config.address}) charges at {st.current_da / 10:g} A, "
                            f"we broadcast {sent / 10:g} A: another master (a SmartEVSE with LoadBl=Master) "
                            f"is on the bus; set it to Node or Disabled")
        elif not any(self._mismatch.values()):
            self._set_fault(0, "second_master", False)

    async def _handshakes(self) -> None:
        for t in self.tracks.values():
            for req in master.node_writes(t, min_current_a=self.options.min_current_a, mode=self.options.mode):
                if await self._send(req) is not False:
                    t.granted_b = t.granted_b or master.grants_b(req)
                    if master.grants_c(req):
                        t.granted_c = t.drawing = True  # in C from this write on: it draws its broadcast slot
        n = self._temperature_wanted
        if n is not None:
            self._temperature_wanted = None
            regs = await self._send(Request(self.tracks[n].config.address, FC_READ_INPUT, REG_TEMPERATURE, 1))
            if isinstance(regs, list) and regs:
                self._emit(TemperatureReading(n, float(s16(regs[0]))))

    async def _broadcast(self, early: bool = False) -> None:
        slots = master.balanced_slots(list(self.tracks.values()))
        if await self._send(balanced_broadcast(slots, self._mains_da)) is not False:
            self._last_broadcast = slots
            for t in self.tracks.values():
                t.wire_da = slots[t.config.slot]
            self.stats.broadcasts += 1
            self.stats.early_broadcasts += early

    async def _early_broadcast(self) -> None:
        async with self._lock:
            await self._broadcast(early=True)

    # ------------------------------------------------------------------ meters on the bus
    async def _read_mains(self) -> list[HalEvent]:
        """Read the mains meter; its events are held until the nodes are polled (:meth:`_release_mains`)."""
        m = self.options.mains_meter
        if m is None:
            return []
        self._drawing_at_read = {n for n, t in self.tracks.items() if t.drawing and t.is_online}
        self._left_c.clear()
        held: list[HalEvent] = []
        values = await self._meter(0, m.definition, m.address, held)
        if values is not None:
            self._mains_da = (round(values.current_a[0] * 10), round(values.current_a[1] * 10),
                              round(values.current_a[2] * 10))
        return held

    def _release_mains(self, held: list[HalEvent]) -> None:
        """Emit the mains reading with the TotalCurrent of its instant: the broadcast slots of the nodes
        in C at the read, less those whose answer in this cycle's poll is not C -- a node that left C
        (unplugged, EV done, fault) may have left before the read, and counting it would make the base
        load look smaller.  A node that did not answer is still counted: silent, it hears the
        broadcast and draws its slot until it is offline (then it gets 0)."""
        amps = sum(self.tracks[n].wire_da for n in self._drawing_at_read - self._left_c) / 10.0
        for event in held:
            if isinstance(event, MeterReading):
                self._last_mains = (event, amps)
            self._emit(event)

    async def _read_next_ev_meter(self) -> None:
        with_meter = [t for t in self.tracks.values() if t.config.ev_meter and t.is_online]
        if not with_meter:
            return
        t = with_meter[self._ev_rr % len(with_meter)]
        self._ev_rr += 1
        if not t.ev_meter_known or (t.status is not None and t.status.config_changed):
            regs = await self._send(ev_meter_config_read(t.config.address))
            if not isinstance(regs, list):
                return
            t.ev_meter_type, t.ev_meter_address, t.ev_meter_known = regs[0], regs[1], True
            await self._send(config_changed_clear(t.config.address))
        if not t.ev_meter_type:
            return
        key = METER_INDEX.get(t.ev_meter_type, self.options.ev_meter_default)
        await self._meter(t.config.connector, METERS[key], t.ev_meter_address)

    async def _meter(self, connector: int, definition: MeterDefinition, address: int,
                     held: list[HalEvent] | None = None) -> MeterValues | None:
        """One meter poll; its events are emitted, or appended to ``held`` when given."""
        watch = self._watch[connector]
        now = self.clock.monotonic()
        emit = self._emit if held is None else held.append
        try:
            values = await read_meter(self.bus, definition, address)
        except (BusError, DecodeError) as exc:
            for event in watch.failure(now, exc, self._started_at):
                emit(event)
            return None
        for item in watch.reading(now, values):
            emit(item)
        return values

    # ------------------------------------------------------------------ helpers
    def charging_at_reading(self, reading: MeterReading) -> float | None:
        """The firmware's TotalCurrent (A) when the mains ``reading`` was taken: the balanced currents on
        the wire to the nodes then in C.  The energy manager's Baseload is ``Imeasured - TotalCurrent``
        of the *same* instant, so a reading taken before a grant or a change reached the wire is still
        read right.  None for another reading than the last one of the mains meter on this bus."""
        last, amps = self._last_mains
        return amps if last is reading else None

    def _emit(self, event: HalEvent) -> None:
        if isinstance(event, MeterReading) and event.connector in self._parts:
            meter = self._parts[event.connector].meter
            if meter is not None:
                meter.last = event
        self._queue.put_nowait(event)

    def _set_fault(self, connector: int, code: str, active: bool, detail: str = "") -> None:
        if self._faults.get((connector, code), False) == active:
            return
        self._faults[(connector, code)] = active
        now = self.clock.monotonic()
        for n in self.tracks if connector == 0 else (connector,):
            problem = self._problem(n)
            if problem is not None:
                self._last_problem[n] = (problem, None)
            elif n in self._last_problem and self._last_problem[n][1] is None:
                self._last_problem[n] = (self._last_problem[n][0], now)  # cleared now
        (log.error if active else log.info)("RS485 fault %s %s%s", code, "ACTIVE" if active else "cleared",
                                            f": {detail}" if detail else "")
        self._emit(BoardFault(connector, code, active, detail))

    def connector_problem(self, connector: int) -> tuple[str, str] | None:
        """Why connector ``connector`` is faulted, in the board's words: (code, text of at most 50
        characters) for the OCPP status (vendorErrorCode, info).  A silent node first, then the bus
        (link, a second master), then the node's error flags.  When nothing is wrong any more, the
        last problem (None if there never was one): the controller may not have seen the clearing
        event yet, and its fault is still this one (for ``PROBLEM_GRACE_S`` after it cleared)."""
        problem = self._problem(connector)
        if problem is not None:
            return problem
        last, cleared_at = self._last_problem.get(connector, (None, None))
        if last is not None and cleared_at is not None and self.clock.monotonic() - cleared_at <= PROBLEM_GRACE_S:
            return last
        return None

    def _problem(self, connector: int) -> tuple[str, str] | None:
        t = self.tracks.get(connector)
        if t is None:
            return None
        address = t.config.address
        for n, code in ((connector, "node_offline"), (0, "link"), (0, "second_master"),
                        *((connector, c) for c in HARD_FLAGS.values())):
            if not self._faults.get((n, code), False):
                continue
            if code == "node_offline":
                if not t.ever_seen:
                    return code, f"node at address {address} never answered"
                return code, f"node at address {address} silent for {t.missed * self.options.cycle_s:.0f} s"
            if code == "link":
                return code, f"RS485 bus {self.bus.describe()} down"[:50]
            if code == "second_master":
                return code, "another master is on the RS485 bus"
            return code, f"node at address {address}: {FLAG_TEXT.get(code, code)}"
        return None

    def fault_active(self, code: str, connector: int | None = None) -> bool:
        return any(on for (c, k), on in self._faults.items() if k == code and (connector is None or c == connector))


def _make_bus(clock: Clock, options: Rs485Options) -> Bus:
    if options.loopback is not None:
        return LoopbackBus(clock, options.loopback, baudrate=options.bus_baudrate, timeout_s=options.timeout_s)
    port = options.port
    if port.startswith("tcp://"):
        host, _, tcp_port = port[len("tcp://"):].rpartition(":")
        return PymodbusBus(clock, TcpTransport(host or "127.0.0.1", int(tcp_port or 502)), options.timeout_s)
    return PymodbusBus(clock, RtuTransport(port, options.bus_baudrate), options.timeout_s)
