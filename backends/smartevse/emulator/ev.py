"""A small electric-vehicle model for the CH32 emulator: what the EV puts on the control pilot and
how much current it draws.

(``backends/sim`` had no EV model when this was written, so the emulator carries its own.)
"""

from __future__ import annotations

from dataclasses import dataclass

from backends.smartevse.protocol import PILOT_6V, PILOT_9V, PILOT_12V, current_for_duty


@dataclass
class EvModel:
    """State of the vehicle and its cable.

    * ``plugged`` -- cable in the socket and the car (pilot 9 V through R2 = 2.74 kOhm).
    * ``requesting`` -- the car wants energy: it closes S2 (6 V) while a valid PWM is offered.
    * ``has_diode`` -- the diode on the car's pilot circuit (missing diode = diode check fails).
    * ``max_current_a`` / ``phases`` -- what the on-board charger takes at most.
    * ``cable_a`` -- the cable's PP rating (13/16/32/63 A, reference §2.7).
    * ``stop_delay_s`` -- how long the car keeps S2 closed after the PWM is withdrawn (C1).
    """

    plugged: bool = False
    requesting: bool = True
    has_diode: bool = True
    max_current_a: float = 16.0
    phases: int = 3
    cable_a: int = 32
    stop_delay_s: float = 0.5
    _s2_closed: bool = False
    _no_pwm_since: float | None = None

    def pilot_level(self, duty_permille: int, now: float) -> int:
        """The high level of the pilot as the EVSE measures it, given the duty it drives."""
        if not self.plugged:
            self._s2_closed = False
            self._no_pwm_since = None
            return PILOT_12V
        if not self.requesting:
            self._s2_closed = False
        elif current_for_duty(duty_permille) > 0.0:
            self._s2_closed = True  # a valid PWM offer: the car closes S2
            self._no_pwm_since = None
        elif self._s2_closed:
            # PWM withdrawn: the car opens S2 after its stop delay.
            if self._no_pwm_since is None:
                self._no_pwm_since = now
            if now - self._no_pwm_since >= self.stop_delay_s:
                self._s2_closed = False
                self._no_pwm_since = None
        return PILOT_6V if self._s2_closed else PILOT_9V

    def draw_a(self, duty_permille: int, energised: bool) -> float:
        """Per-phase current the car draws with the contactors ``energised``."""
        if not (self.plugged and self.requesting and energised):
            return 0.0
        offered = current_for_duty(duty_permille)
        if offered <= 0.0:
            # PWM withdrawn (C1): the car ramps down; model it as drawing the minimum until it stops.
            offered = 6.0
        return min(offered, self.max_current_a)
