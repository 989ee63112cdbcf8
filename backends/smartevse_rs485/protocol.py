"""The SmartEVSE load-balancing bus (RS485, Modbus RTU 9600 8N1) as pure functions (reference §4.1-4.3).

The master (address 1: this program) talks to up to 7 nodes (addresses 2..8, ``LoadBl`` 2..8 = node
1..7) and broadcasts to address 0x09, which every node listens to and none answers.  Everything here
is pure: a :class:`Request` says unit, function code, register and values; :func:`encode_request`
makes the RTU frame (address, PDU, CRC16 low byte first), :func:`decode_request` parses one, and
:func:`encode_response` / :func:`decode_response` do the same for the answers.  The builders name
the requests of the master's 2-s loop:

* :func:`status_read` -- FC04 0x0000, 8 registers (State, Error, ChargeCurrent, Mode, SolarTimer,
  Access, ConfigChanged, MaxCurrent) of one node, decoded by :meth:`NodeStatus.from_registers`;
* :func:`ev_meter_config_read` -- FC04 0x0108, 2 registers (EV meter type and address), then
  :func:`config_changed_clear` -- FC06 0x0006 = 0;
* :func:`state_write` -- FC16 0x0000, State + Error (+ ChargeCurrent 0, Mode, SolarTimer);
* :func:`access_write` -- FC06 0x0005 (0 OFF, 1 ON, 2 PAUSE);
* :func:`balanced_broadcast` -- FC16 to 0x09, 0x0020..0x002A: Balanced current of EVSE 0..7 (dA) and
  the mains Irms L1..L3 (dA, signed);
* :func:`system_config_broadcast` -- FC16 to 0x09, 0x0200.., the 22 system-configuration registers.

:func:`frame_time_s` and :func:`transaction_time_s` give the wire time of frames at a baud rate
(10 bits a character, 3.5 characters of silence after each frame), for the cycle budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# --------------------------------------------------------------------------- bus constants
MASTER_ADDRESS = 1
BROADCAST_ADDRESS = 0x09
NODE_ADDRESSES = tuple(range(2, 9))  # LoadBl 2..8 = Node 1..7
BAUDRATE = 9600

FC_READ_HOLDING = 0x03
FC_READ_INPUT = 0x04
FC_WRITE_SINGLE = 0x06
FC_WRITE_MULTIPLE = 0x10
READ_FUNCTIONS = (FC_READ_HOLDING, FC_READ_INPUT)

# status block 0x0000..0x000B
REG_STATE = 0x0000
REG_ERROR = 0x0001
REG_CURRENT = 0x0002
REG_MODE = 0x0003
REG_SOLAR_TIMER = 0x0004
REG_ACCESS = 0x0005
REG_CONFIG_CHANGED = 0x0006
REG_MAX_CURRENT = 0x0007
REG_TEMPERATURE = 0x000A
REG_SERIAL = 0x000B
STATUS_COUNT = 8
STATUS_BLOCK_SIZE = 12
# broadcast block
REG_BALANCED = 0x0020
BALANCED_SLOTS = 8  # EVSE 0 (master) .. 7
REG_MAINS_IRMS = 0x0028
BROADCAST_COUNT = 11
# node configuration 0x0100..0x0109
REG_NODE_CONFIG = 0x0100
NODE_CONFIG_COUNT = 10
REG_EV_METER_TYPE = 0x0108
REG_EV_METER_ADDRESS = 0x0109
# system configuration 0x0200..0x0215
REG_SYSTEM_CONFIG = 0x0200
SYSTEM_CONFIG_COUNT = 22

# states (reference §2.1)
STATE_A, STATE_B, STATE_C, STATE_D = 0, 1, 2, 3
STATE_COMM_B, STATE_COMM_B_OK, STATE_COMM_C, STATE_COMM_C_OK = 4, 5, 6, 7
STATE_ACTSTART, STATE_B1, STATE_C1 = 8, 9, 10
STATE_NAMES: dict[int, str] = {
    0: "A", 1: "B", 2: "C", 3: "D", 4: "COMM_B", 5: "COMM_B_OK", 6: "COMM_C", 7: "COMM_C_OK",
    8: "ACTSTART", 9: "B1", 10: "C1", 11: "MODEM_REQUEST", 12: "MODEM_WAIT", 13: "MODEM_DONE",
    14: "MODEM_DENIED",
}
#: A node state as the controller sees it (BoardStateReport).  COMM_B (the node asks to leave A)
#: drives no PWM yet: "B1" (EV present, EVSE not ready).  COMM_C is reported as "C" so that the
#: energy manager's "new EVSE joins" pass runs before the master grants COMM_C_OK.
STATE_LETTER: dict[int, str] = {
    0: "A", 1: "B", 2: "C", 3: "D", 4: "B1", 5: "B", 6: "C", 7: "C", 8: "B", 9: "B1", 10: "C1",
    11: "B", 12: "B", 13: "B", 14: "E",
}
CONTACTOR_CLOSED_STATES = frozenset({STATE_C, STATE_C1})

# error flags (reference §3.4)
LESS_6A, CT_NOCOMM, TEMP_HIGH, EV_NOCOMM = 1, 2, 4, 8
RCM_TRIPPED, RCM_TEST, TEST_IO, BL_FLASH = 16, 32, 64, 128
HARD_FLAGS: dict[int, str] = {
    CT_NOCOMM: "ct_nocomm", TEMP_HIGH: "temp_high", EV_NOCOMM: "ev_nocomm",
    RCM_TRIPPED: "rcm_tripped", TEST_IO: "test_io", BL_FLASH: "bl_flash",
}

# access (0x0005) and mode (0x0003)
ACCESS_OFF, ACCESS_ON, ACCESS_PAUSE = 0, 1, 2
MODE_NORMAL, MODE_SMART, MODE_SOLAR = 0, 1, 2

# RTU timing
BITS_PER_CHAR = 10  # start + 8 data + stop (8N1)
SILENCE_CHARS = 3.5


class FrameError(ValueError):
    """A frame that is not a valid RTU frame (length, CRC, function, byte count)."""


class ExceptionReply(Exception):
    """The slave answered a Modbus exception."""

    def __init__(self, unit: int, function: int, code: int) -> None:
        super().__init__(f"unit {unit}: function {function:#04x} answered exception code {code}")
        self.unit = unit
        self.function = function
        self.code = code


# --------------------------------------------------------------------------- requests
@dataclass(frozen=True, slots=True)
class Request:
    """One Modbus request: read ``count`` registers (FC03/04) or write ``values`` (FC06/16)."""

    unit: int
    function: int
    address: int
    count: int = 0
    values: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.unit <= 247:
            raise ValueError(f"unit: {self.unit} outside 1..247")
        if not 0 <= self.address <= 0xFFFF:
            raise ValueError(f"address: {self.address} outside 0..65535")
        if self.function in READ_FUNCTIONS:
            if not 1 <= self.count <= 125 or self.values:
                raise ValueError(f"read of {self.count} registers: count must be 1..125, no values")
        elif self.function == FC_WRITE_SINGLE:
            if len(self.values) != 1:
                raise ValueError("FC06 writes exactly one value")
        elif self.function == FC_WRITE_MULTIPLE:
            if not 1 <= len(self.values) <= 123:
                raise ValueError(f"FC16 writes 1..123 values, got {len(self.values)}")
        else:
            raise ValueError(f"function {self.function:#04x} is not used on this bus")
        for v in self.values:
            if not 0 <= v <= 0xFFFF:
                raise ValueError(f"register value {v} outside 0..65535 (use u16() for signed values)")

    @property
    def is_read(self) -> bool:
        return self.function in READ_FUNCTIONS

    @property
    def expects_reply(self) -> bool:
        """Writes to the broadcast address are not answered (reference §4.2)."""
        return self.unit != BROADCAST_ADDRESS

    @property
    def register_count(self) -> int:
        return self.count if self.is_read else len(self.values)


def u16(value: int) -> int:
    """A signed int16 as its register value (two's complement); clamps to the int16 range."""
    v = max(-32768, min(32767, int(value)))
    return v & 0xFFFF


def s16(register: int) -> int:
    """A register value read as a signed int16."""
    return register - 0x10000 if register & 0x8000 else register


def status_read(unit: int) -> Request:
    return Request(unit, FC_READ_INPUT, REG_STATE, STATUS_COUNT)


def ev_meter_config_read(unit: int) -> Request:
    return Request(unit, FC_READ_INPUT, REG_EV_METER_TYPE, 2)


def config_changed_clear(unit: int) -> Request:
    return Request(unit, FC_WRITE_SINGLE, REG_CONFIG_CHANGED, values=(0,))


def access_write(unit: int, access: int) -> Request:
    if access not in (ACCESS_OFF, ACCESS_ON, ACCESS_PAUSE):
        raise ValueError(f"access: {access} is not 0 OFF, 1 ON or 2 PAUSE")
    return Request(unit, FC_WRITE_SINGLE, REG_ACCESS, values=(access,))


def state_write(unit: int, state: int, error: int, *, mode: int | None = None,
                solar_timer: int | None = None) -> Request:
    """State + Error flags (2 registers); with ``mode`` / ``solar_timer`` also ChargeCurrent (0 = no
    override), Mode and the solar stop timer (5 registers), as the firmware master writes them."""
    if state not in STATE_NAMES:
        raise ValueError(f"state: {state} is not a SmartEVSE state code")
    values = [state, error & 0xFFFF]
    if mode is not None or solar_timer is not None:
        values += [0, MODE_NORMAL if mode is None else mode, solar_timer or 0]
    return Request(unit, FC_WRITE_MULTIPLE, REG_STATE, values=tuple(values))


def balanced_broadcast(balanced_da: Sequence[int], mains_da: Sequence[int]) -> Request:
    """Balanced current of EVSE 0..7 in dA (index = LoadBl - 1; index 0 is the master itself)
    and mains Irms L1..L3 in dA (signed), to 0x09 registers 0x0020..0x002A."""
    if len(balanced_da) != BALANCED_SLOTS:
        raise ValueError(f"balanced_da: {BALANCED_SLOTS} values (EVSE 0..7), got {len(balanced_da)}")
    if len(mains_da) != 3:
        raise ValueError(f"mains_da: 3 values (L1..L3), got {len(mains_da)}")
    for v in balanced_da:
        if not 0 <= v <= 0xFFFF:
            raise ValueError(f"balanced current {v} dA outside 0..65535")
    return Request(BROADCAST_ADDRESS, FC_WRITE_MULTIPLE, REG_BALANCED,
                   values=(*balanced_da, *(u16(m) for m in mains_da)))


@dataclass(frozen=True, slots=True)
class SystemConfig:
    """The system configuration block 0x0200..0x0215 (identical on every unit)."""

    mode: int = MODE_NORMAL
    max_circuit_a: int = 16
    grid: int = 0
    sb2_wifi: int = 0
    max_mains_a: int = 25
    start_current_a: int = 4
    stop_time_min: int = 10
    import_current_a: int = 0
    mains_meter_type: int = 0
    mains_meter_address: int = 10
    custom: tuple[int, ...] = (3, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 3)  # 0x020A..0x0215

    def registers(self) -> tuple[int, ...]:
        regs = (self.mode, self.max_circuit_a, self.grid, self.sb2_wifi, self.max_mains_a,
                self.start_current_a, self.stop_time_min, self.import_current_a,
                self.mains_meter_type, self.mains_meter_address, *self.custom)
        if len(regs) != SYSTEM_CONFIG_COUNT:
            raise ValueError(f"system configuration: {SYSTEM_CONFIG_COUNT} registers, got {len(regs)}")
        return regs

    @classmethod
    def from_registers(cls, regs: Sequence[int]) -> SystemConfig:
        if len(regs) != SYSTEM_CONFIG_COUNT:
            raise ValueError(f"system configuration: {SYSTEM_CONFIG_COUNT} registers, got {len(regs)}")
        r = list(regs)
        return cls(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], tuple(r[10:]))


def system_config_broadcast(config: SystemConfig) -> Request:
    return Request(BROADCAST_ADDRESS, FC_WRITE_MULTIPLE, REG_SYSTEM_CONFIG, values=config.registers())


# --------------------------------------------------------------------------- node status
@dataclass(frozen=True, slots=True)
class NodeStatus:
    """The 8 status registers a node answers to :func:`status_read`."""

    state: int
    error: int
    current_da: int
    mode: int
    solar_timer_s: int
    access: int
    config_changed: int
    max_current_a: int

    @classmethod
    def from_registers(cls, regs: Sequence[int]) -> NodeStatus:
        if len(regs) != STATUS_COUNT:
            raise FrameError(f"status block: {STATUS_COUNT} registers expected, got {len(regs)}")
        state = regs[0]
        if state not in STATE_NAMES:
            raise FrameError(f"status block: state {state} is not a SmartEVSE state code")
        return cls(state, regs[1], regs[2], regs[3], regs[4], regs[5], regs[6], regs[7])

    def registers(self) -> tuple[int, ...]:
        return (self.state, self.error, self.current_da, self.mode, self.solar_timer_s, self.access,
                self.config_changed, self.max_current_a)

    @property
    def state_name(self) -> str:
        return STATE_NAMES.get(self.state, str(self.state))


# --------------------------------------------------------------------------- RTU framing
def crc16(data: bytes) -> int:
    """Modbus CRC16 (polynomial 0xA001 reflected, initial 0xFFFF)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _with_crc(body: bytes) -> bytes:
    crc = crc16(body)
    return body + bytes((crc & 0xFF, crc >> 8))


def _regs_bytes(values: Sequence[int]) -> bytes:
    return b"".join(v.to_bytes(2, "big") for v in values)


def _check_crc(frame: bytes) -> bytes:
    if len(frame) < 4:
        raise FrameError(f"frame of {len(frame)} bytes is too short")
    body, crc = frame[:-2], frame[-2] | frame[-1] << 8
    if crc16(body) != crc:
        raise FrameError(f"CRC mismatch (got {crc:#06x}, computed {crc16(body):#06x})")
    return body


def encode_request(req: Request) -> bytes:
    """The RTU frame of a request: unit, function, PDU, CRC (low byte first)."""
    head = bytes((req.unit, req.function)) + req.address.to_bytes(2, "big")
    if req.is_read:
        return _with_crc(head + req.count.to_bytes(2, "big"))
    if req.function == FC_WRITE_SINGLE:
        return _with_crc(head + req.values[0].to_bytes(2, "big"))
    n = len(req.values)
    return _with_crc(head + n.to_bytes(2, "big") + bytes((2 * n,)) + _regs_bytes(req.values))


def decode_request(frame: bytes) -> Request:
    """Parse a request frame (what a node receives); raises FrameError."""
    body = _check_crc(frame)
    if len(body) < 6:
        raise FrameError(f"request PDU of {len(body)} bytes is too short")
    unit, function = body[0], body[1]
    address = int.from_bytes(body[2:4], "big")
    word = int.from_bytes(body[4:6], "big")
    try:
        if function in READ_FUNCTIONS:
            if len(body) != 6:
                raise FrameError(f"read request of {len(body)} bytes (6 expected)")
            return Request(unit, function, address, word)
        if function == FC_WRITE_SINGLE:
            if len(body) != 6:
                raise FrameError(f"FC06 request of {len(body)} bytes (6 expected)")
            return Request(unit, function, address, values=(word,))
        if function == FC_WRITE_MULTIPLE:
            if len(body) < 7 or body[6] != 2 * word or len(body) != 7 + 2 * word:
                raise FrameError(f"FC16 request: count {word}, byte count and length disagree")
            values = tuple(int.from_bytes(body[7 + 2 * i:9 + 2 * i], "big") for i in range(word))
            return Request(unit, function, address, values=values)
    except ValueError as exc:
        if isinstance(exc, FrameError):
            raise
        raise FrameError(str(exc)) from None
    raise FrameError(f"function {function:#04x} is not used on this bus")


def encode_response(req: Request, registers: Sequence[int] | None = None, *,
                    exception: int | None = None) -> bytes:
    """The slave's answer: the registers read, the echo of a write, or an exception."""
    if exception is not None:
        return _with_crc(bytes((req.unit, req.function | 0x80, exception)))
    if req.is_read:
        regs = list(registers or ())
        if len(regs) != req.count:
            raise ValueError(f"response: {req.count} registers expected, got {len(regs)}")
        return _with_crc(bytes((req.unit, req.function, 2 * req.count)) + _regs_bytes(regs))
    head = bytes((req.unit, req.function)) + req.address.to_bytes(2, "big")
    if req.function == FC_WRITE_SINGLE:
        return _with_crc(head + req.values[0].to_bytes(2, "big"))
    return _with_crc(head + len(req.values).to_bytes(2, "big"))


def decode_response(req: Request, frame: bytes) -> list[int]:
    """The registers of a read answer ([] for a write echo); raises FrameError / ExceptionReply."""
    body = _check_crc(frame)
    if body[0] != req.unit:
        raise FrameError(f"answer from unit {body[0]}, asked unit {req.unit}")
    if body[1] == req.function | 0x80:
        raise ExceptionReply(req.unit, req.function, body[2] if len(body) > 2 else 0)
    if body[1] != req.function:
        raise FrameError(f"answer with function {body[1]:#04x} to function {req.function:#04x}")
    if req.is_read:
        if len(body) != 3 + 2 * req.count or body[2] != 2 * req.count:
            raise FrameError(f"read answer of {len(body) - 3} data bytes, {2 * req.count} expected")
        return [int.from_bytes(body[3 + 2 * i:5 + 2 * i], "big") for i in range(req.count)]
    if body[2:] != encode_response(req)[2:-2]:
        raise FrameError("write echo does not match the request")
    return []


def response_length(req: Request) -> int:
    """Bytes of the normal answer frame (0 for a broadcast)."""
    if not req.expects_reply:
        return 0
    return 5 + 2 * req.count if req.is_read else 8


# --------------------------------------------------------------------------- timing
def frame_time_s(n_bytes: int, baudrate: int = BAUDRATE) -> float:
    """Wire time of a frame plus the 3.5-character silence that ends it."""
    return (n_bytes + SILENCE_CHARS) * BITS_PER_CHAR / baudrate


def transaction_time_s(req: Request, baudrate: int = BAUDRATE, turnaround_s: float = 0.0) -> float:
    """Request frame + (answer frame + the slave's turnaround) when one is expected."""
    t = frame_time_s(len(encode_request(req)), baudrate)
    answer = response_length(req)
    if answer:
        t += turnaround_s + frame_time_s(answer, baudrate)
    return t
