"""The EV seen by the CH32 emulator: the shared simulated vehicle (:class:`backends.sim.ev.EvModel`:
plug state, wish to charge, on-board charger limit, phases, diode, cable, battery with taper) driven
against the pilot the emulated CH32 produces.

The sim model is a passive record; this driver adds what the pilot sampling needs: the S2 switch
(closed -> 6 V while a valid PWM is offered; opened ``stop_delay_s`` after the PWM is withdrawn,
which is what makes C1 observable) and the current drawn with the contactors closed.
"""

from __future__ import annotations

from typing import Any

from backends.sim.ev import EvModel as SimEv
from backends.smartevse.protocol import PILOT_6V, PILOT_9V, PILOT_12V, current_for_duty


class EvModel:
    """``EvModel(plugged=True, max_current_a=16, stop_delay_s=0.5, ...)``: keyword fields go to the
    sim vehicle (``plugged``, ``charging``, ``max_current_a``, ``phases``, ``soc``, ``capacity_kwh``,
    ``has_diode``, ``cable_a``); ``requesting`` is accepted as another name for ``charging``."""

    def __init__(self, ev: SimEv | None = None, *, stop_delay_s: float = 0.5, **fields: Any) -> None:
        self.ev = ev if ev is not None else SimEv(max_current_a=16.0)
        self.stop_delay_s = stop_delay_s
        self._s2_closed = False
        self._no_pwm_since: float | None = None
        self.set(**fields)

    def set(self, **fields: Any) -> None:
        for name, value in fields.items():
            if name == "stop_delay_s":
                self.stop_delay_s = float(value)
                continue
            if name == "requesting":
                name = "charging"
            if name.startswith("_") or not hasattr(self.ev, name) or callable(getattr(self.ev, name)):
                raise ValueError(f"the EV model has no field {name!r}")
            setattr(self.ev, name, value)

    # shortcuts used by the firmware model
    @property
    def plugged(self) -> bool:
        return self.ev.plugged

    @property
    def has_diode(self) -> bool:
        return self.ev.has_diode

    @property
    def phases(self) -> int:
        return self.ev.phases

    @property
    def cable_a(self) -> float:
        return self.ev.cable_a

    def pilot_level(self, duty_permille: int, now: float) -> int:
        """The pilot's high level as the EVSE measures it, given the duty it drives."""
        if not self.ev.plugged:
            self._s2_closed = False
            self._no_pwm_since = None
            return PILOT_12V
        if not self.ev.wants_energy():
            self._s2_closed = False
        elif current_for_duty(duty_permille) > 0.0:
            self._s2_closed = True  # a valid PWM offer: the car closes S2
            self._no_pwm_since = None
        elif self._s2_closed:
            if self._no_pwm_since is None:
                self._no_pwm_since = now
            if now - self._no_pwm_since >= self.stop_delay_s:
                self._s2_closed = False
                self._no_pwm_since = None
        level = PILOT_6V if self._s2_closed else PILOT_9V
        return level

    def draw_a(self, duty_permille: int, energised: bool) -> float:
        """Per-phase current drawn with the contactors ``energised``."""
        if not (energised and self._s2_closed and self.ev.wants_energy()):
            self.ev.draw_a = 0.0
            return 0.0
        offered = current_for_duty(duty_permille)
        if offered <= 0.0:
            offered = 6.0  # PWM withdrawn (C1): the car ramps down, modelled as the minimum
        amps = min(offered, self.ev.taper_limit_a())
        self.ev.draw_a = amps
        return amps

    def add_energy_wh(self, wh: float) -> None:
        self.ev.add_energy_wh(wh)
