"""hal.Board for a SmartEVSE v4 mainboard (CH32) over its UART: we play the ESP32's role.

The CH32 owns the IEC 61851 state machine, the contactors and the lock (reference §1.3), so the
board reports ``owns_state_machine=True`` and translates in both directions:

HAL command -> CH32 line

* ``SetPilot(PWM, current_a)`` -> ``@SetCurrent:<dA>`` (current from the duty when current_a is 0;
  clamped to 6..80 A with a warning -- the CH32 never signals less than 6 A);
* ``SetPilot(CONSTANT)`` while the CH32 drives PWM (B, C) and ``RequestBoardState("C1"|"B1")``
  -> ``@setStatePowerUnavailable`` (C->C1, B->B1);
* ``SetPilot(OFF)`` -> ``@setPilot:0``; any other mode afterwards first sends ``@setPilot:1``;
* ``SetPilot(STATE_F)`` -> ``@setStatePowerUnavailable`` + ``@SetCPDuty:0`` (-12 V); the next
  other mode restores ``@SetCPDuty:1000`` first;
* ``SetPilot(ACTIVATE)`` (the activation pulse) -> ``@SetCPDuty:0`` alone (-12 V, no pause), restored
  like STATE_F.  The controller never sends it to this board: the CH32 runs its own ACTSTART (state
  8, reported as B) and the protocol has no setting for it;
* ``SetAuthorization(allowed)`` -> ``@Access:1|0`` (also the ``Access`` value of every config burst);
* ``SetContactors``: the CH32 switches them on state changes.  Opening while the CH32 holds them
  closed (C, C1) is honoured as ``@setStatePowerUnavailable``; closing outside C is logged
  (the CH32 will close them itself when it enters C);
* ``SetLock``: the CH32 drives the lock from its state (locked while not in A, per its ``Lock``
  setting); the request is logged, capabilities say ``has_lock=False``;
* ``Rcd.reset()`` -> ``@clearErrorFlags:16`` (the CH32 sets the flag again while the sensor still
  trips); ``Rcd.self_test()`` only logs: the CH32 tests the RCM itself on every entry to C.

CH32 line -> HAL events

* ``@State:n.`` -> BoardStateReport (codes 0..10 -> A B C D B B C C B B1 C1; 11..13 B, 14 E, 255 F)
  and ContactorFeedback when it changes (closed in C and C1; C2 unless 1-phase charging).  One
  refinement: the CH32 keeps state A (code 0) with an EV plugged in while access is off (it leaves
  A on 9 V only with access ON, reference §2.4); with the last ``@Pilot`` at 9/6/3 V that is
  reported as "B1" (EV present, EVSE not ready), so the controller sees the EV and can authorise;
* ``@Pilot:n`` -> PilotReading, ``@Pilot:1`` -> DiodeReading(present=True);
* ``@ErrorFlags:n`` -> BoardFault per hard flag (``ct_nocomm``, ``temp_high``, ``ev_nocomm``,
  ``rcm_tripped``, ``test_io``, ``bl_flash``) + RcdReading for RCM_TRIPPED + MeterStatus for
  CT/EV_NOCOMM; a newly set hard flag also writes ``@setStatePowerUnavailable`` at once.
  LESS_6A (waiting for current) and RCM_TEST (self-test running) are not faults;
* ``@Temp:n`` -> TemperatureReading (above ``maxTemp`` it also writes the safe-state request at
  once, ahead of the CH32's TEMP_HIGH flag a second later);
* ``@Irms``/``@PowerMeasured``/energy counters -> MeterReading, one per meter for the lines that
  arrive within 20 ms of each other (EV meter address -> connector 1, mains meter address -> connector 0; others ignored);
  with ``external_ev_meter`` (a host-read Modbus EV meter configured) connector 1's readings and
  EV_NOCOMM statuses are not forwarded: the host's meter is the one the transactions use;
* ``@RFID:hex`` -> RfidPresented (the same card within 3 s is reported once);
* ``@Access``/``@Mode``/``@OverrideCurrent`` requests from the CH32: the ESP32 owns these values;
  we log the request and echo our value back (the controller / OCPP decide access, not the switch);
  ``@ExtSwitch`` is logged;
* ``@!Panic`` -> BoardFault(0, "panic") + safe-state request; cleared by ``@MSG:Power restored``,
  the next ``@State`` report or a new handshake;
* link watchdog -> BoardFault(0, "link") + safe-state request, cleared after the reconnection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from backends.smartevse.link import LinkSettings, SerialLink
from backends.smartevse.options import SmartEvseOptions
from backends.smartevse.protocol import (
    CONTACTOR_CLOSED_STATES,
    CT_NOCOMM,
    EV_NOCOMM,
    HARD_FLAGS,
    LESS_6A,
    PILOT_DIODE,
    RCM_TEST,
    RCM_TRIPPED,
    STATE_LETTER,
    Message,
    current_for_duty,
)
from hal.clock import Clock, TimerHandle
from hal.types import (
    BoardCapabilities,
    BoardFault,
    BoardState,
    BoardStateReport,
    ContactorFeedback,
    DiodeReading,
    HalCommand,
    HalEvent,
    MeterReading,
    MeterStatus,
    PilotLevel,
    PilotMode,
    PilotReading,
    RcdReading,
    RequestBoardState,
    RfidPresented,
    SetAuthorization,
    SetContactors,
    SetLock,
    SetPilot,
    TemperatureReading,
)

log = logging.getLogger(__name__)

PILOT_LEVELS: dict[int, PilotLevel] = {
    12: PilotLevel.V12,
    9: PilotLevel.V9,
    6: PilotLevel.V6,
    3: PilotLevel.V3,
    255: PilotLevel.SHORT,
    0: PilotLevel.NOK,
}
#: CH32 states in which it drives PWM (B, COMM_B_OK, COMM_C, COMM_C_OK, C, ACTSTART).
PWM_STATES = frozenset({1, 2, 5, 6, 7, 8})
#: Pilot codes that mean an EV is connected (9 V, 6 V, 3 V).
EV_PRESENT_PILOT = frozenset({9, 6, 3})
RFID_REPEAT_S = 3.0
#: Meter lines arriving within this window after the first one make one MeterReading.
METER_COALESCE_S = 0.02
#: start() waits this long after the handshake for the CH32's first @State report.
FIRST_STATE_WAIT_S = 0.5


@dataclass
class _MeterAcc:
    currents_da: tuple[int, int, int] | None = None
    power_w: int | None = None
    import_wh: int | None = None
    energy_wh: int | None = None
    export_wh: int | None = None


@dataclass
class BoardStatus:
    """Shadow of the CH32's variables plus counters (for logs, the local API and tests)."""

    state_code: int | None = None
    error_flags: int = 0
    temperature_c: int | None = None
    shadow: dict[str, Any] = field(default_factory=dict)
    safe_state_requests: int = 0
    last_safe_state_at: float | None = None
    last_safe_state_reason: str = ""
    rejected: int = 0  # messages with out-of-range values


class _Pilot:
    def __init__(self, board: SmartEvseV4Board) -> None:
        self._b = board

    async def set_pilot(self, mode: PilotMode, duty_permille: int, current_a: float) -> None:
        self._b.set_pilot(mode, duty_permille, current_a)


class _Contactors:
    def __init__(self, board: SmartEvseV4Board) -> None:
        self._b = board

    async def set_contactors(self, c1: bool, c2: bool) -> None:
        self._b.set_contactors(c1, c2)


class _Lock:
    def __init__(self, board: SmartEvseV4Board) -> None:
        self._b = board

    async def set_locked(self, locked: bool) -> None:
        self._b.set_lock(locked)


class _Meter:
    def __init__(self, board: SmartEvseV4Board) -> None:
        self._b = board

    def latest(self) -> MeterReading | None:
        return self._b.latest_meter(1)


class _Rcd:
    def __init__(self, board: SmartEvseV4Board) -> None:
        self._b = board

    async def self_test(self) -> None:
        log.info("RCM self-test: the CH32 runs it by itself on every entry to state C (15 s window); "
                 "there is no command for it on the v4 serial link")

    async def reset(self) -> None:
        self._b.send("clearErrorFlags", RCM_TRIPPED)


@dataclass
class _Connector:
    pilot: Any
    contactors: Any
    lock: Any
    meter: Any
    rcd: Any


class SmartEvseV4Board:
    """The SmartEVSE v4 mainboard behind a UART (see the module docstring for the mapping)."""

    def __init__(self, clock: Clock, options: SmartEvseOptions) -> None:
        self.clock = clock
        self.options = options
        cfg = options.config
        self.capabilities = BoardCapabilities(
            connectors=1,
            max_current_a=min(options.hardware_max_current_a, float(cfg["MaxCurrent"])),
            phases=1 if cfg["EnableC2"] == 1 else 3,
            has_lock=False,
            has_c2=cfg["EnableC2"] != 0,
            has_rcd=options.rcmon,
            has_meter=cfg["EVMeterType"] != 0,
            has_temperature=True,
            fixed_cable=cfg["Config"] == 1,
            owns_state_machine=True,
            extra={"board": "smartevse-v4", "lock": "ch32" if cfg["Lock"] else "none",
                   "port": options.port},
        )
        self.status = BoardStatus()
        self._queue: asyncio.Queue[HalEvent] = asyncio.Queue()
        self._faults: dict[tuple[int, str], bool] = {}
        self._access = 0
        self._current_da: int | None = None
        self._pilot_off = False
        self._pilot_f = False
        self._contactors: tuple[bool, bool] | None = None
        self._nr_phases = 1 if cfg["EnableC2"] == 1 else 3
        self._meters: dict[int, _MeterAcc] = {}
        self._dirty: set[int] = set()
        self._latest: dict[int, MeterReading] = {}
        self._last_rfid: tuple[str, float] | None = None
        self._unknown_meter_logged: set[int] = set()
        self._connector = _Connector(
            pilot=_Pilot(self), contactors=_Contactors(self),
            lock=_Lock(self) if cfg["Lock"] else None,
            meter=_Meter(self) if cfg["EVMeterType"] else None,
            rcd=_Rcd(self) if options.rcmon else None,
        )
        self.link = SerialLink(
            clock,
            LinkSettings(port=options.port, baudrate=options.baudrate, watchdog_s=options.watchdog_s),
            config_burst=lambda: options.burst(self._access),
            rcmon=options.rcmon,
            on_message=self._on_message,
            on_up=self._on_link_up,
            on_down=self._on_link_down,
        )
        self._meter_flush_handle: TimerHandle | None = None
        self._state_seen = asyncio.Event()
        self._pilot_code: int | None = None
        self._reported_letter: BoardState | None = None

    # ------------------------------------------------------------------ hal.Board
    async def start(self) -> None:
        """Open the port and do the handshake (up to ``start_timeout_s``), then wait briefly for the
        CH32's first ``@State`` so the initial readings are queued when this returns.  Without a
        handshake it returns anyway with BoardFault(link) active and keeps trying."""
        await self.link.start()
        if not await self.link.wait_up(self.options.start_timeout_s):
            detail = self.link.stats.last_error or "no handshake with the CH32"
            log.error("SmartEVSE v4 board not ready after %.1f s: %s (still trying)",
                      self.options.start_timeout_s, detail)
            self._set_fault(0, "link", True, detail)
            return
        with contextlib.suppress(TimeoutError):
            await self.clock.wait_for(self._state_seen.wait(), FIRST_STATE_WAIT_S)

    async def close(self) -> None:
        if self._meter_flush_handle is not None:
            self._meter_flush_handle.cancel()
            self._meter_flush_handle = None
        await self.link.close()

    def connector(self, number: int) -> _Connector:
        if number != 1:
            raise ValueError(f"SmartEVSE v4 has one connector; connector {number} does not exist")
        return self._connector

    async def events(self) -> AsyncIterator[HalEvent]:
        while True:
            yield await self._queue.get()

    async def request_state(self, connector: int, state: str) -> None:
        self.request_board_state(state)

    async def execute(self, command: HalCommand) -> None:
        """Run any HAL command (the runtime may use this instead of the part interfaces)."""
        if isinstance(command, SetPilot):
            self.set_pilot(command.mode, command.duty_permille, command.current_a)
        elif isinstance(command, SetContactors):
            self.set_contactors(command.c1, command.c2)
        elif isinstance(command, SetLock):
            self.set_lock(command.locked)
        elif isinstance(command, SetAuthorization):
            self.set_access(command.allowed)
        elif isinstance(command, RequestBoardState):
            self.request_board_state(command.state)
        else:
            log.error("SmartEVSE v4 board cannot execute %r", command)

    async def set_authorization(self, connector: int, allowed: bool) -> None:
        """SetAuthorization (what the Station calls): the access bit of the CH32."""
        self.connector(connector)
        self.set_access(allowed)

    # ------------------------------------------------------------------ commands (sync: write now)
    def send(self, key: str, value: int | None = None) -> bool:
        return self.link.send(key, value)

    def set_pilot(self, mode: PilotMode, duty_permille: int = 1000, current_a: float = 0.0) -> None:
        if mode is PilotMode.OFF:
            self._pilot_off = True
            self.send("setPilot", 0)
            return
        if self._pilot_off:
            self._pilot_off = False
            self.send("setPilot", 1)
        if self._pilot_f and mode not in (PilotMode.STATE_F, PilotMode.ACTIVATE):
            self._pilot_f = False
            self.send("SetCPDuty", 1000)
        if mode is PilotMode.PWM:
            amps = current_a if current_a and current_a > 0 else current_for_duty(duty_permille)
            if not math.isfinite(amps) or amps <= 0:
                log.error("SetPilot(PWM): neither current_a=%r nor duty_permille=%r encodes a current; ignored",
                          current_a, duty_permille)
                return
            da = round(amps * 10)
            if not 60 <= da <= 800:
                clamped = min(max(da, 60), 800)
                log.warning("SetPilot(PWM): current_a=%.1f A outside 6..80 A, sending %.1f A", amps, clamped / 10)
                da = clamped
            self._current_da = da
            self.send("SetCurrent", da)
        elif mode is PilotMode.CONSTANT:
            if self.status.state_code in PWM_STATES or self.status.state_code is None:
                self._safe_state("pilot PWM withdrawn (SetPilot CONSTANT)")
        elif mode is PilotMode.STATE_F:
            self._pilot_f = True
            self._safe_state("state F requested")
            self.send("SetCPDuty", 0)
        elif mode is PilotMode.ACTIVATE:
            self._pilot_f = True  # -12 V (0 % duty) without a pause; the next mode restores the duty
            self.send("SetCPDuty", 0)

    def set_contactors(self, c1: bool, c2: bool) -> None:
        closed = self.status.state_code in CONTACTOR_CLOSED_STATES
        if not c1 and closed:
            self._safe_state("contactors commanded open")
        elif c1 and not closed:
            log.info("SetContactors(closed) outside C: the CH32 closes them itself on entering C "
                     "(CH32 state %s)", self.status.state_code)
        else:
            log.debug("SetContactors(%s, %s) consistent with CH32 state %s", c1, c2, self.status.state_code)

    def set_lock(self, locked: bool) -> None:
        log.debug("SetLock(%s): the CH32 drives the lock from its state (locked while not in A); not sent",
                  locked)

    def set_access(self, allowed: bool) -> None:
        if (1 if allowed else 0) != self._access:
            log.info("access %s", "ON" if allowed else "OFF")
        self._access = 1 if allowed else 0
        self.send("Access", self._access)

    def request_board_state(self, state: str) -> None:
        if state in (BoardState.C1, BoardState.B1):
            self._safe_state(f"state {state} requested")
        elif state == BoardState.A:
            self.send("State", 0)
        elif state == BoardState.F:
            self.set_pilot(PilotMode.STATE_F)
        else:
            log.error("RequestBoardState(%r): the CH32 only accepts requests for A, B1, C1 or F", state)

    def latest_meter(self, connector: int) -> MeterReading | None:
        return self._latest.get(connector)

    # ------------------------------------------------------------------ helpers
    def _emit(self, event: HalEvent) -> None:
        self._queue.put_nowait(event)

    def _set_fault(self, connector: int, code: str, active: bool, detail: str = "") -> None:
        if self._faults.get((connector, code), False) == active:
            return
        self._faults[(connector, code)] = active
        (log.error if active else log.info)("board fault %s %s%s", code, "ACTIVE" if active else "cleared",
                                            f": {detail}" if detail else "")
        self._emit(BoardFault(connector, code, active, detail))

    def fault_active(self, code: str, connector: int | None = None) -> bool:
        return any(on for (c, k), on in self._faults.items() if k == code and (connector is None or c == connector))

    def _safe_state(self, reason: str) -> None:
        self.status.safe_state_requests += 1
        self.status.last_safe_state_at = self.clock.monotonic()
        self.status.last_safe_state_reason = reason
        if not self.send("setStatePowerUnavailable"):
            log.warning("safe-state request (%s) not sent: port closed", reason)
        else:
            log.info("safe state requested: %s (CH32 state %s)", reason, self.status.state_code)

    # ------------------------------------------------------------------ link callbacks
    def _on_link_up(self) -> None:
        self._set_fault(0, "panic", False)
        self._set_fault(0, "link", False)
        if self._pilot_off:
            self.send("setPilot", 0)
        if self._current_da is not None:
            self.send("SetCurrent", self._current_da)

    def _on_link_down(self, reason: str) -> None:
        self._set_fault(0, "link", True, reason)
        self._safe_state(f"link lost: {reason}")

    # ------------------------------------------------------------------ messages
    def _on_message(self, msg: Message) -> None:
        log.debug("CH32 -> %s:%s", msg.key, msg.value)
        key = msg.key
        handler = _HANDLERS.get(key)
        if handler is not None:
            handler(self, msg)
        elif key in ("version", "Config"):
            pass  # handshake, handled by the link
        else:
            self.status.shadow[key] = msg.value

    def _reject(self, msg: Message, why: str) -> None:
        self.status.rejected += 1
        log.warning("ignored @%s:%s from the CH32: %s", msg.key, msg.value, why)

    def _h_state(self, msg: Message) -> None:
        code = msg.as_int()
        letter = STATE_LETTER.get(code)
        if letter is None:
            self._reject(msg, "unknown state code")
            return
        self._set_fault(0, "panic", False)
        log.debug("CH32 state %s (%s)", code, letter)
        self.status.state_code = code
        self._state_seen.set()
        self._report_state(force=True)
        self._update_contactors()

    def _report_state(self, force: bool = False) -> None:
        """BoardStateReport from the CH32 state, refined by the pilot: the CH32 stays in its state A
        (code 0) with an EV connected while access is off; the IEC state is then B1 (EV present,
        no PWM, contactors open), which is what the controller needs to see to authorise."""
        code = self.status.state_code
        if code is None:
            return
        letter = STATE_LETTER[code]
        if code == 0 and self._pilot_code in EV_PRESENT_PILOT:
            letter = BoardState.B1
        if force or letter != self._reported_letter:
            self._reported_letter = letter
            self._emit(BoardStateReport(1, letter))

    def _update_contactors(self) -> None:
        if self.status.state_code is None:
            return
        c1 = self.status.state_code in CONTACTOR_CLOSED_STATES
        c2 = c1 and self._nr_phases != 1
        if (c1, c2) != self._contactors:
            self._contactors = (c1, c2)
            self._emit(ContactorFeedback(1, c1, c2))

    def _h_phases(self, msg: Message) -> None:
        n = msg.as_int()
        if n not in (1, 3):
            self._reject(msg, "phases must be 1 or 3")
            return
        self._nr_phases = n
        self.status.shadow["Nr_Of_Phases_Charging"] = n
        self._update_contactors()

    def _h_pilot(self, msg: Message) -> None:
        code = msg.as_int()
        if code == PILOT_DIODE:
            self._emit(DiodeReading(1, True))
            return
        level = PILOT_LEVELS.get(code)
        if level is None:
            self._reject(msg, "unknown pilot code")
            return
        self._pilot_code = code
        self._emit(PilotReading(1, level))
        self._report_state()

    def _h_error_flags(self, msg: Message) -> None:
        new = msg.as_int()
        if not 0 <= new <= 0xFFFF:
            self._reject(msg, "error flags outside 0..65535")
            return
        old, self.status.error_flags = self.status.error_flags, new
        changed = old ^ new
        if not changed:
            return
        rising_hard = False
        for bit, code in HARD_FLAGS.items():
            if changed & bit:
                active = bool(new & bit)
                rising_hard |= active
                self._set_fault(1, code, active, f"CH32 ErrorFlags={new}")
                if bit == RCM_TRIPPED:
                    self._emit(RcdReading(1, active))
                elif bit == CT_NOCOMM:
                    self._emit(MeterStatus(0, not active, "mains meter: no reading (CH32 CT_NOCOMM)"))
                elif bit == EV_NOCOMM and not self.options.external_ev_meter:
                    self._emit(MeterStatus(1, not active, "EV meter: no reading (CH32 EV_NOCOMM)"))
        if changed & LESS_6A:
            log.info("CH32 %s LESS_6A (waiting for enough current)", "set" if new & LESS_6A else "cleared")
        if changed & RCM_TEST:
            log.info("CH32 RCM self-test %s", "running" if new & RCM_TEST else "finished")
        if rising_hard:
            self._safe_state(f"CH32 error flags {new}")

    def _h_temp(self, msg: Message) -> None:
        t = msg.as_int()
        if not -60 <= t <= 200:
            self._reject(msg, "temperature outside -60..200 C")
            return
        previous, self.status.temperature_c = self.status.temperature_c, t
        self._emit(TemperatureReading(1, float(t)))
        limit = self.options.config["maxTemp"]
        if t > limit and (previous is None or previous <= limit):
            # the CH32 raises TEMP_HIGH at its next 1 s tick; stop the energy now
            self._safe_state(f"temperature {t} C above maxTemp {limit} C")

    def _meter_for(self, msg: Message) -> tuple[int, _MeterAcc] | None:
        values = msg.as_ints()
        address = values[0]
        cfg = self.options.config
        if address == cfg["EVMeterAddress"]:
            connector = 1
        elif address == cfg["MainsMAddress"]:
            connector = 0
        else:
            if address not in self._unknown_meter_logged:
                self._unknown_meter_logged.add(address)
                log.info("CH32 reports a meter at address %d, which is neither the EV nor the mains meter", address)
            return None
        self._dirty.add(connector)
        if self._meter_flush_handle is None:
            # The CH32 sends a meter's lines one after another; collect them into one reading.
            self._meter_flush_handle = self.clock.call_later(METER_COALESCE_S, self._flush_meters)
        return connector, self._meters.setdefault(connector, _MeterAcc())

    def _h_meter(self, msg: Message) -> None:
        found = self._meter_for(msg)
        if found is None:
            return
        _, acc = found
        values = msg.as_ints()
        if msg.key == "Irms":
            acc.currents_da = (values[1], values[2], values[3])
        elif msg.key == "PowerMeasured":
            acc.power_w = values[1]
        elif msg.key == "Import_active_energy":
            acc.import_wh = values[1]
        elif msg.key == "Export_active_energy":
            acc.export_wh = values[1]
        elif msg.key == "Energy":
            acc.energy_wh = values[1]
        else:  # EnergyCharged / EnergyMeterStart: session bookkeeping of the CH32
            self.status.shadow[f"{msg.key}:{values[0]:03d}"] = values[1]

    def _flush_meters(self) -> None:
        self._meter_flush_handle = None
        if not self._dirty:
            return
        v = self.options.nominal_voltage_v
        for connector in sorted(self._dirty):
            acc = self._meters[connector]
            if acc.currents_da is None and acc.power_w is None:
                continue
            currents = tuple(c / 10.0 for c in (acc.currents_da or (0, 0, 0)))
            power = float(acc.power_w) if acc.power_w is not None else sum(currents) * v
            energy = acc.import_wh if acc.import_wh is not None else acc.energy_wh
            reading = MeterReading(
                connector=connector,
                voltage_v=(v, v, v),
                current_a=(currents[0], currents[1], currents[2]),
                power_w=power,
                energy_import_wh=float(energy or 0),
                energy_export_wh=float(acc.export_wh or 0),
            )
            self._latest[connector] = reading
            if connector == 1 and self.options.external_ev_meter:
                # the host's own EV meter (backends.modbus) is the one the station uses
                self.status.shadow["ch32_ev_meter"] = reading
                continue
            self._emit(reading)
        self._dirty.clear()

    def _h_rfid(self, msg: Message) -> None:
        tag = str(msg.value)
        now = self.clock.monotonic()
        if self._last_rfid and self._last_rfid[0] == tag and now - self._last_rfid[1] < RFID_REPEAT_S:
            self._last_rfid = (tag, now)
            return
        self._last_rfid = (tag, now)
        self._emit(RfidPresented(1, tag))

    def _h_access(self, msg: Message) -> None:
        log.info("CH32 requests access %s (external switch); access follows the controller: echoing %d",
                 msg.value, self._access)
        self.send("Access", self._access)

    def _h_mode(self, msg: Message) -> None:
        ours = self.options.config["Mode"]
        log.info("CH32 requests mode %s; the configured mode is %d: echoing it", msg.value, ours)
        self.send("Mode", ours)

    def _h_override(self, msg: Message) -> None:
        ours = self.options.config["OverrideCurrent"]
        log.info("CH32 requests OverrideCurrent %s dA; keeping %d", msg.value, ours)
        self.send("OverrideCurrent", ours)

    def _h_ext_switch(self, msg: Message) -> None:
        self.status.shadow["ExtSwitch"] = msg.value
        log.info("external switch %s", "pressed" if msg.value else "released")

    def _h_panic(self, msg: Message) -> None:
        self._set_fault(0, "panic", True, "CH32 reports mains power lost (@!Panic)")
        self._safe_state("power panic")

    def _h_log(self, msg: Message) -> None:
        text = str(msg.value)
        log.info("CH32: %s", text)
        if "power restored" in text.lower():
            self._set_fault(0, "panic", False)


_HANDLERS = {
    "State": SmartEvseV4Board._h_state,
    "Nr_Of_Phases_Charging": SmartEvseV4Board._h_phases,
    "Pilot": SmartEvseV4Board._h_pilot,
    "ErrorFlags": SmartEvseV4Board._h_error_flags,
    "Temp": SmartEvseV4Board._h_temp,
    "Irms": SmartEvseV4Board._h_meter,
    "PowerMeasured": SmartEvseV4Board._h_meter,
    "Energy": SmartEvseV4Board._h_meter,
    "EnergyMeterStart": SmartEvseV4Board._h_meter,
    "EnergyCharged": SmartEvseV4Board._h_meter,
    "Import_active_energy": SmartEvseV4Board._h_meter,
    "Export_active_energy": SmartEvseV4Board._h_meter,
    "RFID": SmartEvseV4Board._h_rfid,
    "Access": SmartEvseV4Board._h_access,
    "Mode": SmartEvseV4Board._h_mode,
    "OverrideCurrent": SmartEvseV4Board._h_override,
    "ExtSwitch": SmartEvseV4Board._h_ext_switch,
    "!Panic": SmartEvseV4Board._h_panic,
    "MSG": SmartEvseV4Board._h_log,
}
