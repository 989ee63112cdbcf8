from chargepoint.controller.types import ConnectorSnapshot, IecState, SubState
from chargepoint.energy import EnergyManager, EnergySettings, Mode, ev_status_from_snapshot
from hal.types import MeterReading


def snap(substate=SubState.C2, connected=True, limits=None, cable=None, meter=None, phases=3):
    return ConnectorSnapshot(
        connector=1, iec_state=IecState.C, substate=substate, ev_connected=connected, ev_requesting=True,
        authorized=True, available=True, offered_current_a=10.0, target_current_a=10.0, binding_limit="mains",
        pwm_duty_permille=167, contactor_c1=True, contactor_c2=True, phases=phases, locked=True,
        cable_ampacity_a=cable, limits=limits or {}, meter=meter)


def test_cap_excludes_the_energy_limits_and_takes_the_others():
    s = ev_status_from_snapshot(snap(limits={"mains": 6.0, "solar": 7.0, "ocpp": 20.0}, cable=25.0),
                                max_current_a=32.0, hardware_max_a=30.0)
    assert s.cap_a == 20.0 and s.charging and s.connected and s.offered_a == 10.0
    s = ev_status_from_snapshot(snap(limits={"mains": 6.0, "thermal": 8.0}), max_current_a=32.0)
    assert s.cap_a == 8.0
    assert ev_status_from_snapshot(snap(cable=13.0), max_current_a=16.0).cap_a == 13.0


def test_c1_is_not_charging_and_drawn_comes_from_the_meter():
    m = MeterReading(1, (230.0, 230.0, 230.0), (9.5, -10.2, 9.0), 6500.0, 1000.0)
    s = ev_status_from_snapshot(snap(substate=SubState.C1, meter=m), max_current_a=16.0)
    assert not s.charging and s.drawn_a == 10.2


def test_meter_readings_feed_mains_and_ev_meters():
    em = EnergyManager(EnergySettings(mode=Mode.SMART, max_circuit_a=16))
    em.feed_meter_reading(0.0, MeterReading(0, (230.0,) * 3, (5.0, 4.0, 3.0), 2760.0, 0.0))
    em.feed_meter_reading(0.0, MeterReading(1, (230.0,) * 3, (2.0, 2.0, 2.0), 1380.0, 0.0))
    d = em.step(0.0, [ev_status_from_snapshot(snap(substate=SubState.B1, phases=3), max_current_a=16.0)])
    assert d.mains_a == (5.0, 4.0, 3.0)
    assert "circuit +14 A" in d.explanation  # MaxCircuit 16 - EV meter 2
