"""The CH32 mainboard firmware as a plain synchronous model (no I/O, no clock of its own).

The runner calls :meth:`Ch32Firmware.tick_10ms` every 10 ms and :meth:`tick_1s` every second, and
:meth:`handle` for every line received from the ESP32; everything the CH32 would transmit is
appended to :attr:`outbox` as encoded lines.  The state machine follows reference §2.3/§2.4 for a
standalone unit (``LoadBl`` 0, no modem): A, B, C, B1, C1, ACTSTART, the 500 ms B->C debounce,
the diode check, the 6 s C1 timer, ChargeDelay, the B1 pilot "re-plug", access handling and the
error flags of §3.4 (TEMP_HIGH, RCM_TRIPPED with latching, the every-second power-unavailable rule).

Choices where the reference is silent (documented so tests can rely on them):
* An un-configured CH32 (after power-up / restart) answers ``@version?`` and logs one ``@MSG:``
  line but sends no status until it has received ``@Initialized:1``; then it sends ``@Config:OK``,
  ``@Nr_Of_Phases_Charging:n`` and one full status (``@State``, ``@Pilot``, ``@Temp``,
  ``@ErrorFlags``).
* The PWM offered in B/C is the ESP32's ``@SetCurrent`` (if any) capped by MaxCurrent, the cable
  (socket mode) and ``OverrideCurrent``; without ``@SetCurrent`` it is the firmware's start value.
  The real CH32 balancer would recompute it every 2 s; standalone Normal mode gives the same value.
* Meter lines (``@Irms``, ``@PowerMeasured``, ``@Import_active_energy``, ``@EnergyCharged``) are
  sent every second for the EV meter when ``EVMeterType`` != 0, and for the mains meter when
  ``MainsMeterType`` != 0 (house base load + EV).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backends.smartevse.emulator.ev import EvModel
from backends.smartevse.protocol import (
    PILOT_6V,
    PILOT_9V,
    PILOT_12V,
    PILOT_DIODE,
    PILOT_SHORT,
    RCM_TEST,
    RCM_TRIPPED,
    TEMP_HIGH,
    Message,
    duty_for_current,
    encode_log,
    encode_report,
)

STATE_A, STATE_B, STATE_C, STATE_D = 0, 1, 2, 3
STATE_ACTSTART, STATE_B1, STATE_C1 = 8, 9, 10
ACCESS_OFF, ACCESS_ON, ACCESS_PAUSE = 0, 1, 2

#: Settings an un-configured CH32 starts from (firmware defaults).
DEFAULT_SETTINGS: dict[str, int] = {
    "Config": 0,
    "Lock": 0,
    "Mode": 0,
    "Access": ACCESS_OFF,
    "OverrideCurrent": 0,
    "LoadBl": 0,
    "MaxCurrent": 13,
    "MinCurrent": 6,
    "EnableC2": 3,
    "maxTemp": 65,
    "EVMeterType": 0,
    "EVMeterAddress": 12,
    "MainsMeterType": 0,
    "MainsMAddress": 10,
}

CABLE_CAPACITY = (13, 16, 32, 63)


@dataclass
class Ch32Firmware:
    ev: EvModel = field(default_factory=EvModel)
    version: int = 1_767_225_600  # build epoch (WCH_VERSION)
    temperature_c: int = 25
    house_load_a: float = 2.0
    voltage_v: float = 230.0
    outbox: list[bytes] = field(default_factory=list)
    #: ChargeDelay (s) set on entering C1 (firmware: 15).  Tests shorten it to keep a real-time
    #: pause/resume cycle within a few seconds.
    c1_charge_delay_s: int = 15

    def __post_init__(self) -> None:
        # the kWh meters are Modbus devices of their own: their totals survive a CH32 restart
        self.ev_energy_wh = 0.0
        self.mains_energy_wh = 0.0
        self.power_on()

    # ------------------------------------------------------------------ lifecycle
    def power_on(self) -> None:
        """Fresh boot: defaults, state A, waiting for the ESP32's configuration."""
        self.settings: dict[str, int] = dict(DEFAULT_SETTINGS)
        self.strings: dict[str, str] = {}
        self.initialized = False
        self.state = STATE_A
        self.error_flags = 0
        self.charge_delay = 0
        self.c1_timer = 0
        self.pilot_connected = True
        self.pilot_disconnect_time = 0
        self.diode_check = False
        self.debounce = 0
        self.activation_mode = 255
        self.activation_timer = 0
        self.duty = 1000
        self.c1 = False
        self.c2 = False
        self.charge_current_da = 60
        self.esp_current_da: int | None = None
        self.max_capacity = 13
        self.nr_phases = 3
        self.rcmon = False
        self.power_panic_ctrl = False
        self.rcm_input = False  # the RCM sensor's fault output (injected)
        self.rcm_test_counter = 0
        self.last_pilot: int | None = None
        self.last_temp: int | None = None
        self.last_charge_current: int | None = None
        self.session_start_wh = self.ev_energy_wh
        self.now = 0.0
        self.unknown_commands = 0
        self.outbox.append(encode_log("CH32 boot, waiting for configuration"))

    # ------------------------------------------------------------------ helpers
    def _send(self, key: str, value: int | tuple[int, ...] | str | None = None, dot: bool = False) -> None:
        self.outbox.append(encode_report(key, value, dot=dot))

    @property
    def access_on(self) -> bool:
        return self.settings.get("Access", 0) == ACCESS_ON

    def _force_single_phase(self) -> bool:
        c2 = self.settings.get("EnableC2", 3)
        mode = self.settings.get("Mode", 0)
        return c2 == 1 or (c2 == 2 and mode == 2) or (c2 == 4 and self.nr_phases == 1)

    def _phases_from_c2(self) -> int:
        return 1 if self.settings.get("EnableC2", 3) == 1 else 3

    def offered_current_da(self) -> int:
        """The current the PWM encodes in B/C."""
        cap = self.settings.get("MaxCurrent", 13) * 10
        if self.settings.get("Config", 0) == 0:
            cap = min(cap, self.max_capacity * 10)
        base = self.esp_current_da if self.esp_current_da is not None else self.charge_current_da
        override = self.settings.get("OverrideCurrent", 0)
        if override > 0:
            base = override
        return max(0, min(base, cap))

    def _apply_pwm(self) -> None:
        if self.state in (STATE_B, STATE_C):
            current = self.offered_current_da()
            self.duty = duty_for_current(current)
            if current != self.last_charge_current:
                self.last_charge_current = current
                self._send("ChargeCurrent", current)

    def hard_errors(self) -> int:
        return self.error_flags & ~1  # everything except LESS_6A

    # ------------------------------------------------------------------ state changes
    def set_state(self, new: int) -> None:
        old = self.state
        if new == STATE_B1:
            if self.charge_delay == 0:
                self.charge_delay = 3
            if old != STATE_B1 and self.pilot_connected and self.access_on:
                self.pilot_connected = False
                self.pilot_disconnect_time = 5
        if new in (STATE_A, STATE_B1):
            self.c1 = self.c2 = False
            self.duty = 1000
            if new == STATE_A:
                self.error_flags &= ~1
                self.charge_delay = 0
        elif new == STATE_B:
            self.c1 = self.c2 = False
            self.state = new
            self._apply_pwm()
        elif new == STATE_C:
            self.activation_mode = 255
            if self.rcmon:
                self.error_flags |= RCM_TEST  # self-test: the RCMTEST pin is pulled low for 1 s
                self.rcm_test_counter = 15
            self.c1 = True
            self.c2 = not self._force_single_phase()
            self.session_start_wh = self.ev_energy_wh
        elif new == STATE_C1:
            self.duty = 1000
            self.c1_timer = 6
            self.charge_delay = self.c1_charge_delay_s
        elif new == STATE_ACTSTART:
            self.activation_timer = 3
            self.duty = 0
        self.state = new
        self._send("State", new, dot=True)

    def set_power_unavailable(self) -> None:
        if self.state == STATE_A:
            return
        if self.state == STATE_C:
            self.set_state(STATE_C1)
        elif self.state not in (STATE_C1, STATE_B1):
            self.set_state(STATE_B1)

    def set_access(self, value: int) -> None:
        self.settings["Access"] = value
        if value in (ACCESS_OFF, ACCESS_PAUSE):
            if self.state == STATE_C:
                self.set_state(STATE_C1)
            elif self.state == STATE_B:
                self.set_state(STATE_B1)

    # ------------------------------------------------------------------ pilot
    def read_pilot(self) -> int:
        if self.state == STATE_B and not self.diode_check and self.ev.plugged and self.ev.has_diode:
            return PILOT_DIODE  # low half sampled at 96 % shows -12 V
        return self.ev.pilot_level(self.duty, self.now)

    # ------------------------------------------------------------------ ticks
    def tick_10ms(self, now: float) -> None:
        if self.now > 0.0 and now > self.now:
            self._meter_integrate(min(now - self.now, 1.0))
        self.now = now
        if not self.initialized:
            return
        if self.rcmon and self.rcm_input and not self.error_flags & RCM_TRIPPED:
            self.error_flags |= RCM_TRIPPED
            self.error_flags &= ~RCM_TEST
            if self.state != STATE_A:
                self.set_state(STATE_B1)
        st = self.state
        if st in (STATE_A, STATE_B1) and not self.pilot_connected:
            if self.pilot_disconnect_time == 0:
                self.pilot_connected = True
            return
        if not self.pilot_connected:
            return
        level = self.read_pilot()
        if level != self.last_pilot:
            self.last_pilot = level
            self._send("Pilot", level)
        if st in (STATE_A, STATE_B1):
            if level == PILOT_12V:
                if st != STATE_A:
                    self.set_state(STATE_A)
                self.charge_delay = 0
            elif level == PILOT_9V and self.access_on:
                if self.error_flags == 0 and self.charge_delay == 0:
                    self.diode_check = False
                    self.max_capacity = (
                        self.settings.get("MaxCurrent", 13) if self.settings.get("Config", 0) == 1
                        else int(self.ev.cable_a) if int(self.ev.cable_a) in CABLE_CAPACITY else 13
                    )
                    max_current = self.settings.get("MaxCurrent", 13)
                    self.charge_current_da = (
                        self.max_capacity * 10 if max_current > self.max_capacity
                        else self.settings.get("MinCurrent", 6) * 10
                    )
                    self.activation_mode = 30
                    self.set_state(STATE_B)
                elif st == STATE_A:
                    self.set_state(STATE_B1)
        elif st == STATE_B:
            if level == PILOT_12V:
                self.set_state(STATE_A)
            elif level == PILOT_9V:
                self.debounce = 0
                if self.activation_mode == 0:
                    self.set_state(STATE_ACTSTART)
            elif level == PILOT_DIODE:
                self.diode_check = True
            elif level == PILOT_6V:
                self.debounce += 1
                if (self.debounce > 50 and self.diode_check and self.error_flags == 0
                        and self.charge_delay == 0 and self.access_on):
                    self.debounce = 0
                    self.diode_check = False
                    self.set_state(STATE_C)
        elif st == STATE_C:
            if level == PILOT_12V:
                self.set_state(STATE_A)
            elif level == PILOT_9V:
                self.diode_check = False
                self.set_state(STATE_B)
            elif level == PILOT_SHORT:
                self.debounce += 1
                if self.debounce > 50:
                    self.debounce = 0
                    self.diode_check = False
                    self.set_state(STATE_B)
            else:
                self.debounce = 0
        elif st == STATE_C1:
            if level == PILOT_12V:
                self.set_state(STATE_A)
            elif level == PILOT_9V:
                self.set_state(STATE_B1)

    def tick_1s(self) -> None:
        """The 1 s handler: timers, temperature, error rules, periodic reports, meters."""
        if not self.initialized:
            return
        if self.charge_delay > 0:
            self.charge_delay -= 1
        if self.pilot_disconnect_time > 0:
            self.pilot_disconnect_time -= 1
        if self.state == STATE_C1 and self.c1_timer > 0:
            self.c1_timer -= 1
            if self.c1_timer == 0:
                self.set_state(STATE_B1)
        if self.state == STATE_B and 0 < self.activation_mode < 255:
            self.activation_mode -= 1
        if self.state == STATE_ACTSTART:
            self.activation_timer -= 1
            if self.activation_timer <= 0:
                self.activation_mode = 255
                self.set_state(STATE_B)
        if self.error_flags & RCM_TEST:
            # the sensor answers the 1 s test pulse with a trip: test passed, both bits cleared
            self.rcm_test_counter = max(0, self.rcm_test_counter - 1)
            self.error_flags &= ~RCM_TEST
            self._send("RCMTestCounter", self.rcm_test_counter)
        max_temp = self.settings.get("maxTemp", 65)
        if self.temperature_c > max_temp:
            self.error_flags |= TEMP_HIGH
        elif self.temperature_c < max_temp - 10:
            self.error_flags &= ~TEMP_HIGH
        if self.hard_errors() & ~RCM_TEST or self.error_flags & 1:
            self.set_power_unavailable()
            if self.error_flags & 1:
                self.charge_delay = 60
        if self.temperature_c != self.last_temp:
            self.last_temp = self.temperature_c
            self._send("Temp", self.temperature_c)
        self._send("ErrorFlags", self.error_flags)
        self._send("IsCurrentAvailable", 1)
        self._send("ChargeDelay", self.charge_delay)
        self._send_meters()

    # ------------------------------------------------------------------ meters
    def ev_phase_currents(self) -> tuple[float, float, float]:
        energised = self.c1 and self.state in (STATE_C, STATE_C1)
        amps = self.ev.draw_a(self.duty, energised)
        phases = min(self.ev.phases, 3 if self.c2 else 1)
        return tuple(amps if i < phases else 0.0 for i in range(3))  # type: ignore[return-value]

    def _meter_integrate(self, dt_s: float) -> None:
        ev = sum(self.ev_phase_currents()) * self.voltage_v
        self.ev_energy_wh += ev * dt_s / 3600.0
        self.ev.add_energy_wh(ev * dt_s / 3600.0)
        self.mains_energy_wh += (ev + 3 * self.house_load_a * self.voltage_v) * dt_s / 3600.0

    def _send_meters(self) -> None:
        ev_currents = self.ev_phase_currents()
        if self.settings.get("EVMeterType", 0):
            addr = self.settings.get("EVMeterAddress", 12)
            da = [round(a * 10) for a in ev_currents]
            self._send("PowerMeasured", (addr, round(sum(ev_currents) * self.voltage_v)))
            self._send("Import_active_energy", (addr, round(self.ev_energy_wh)))
            self._send("EnergyCharged", (addr, round(self.ev_energy_wh - self.session_start_wh)))
            self._send("Irms", (addr, *da))
        if self.settings.get("MainsMeterType", 0):
            addr = self.settings.get("MainsMAddress", 10)
            mains = [a + self.house_load_a for a in ev_currents]
            self._send("PowerMeasured", (addr, round(sum(mains) * self.voltage_v)))
            self._send("Import_active_energy", (addr, round(self.mains_energy_wh)))
            self._send("Irms", (addr, *(round(a * 10) for a in mains)))

    # ------------------------------------------------------------------ ESP32 -> CH32
    def handle(self, msg: Message) -> None:
        key = msg.key
        if key == "version?":
            self._send("version", self.version)
            return
        if key == "Initialized":
            self.initialized = True
            self.nr_phases = self._phases_from_c2()
            self._send("Config", "OK")
            self._send("Nr_Of_Phases_Charging", self.nr_phases)
            self.last_pilot = None
            self.last_temp = None
            self._send("State", self.state, dot=True)
            self._send("Temp", self.temperature_c)
            self.last_temp = self.temperature_c
            self._send("ErrorFlags", self.error_flags)
            return
        if isinstance(msg.value, str):
            self.strings[key] = msg.value
            return
        if key in ("Irms", "PowerMeasured"):
            return  # API-fed meter data: accepted, not used by this model
        value = msg.value if isinstance(msg.value, int) else 0
        if key == "SetCurrent":
            self.esp_current_da = value
            self._apply_pwm()
        elif key == "setStatePowerUnavailable":
            self.set_power_unavailable()
        elif key == "State":
            if value in (STATE_A, STATE_B, STATE_C, STATE_B1, STATE_C1, STATE_ACTSTART):
                self.set_state(value)
            else:
                self.outbox.append(encode_log(f"setState({value}) refused"))
        elif key == "Access":
            self.set_access(value)
        elif key == "setPilot":
            self.pilot_connected = bool(value)
        elif key == "SetCPDuty":
            self.duty = max(0, min(1000, value))
        elif key == "setErrorFlags":
            self.error_flags |= value
        elif key == "clearErrorFlags":
            self.error_flags &= ~value
        elif key == "RCmon":
            self.rcmon = bool(value)
        elif key == "PowerPanicCtrl":
            self.power_panic_ctrl = bool(value)
        elif key in ("CalcBalancedCurrent", "BroadcastSettings", "OneWireReadCardId", "ResetModemTimers"):
            if key == "ResetModemTimers":
                self.set_access(ACCESS_OFF)
        else:
            self.settings[key] = value
            if key == "OverrideCurrent":
                self._apply_pwm()

    # ------------------------------------------------------------------ faults
    def rcd_trip(self) -> None:
        self.rcm_input = True

    def rcd_reset(self) -> None:
        """The RCM fault input goes low and the user presses the button: the latch clears."""
        self.rcm_input = False
        self.error_flags &= ~RCM_TRIPPED

    def power_panic(self) -> None:
        self.c1 = self.c2 = False
        self.pilot_connected = False
        self.duty = 1000
        self._send("!Panic")

    def power_restored(self) -> None:
        self.outbox.append(encode_log("Power restored"))
        self.pilot_connected = True
        self.set_state(STATE_A)
