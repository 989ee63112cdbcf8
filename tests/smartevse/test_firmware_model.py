"""The emulator's CH32 state machine (pure, stepped by hand) against reference §2.3/§2.4/§3.4."""

from __future__ import annotations

from backends.smartevse.emulator import Ch32Firmware, EvModel
from backends.smartevse.protocol import RCM_TEST, RCM_TRIPPED, TEMP_HIGH, LineParser, Message

ESP_CFG = [("MaxCurrent", 16), ("MinCurrent", 6), ("EnableC2", 3), ("maxTemp", 65), ("Access", 1)]


class Rig:
    def __init__(self, **ev: object) -> None:
        self.fw = Ch32Firmware(ev=EvModel(**ev))  # type: ignore[arg-type]
        self.t = 0.0
        self.next_1s = 1.0
        for key, value in ESP_CFG:
            self.fw.handle(Message(key, value))
        self.fw.handle(Message("RCmon", 1))
        self.fw.handle(Message("Initialized", 1))

    def run(self, seconds: float) -> None:
        end = self.t + seconds
        while self.t < end - 1e-9:
            self.t = round(self.t + 0.01, 2)
            self.fw.tick_10ms(self.t)
            if self.t >= self.next_1s:
                self.next_1s += 1.0
                self.fw.tick_1s()

    def sent(self) -> list[Message]:
        from backends.smartevse.protocol import CH32_TO_ESP32
        return LineParser(CH32_TO_ESP32).feed(b"".join(self.fw.outbox))


def test_unconfigured_ch32_only_answers_version() -> None:
    fw = Ch32Firmware()
    fw.outbox.clear()
    fw.tick_10ms(0.01)
    fw.tick_1s()
    assert fw.outbox == []
    fw.handle(Message("version?"))
    assert fw.outbox == [f"@version:{fw.version}\n".encode()]


def test_plug_b_then_c_after_debounce_with_diode() -> None:
    rig = Rig(plugged=True)
    rig.fw.handle(Message("SetCurrent", 100))
    rig.run(0.05)
    assert rig.fw.state == 1 and rig.fw.duty == 166
    rig.run(0.45)
    assert rig.fw.state == 1  # 6 V seen for < 500 ms
    rig.run(0.15)
    assert rig.fw.state == 2 and rig.fw.c1 and rig.fw.c2
    states = [m.value for m in rig.sent() if m.key == "State"]
    assert states[-2:] == [1, 2]


def test_rcm_self_test_on_c_entry_passes() -> None:
    rig = Rig(plugged=True)
    rig.run(0.7)
    assert rig.fw.state == 2 and rig.fw.error_flags & RCM_TEST
    rig.run(1.0)
    assert not rig.fw.error_flags & RCM_TEST


def test_no_diode_no_charging() -> None:
    rig = Rig(plugged=True, has_diode=False)
    rig.run(2.0)
    assert rig.fw.state == 1 and not rig.fw.c1


def test_access_off_blocks_and_stops() -> None:
    rig = Rig(plugged=True)
    rig.run(1.0)
    assert rig.fw.state == 2
    rig.fw.handle(Message("Access", 0))
    assert rig.fw.state == 10 and rig.fw.c1  # C1: PWM withdrawn, contactors still closed
    rig.run(1.0)
    assert rig.fw.state == 9 and not rig.fw.c1  # EV opened S2 -> B1


def test_c1_timer_forces_b1_after_6s() -> None:
    rig = Rig(plugged=True, stop_delay_s=60.0)  # an EV that ignores the withdrawn PWM
    rig.run(1.0)
    rig.fw.handle(Message("setStatePowerUnavailable"))
    assert rig.fw.state == 10
    rig.run(5.0)
    assert rig.fw.state == 10 and rig.fw.c1
    rig.run(1.5)
    assert rig.fw.state == 9 and not rig.fw.c1 and rig.fw.charge_delay >= 7  # 15 s set on C1 entry


def test_temperature_hysteresis() -> None:
    rig = Rig()
    rig.fw.temperature_c = 66
    rig.run(1.0)
    assert rig.fw.error_flags & TEMP_HIGH
    rig.fw.temperature_c = 60
    rig.run(1.0)
    assert rig.fw.error_flags & TEMP_HIGH  # clears only below maxTemp - 10
    rig.fw.temperature_c = 54
    rig.run(1.0)
    assert not rig.fw.error_flags & TEMP_HIGH


def test_rcd_trip_latches_until_reset() -> None:
    rig = Rig(plugged=True)
    rig.run(1.0)
    rig.fw.rcd_trip()
    rig.run(0.02)
    assert rig.fw.error_flags & RCM_TRIPPED and rig.fw.state == 9 and not rig.fw.c1
    rig.fw.rcm_input = False
    rig.run(2.0)
    assert rig.fw.error_flags & RCM_TRIPPED  # latched
    rig.fw.rcd_reset()
    assert not rig.fw.error_flags & RCM_TRIPPED


def test_energy_counts_while_charging() -> None:
    rig = Rig(plugged=True, max_current_a=16.0)
    rig.fw.handle(Message("SetCurrent", 160))
    rig.run(0.6)
    start = rig.fw.ev_energy_wh
    rig.run(10.0)
    # 3 x 16 A x 230 V for 10 s = 30.7 Wh
    assert abs((rig.fw.ev_energy_wh - start) - 3 * 16 * 230 * 10 / 3600) < 0.5
