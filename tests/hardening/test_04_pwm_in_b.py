"""Issue 12, point 4: the current signalled in state B before the EV requests power follows the
firmware (reference §2.4, A/B1 -> B: ``ChargeCurrent = MaxCapacity`` if ``MaxCurrent > MaxCapacity``
else ``MinCurrent``; §2.6: below 6 A is never signalled): MinCurrent, or the cable's rating when it
is below MaxCurrent -- and, our one addition, never above the target the limits leave.  The full
target follows in C, in the step the contactors close.  ``[controller] firmware_b_current = false``
signals the target already in B."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.sim import SimModel, SimOptions
from chargepoint.config import load_config
from chargepoint.controller import Authorize, Controller, ControllerSettings, SetLimit, SubState
from chargepoint.harness.sim_rig import SimRig
from chargepoint.iec61851.duty import duty_permille
from chargepoint.runtime import controller_settings
from hal.types import (
    PilotLevel,
    PilotMode,
    PilotReading,
    SetContactors,
    SetPilot,
)
from tests.controller.helpers import Drive, pilots


@pytest.mark.parametrize(
    ("settings", "ohms", "limit", "signalled"),
    [
        pytest.param({"max_current_a": 16.0}, 220.0, None, 6.0, id="32A-cable: MinCurrent"),
        pytest.param({"max_current_a": 16.0, "min_current_a": 10.0}, 220.0, None, 10.0, id="MinCurrent-10"),
        pytest.param({"max_current_a": 16.0}, None, None, 13.0, id="no-PP-13A-below-MaxCurrent: the cable"),
        pytest.param({"max_current_a": 32.0}, 680.0, None, 20.0, id="20A-cable-below-32A: the cable"),
        pytest.param({"max_current_a": 16.0}, None, 8.0, 8.0, id="never above the target (OCPP 8 A)"),
        pytest.param({"max_current_a": 16.0}, 220.0, 8.0, 6.0, id="MinCurrent under an 8 A limit"),
        pytest.param({"max_current_a": 16.0, "firmware_b_current": False}, 220.0, None, 16.0, id="off: target"),
    ],
)
def test_current_signalled_in_b(settings: dict[str, float], ohms: float | None, limit: float | None,
                                signalled: float) -> None:
    d = Drive(caps={"max_current_a": 32.0}, **settings)
    if limit is not None:
        d(SetLimit(0, "ocpp", limit), 0.5)
    d.to_b2(ohms=ohms)
    s = d.snap()
    assert s.offered_current_a == signalled and s.pwm_duty_permille == duty_permille(signalled)
    target = min(settings["max_current_a"], limit or 80.0, s.cable_ampacity_a or 80.0)
    assert s.target_current_a == target  # what C will get


def test_the_full_target_comes_with_the_contactors() -> None:
    d = Drive()
    d.to_b2()
    assert d.snap().pwm_duty_permille == 100  # 6 A
    d(PilotReading(1, PilotLevel.V6), 2.0)
    outs = d.tick(2.501)
    hal = [o for o in outs if isinstance(o, SetPilot | SetContactors)]
    assert hal == [SetPilot(1, PilotMode.PWM, 266, 16.0), SetContactors(1, True, True)]
    assert d.snap().substate == SubState.C2 and d.snap().offered_current_a == 16.0


def test_after_c_to_b_the_target_stays() -> None:
    """The EV pausing by itself (C -> B) keeps the firmware's ChargeCurrent: the target."""
    d = Drive()
    d.to_charging()
    outs = d(PilotReading(1, PilotLevel.V9), 20.0)
    assert d.snap().substate == SubState.B2
    assert [p.current_a for p in pilots(outs)] == [] and d.snap().offered_current_a == 16.0


def test_config_key(tmp_path: Path) -> None:
    assert controller_settings(load_config(None)).firmware_b_current is True
    f = tmp_path / "c.toml"
    f.write_text("[controller]\nfirmware_b_current = false\n", encoding="utf-8")
    assert controller_settings(load_config(f)).firmware_b_current is False


def test_sim_ev_sees_min_current_in_b_then_the_target_in_c() -> None:
    model = SimModel(SimOptions())
    rig = SimRig(Controller(ControllerSettings(max_current_a=16.0), model.capabilities), model)
    seen: list[tuple[str, float]] = []
    rig.on_step = lambda inp, outs, now: seen.extend(
        (str(rig.controller.snapshot(1).substate), o.current_a) for o in outs
        if isinstance(o, SetPilot) and o.mode is PilotMode.PWM)
    model.plug(1, 32.0, now=rig.now)
    rig.feed(Authorize(1, True))
    rig.run_for(20.0)
    assert seen == [("B2", 6.0), ("C2", 16.0)]
    assert max(model.ev_current(1)) == 16.0  # the EV follows the higher PWM in C
