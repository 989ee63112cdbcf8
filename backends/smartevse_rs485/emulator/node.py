"""One emulated SmartEVSE node (LoadBl 2..8): its side of the master <-> node protocol, pure.

The node's state machine follows reference §2.4 for a node: A -(9 V, no error, no ChargeDelay,
access ON)-> COMM_B; the master writes COMM_B_OK -> B (PWM at its balanced current); 6 V for more
than 500 ms -> COMM_C; the master writes COMM_C_OK -> C (contactors closed).  C -(9 V)-> B,
-(12 V)-> A, -(broadcast current 0)-> C1 (PWM withdrawn, 6 s) -> B1.  Every second: error flags
set -> power unavailable (C -> C1, others -> B1), LESS_6A re-arms a 60 s ChargeDelay; no master
broadcast for 11 s -> CT_NOCOMM (the node's own safe state); temperature above maxTemp -> TEMP_HIGH.

Registers (reference §4.2): the status block 0x0000..0x000B (writes to State call setState, Error
replaces the flags, Access OFF/PAUSE pauses), the node configuration 0x0100..0x0109 (a change sets
ConfigChanged), the system configuration 0x0200..0x0215 and the broadcast block 0x0020..0x002A.
Illegal register -> exception 2, bad value -> exception 3.  Time is passed in (``now``, seconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from backends.smartevse_rs485.protocol import (
    ACCESS_ON,
    BROADCAST_COUNT,
    CT_NOCOMM,
    LESS_6A,
    NODE_CONFIG_COUNT,
    RCM_TRIPPED,
    REG_BALANCED,
    REG_NODE_CONFIG,
    REG_SYSTEM_CONFIG,
    STATE_A,
    STATE_ACTSTART,
    STATE_B,
    STATE_B1,
    STATE_C,
    STATE_C1,
    STATE_COMM_B,
    STATE_COMM_B_OK,
    STATE_COMM_C,
    STATE_COMM_C_OK,
    STATE_NAMES,
    STATUS_BLOCK_SIZE,
    SYSTEM_CONFIG_COUNT,
    TEMP_HIGH,
    SystemConfig,
    s16,
    u16,
)

ILLEGAL_ADDRESS = 2
ILLEGAL_VALUE = 3
MASTER_TIMEOUT_S = 11.0
B_TO_C_DEBOUNCE_S = 0.5
C1_TIMEOUT_S = 6.0
CHARGE_DELAY_S = 60.0
BOOT_S = 3.0
#: States in which the node drives PWM.
PWM_STATES = frozenset({STATE_B, STATE_COMM_B_OK, STATE_COMM_C, STATE_COMM_C_OK, STATE_C, STATE_ACTSTART})


class RegisterError(Exception):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(detail)
        self.code = code


@dataclass
class EmulatedEv:
    plugged: bool = False
    requesting: bool = True  # asks for energy (6 V) once it sees PWM
    max_current_a: float = 16.0
    phases: int = 3


class NodeFirmware:
    """A SmartEVSE configured as node ``address - 1`` (LoadBl = address)."""

    def __init__(self, address: int, *, max_current_a: int = 16, min_current_a: int = 6,
                 ev_meter_type: int = 0, ev_meter_address: int | None = None, max_temp_c: int = 65,
                 ev: EmulatedEv | None = None, now: float = 0.0) -> None:
        if not 2 <= address <= 8:
            raise ValueError(f"node address {address} outside 2..8")
        self.address = address
        self.ev = ev or EmulatedEv()
        self.max_temp_c = max_temp_c
        # node configuration 0x0100..0x0109
        self.node_config = [0, 0, min_current_a, max_current_a, address, 0, 0, 0, ev_meter_type,
                            ev_meter_address if ev_meter_address is not None else 10 + address]
        self.system = SystemConfig()
        self.temperature_c = 25
        self.rcm_fault = False
        self.serial = 10000 + address
        self.transitions: list[tuple[float, int, int]] = []
        self.broadcasts = 0
        self.boot(now)

    # ------------------------------------------------------------------ lifecycle
    def boot(self, now: float) -> None:
        """Power-on (also a reboot): state A, no flags, access ON, ConfigChanged set."""
        self.state = STATE_A
        self.error = 0
        self.balanced_da = 0
        self.mode = 0
        self.solar_timer = 0
        self.access = ACCESS_ON
        self.config_changed = 1
        self.mains_da = (0, 0, 0)
        self.charge_delay_until = 0.0
        self.c1_until: float | None = None
        self.six_v_since: float | None = None
        self.master_seen_at = now
        self.booting_until = now + BOOT_S if self.transitions else now
        self._last_second = now

    # ------------------------------------------------------------------ derived
    @property
    def min_current_a(self) -> int:
        return self.node_config[2]

    @property
    def max_current_a(self) -> int:
        return self.node_config[3]

    @property
    def ev_meter_type(self) -> int:
        return self.node_config[8]

    @property
    def ev_meter_address(self) -> int:
        return self.node_config[9]

    def pilot(self) -> int:
        if not self.ev.plugged:
            return 12
        return 6 if self.ev.requesting and self.state in PWM_STATES else 9

    def pwm_current_a(self) -> float:
        if self.state not in PWM_STATES:
            return 0.0
        da = self.balanced_da or self.min_current_a * 10
        return min(da / 10.0, float(self.max_current_a))

    def drawn_a(self) -> float:
        """What the EV draws per phase: in C, the PWM current up to its on-board charger's limit."""
        if self.state != STATE_C:
            return 0.0
        return min(self.pwm_current_a(), self.ev.max_current_a)

    @property
    def contactors_closed(self) -> bool:
        return self.state in (STATE_C, STATE_C1)

    # ------------------------------------------------------------------ state machine
    def set_state(self, new: int, now: float) -> None:
        old = self.state
        if new == STATE_A:
            self.error &= ~LESS_6A
            self.charge_delay_until = 0.0
            self.balanced_da = 0
        elif new == STATE_B1:
            if self.charge_delay_until <= now:
                self.charge_delay_until = now + 3.0
        elif new == STATE_C1:
            self.c1_until = now + C1_TIMEOUT_S
            self.charge_delay_until = now + 15.0
        elif new == STATE_B:
            self.six_v_since = now if self.pilot() == 6 else None
        if new != STATE_C1:
            self.c1_until = None
        self.state = new
        if new != old:
            self.transitions.append((now, old, new))

    def _ready(self, now: float) -> bool:
        return self.error == 0 and now >= self.charge_delay_until and self.access == ACCESS_ON

    def step(self, now: float) -> None:
        """Evaluate the pilot-driven transitions until nothing changes."""
        for _ in range(6):
            before = self.state
            self._step_once(now)
            if self.state == before:
                return

    def _step_once(self, now: float) -> None:
        s, p = self.state, self.pilot()
        if s in (STATE_A, STATE_B1, STATE_COMM_B):
            if p == 12:
                if s != STATE_A:
                    self.set_state(STATE_A, now)
            elif s != STATE_COMM_B and self._ready(now):
                self.set_state(STATE_COMM_B, now)
            elif s == STATE_A and self.access == ACCESS_ON:
                self.set_state(STATE_B1, now)
        elif s == STATE_COMM_B_OK:
            self.set_state(STATE_B, now)
        elif s == STATE_COMM_C_OK:
            self.set_state(STATE_C, now)
        elif s in (STATE_B, STATE_COMM_C, STATE_ACTSTART):
            if p == 12:
                self.set_state(STATE_A, now)
            elif p == 6 and s == STATE_B:
                if self.six_v_since is None:
                    self.six_v_since = now
                elif now - self.six_v_since > B_TO_C_DEBOUNCE_S and self._ready(now):
                    self.six_v_since = None
                    self.set_state(STATE_COMM_C, now)
            elif p == 9:
                self.six_v_since = None
        elif s == STATE_C:
            if p == 12:
                self.set_state(STATE_A, now)
            elif p == 9:
                self.set_state(STATE_B, now)
        elif s == STATE_C1:
            if p == 12:
                self.set_state(STATE_A, now)
            elif p == 9 or (self.c1_until is not None and now >= self.c1_until):
                self.set_state(STATE_B1, now)

    def power_unavailable(self, now: float) -> None:
        if self.state == STATE_C:
            self.set_state(STATE_C1, now)
        elif self.state not in (STATE_A, STATE_B1, STATE_C1):
            self.set_state(STATE_B1, now)

    def tick(self, now: float) -> None:
        """The 10 ms / 100 ms handlers (pilot) on every call, the 1 s handler once a second."""
        self.step(now)
        while now - self._last_second >= 1.0:
            self._last_second += 1.0
            self._second(now)
        self.step(now)

    def _second(self, now: float) -> None:
        if now - self.master_seen_at > MASTER_TIMEOUT_S:
            self.error |= CT_NOCOMM
        if self.temperature_c > self.max_temp_c:
            self.error |= TEMP_HIGH
        elif self.temperature_c < self.max_temp_c - 10:
            self.error &= ~TEMP_HIGH
        if self.rcm_fault:
            self.error |= RCM_TRIPPED
        if self.error & LESS_6A:
            self.charge_delay_until = now + CHARGE_DELAY_S
        if self.error:
            self.power_unavailable(now)

    # ------------------------------------------------------------------ registers
    def status_registers(self) -> list[int]:
        return [self.state, self.error, self.balanced_da, self.mode, self.solar_timer, self.access,
                self.config_changed, min(self.max_current_a, 80), 0, 0, u16(self.temperature_c),
                self.serial & 0xFFFF]

    def read(self, address: int, count: int) -> list[int]:
        for base, regs in ((0x0000, self.status_registers()), (REG_NODE_CONFIG, self.node_config),
                           (REG_SYSTEM_CONFIG, list(self.system.registers()))):
            if base <= address and address + count <= base + len(regs):
                return regs[address - base:address - base + count]
        raise RegisterError(ILLEGAL_ADDRESS, f"registers {address:#06x}+{count} not readable")

    def write(self, address: int, values: Sequence[int], now: float) -> None:
        if address + len(values) <= STATUS_BLOCK_SIZE:
            for i, v in enumerate(values):
                self._write_status(address + i, v, now)
        elif REG_NODE_CONFIG <= address and address + len(values) <= REG_NODE_CONFIG + NODE_CONFIG_COUNT:
            for i, v in enumerate(values):
                self.node_config[address - REG_NODE_CONFIG + i] = v
            self.config_changed = 1
        elif address == REG_BALANCED and len(values) <= BROADCAST_COUNT:
            self.receive_balanced(values, now)
        elif REG_SYSTEM_CONFIG <= address and address + len(values) <= REG_SYSTEM_CONFIG + SYSTEM_CONFIG_COUNT:
            regs = list(self.system.registers())
            regs[address - REG_SYSTEM_CONFIG:address - REG_SYSTEM_CONFIG + len(values)] = list(values)
            self.system = SystemConfig.from_registers(regs)
        else:
            raise RegisterError(ILLEGAL_ADDRESS, f"registers {address:#06x}+{len(values)} not writable")
        self.step(now)

    def _write_status(self, reg: int, value: int, now: float) -> None:
        if reg == 0x0000:
            if value not in STATE_NAMES:
                raise RegisterError(ILLEGAL_VALUE, f"state {value}")
            self.set_state(value, now)
        elif reg == 0x0001:
            self.error = value
            if value:
                self.power_unavailable(now)
            if value & LESS_6A:
                self.charge_delay_until = now + CHARGE_DELAY_S
        elif reg == 0x0002:
            pass  # OverrideCurrent: refused on nodes (reference §5.2)
        elif reg == 0x0003:
            if value > 2:
                raise RegisterError(ILLEGAL_VALUE, f"mode {value}")
            self.mode = value
        elif reg == 0x0004:
            self.solar_timer = value
        elif reg == 0x0005:
            if value > 2:
                raise RegisterError(ILLEGAL_VALUE, f"access {value}")
            self.access = value
            if value != ACCESS_ON:
                self.power_unavailable(now)
        elif reg == 0x0006:
            self.config_changed = value
        else:
            raise RegisterError(ILLEGAL_ADDRESS, f"register {reg:#06x} is read-only")

    def receive_balanced(self, values: Sequence[int], now: float) -> None:
        """The master's broadcast: our slot (LoadBl - 1) and the mains Irms."""
        self.broadcasts += 1
        slot = self.address - 1
        if slot < len(values):
            self.balanced_da = values[slot]
        if len(values) >= BROADCAST_COUNT:
            self.mains_da = (s16(values[8]), s16(values[9]), s16(values[10]))
        self.master_seen_at = now
        self.error &= ~CT_NOCOMM
        if self.balanced_da == 0 and self.state == STATE_C:
            self.set_state(STATE_C1, now)
        self.step(now)

    def describe(self) -> str:
        return (f"node {self.address - 1} (address {self.address}): {STATE_NAMES.get(self.state, self.state)} "
                f"error={self.error:#04x} balanced={self.balanced_da / 10:g} A pwm={self.pwm_current_a():g} A "
                f"drawn={self.drawn_a():g} A ev={'plugged' if self.ev.plugged else 'unplugged'} "
                f"access={self.access}")
