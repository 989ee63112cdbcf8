"""Energy manager (pure): load balancing, Smart and Solar modes, home battery, C2 phase switching.

Facts: smartevse.md §5 (load balancing), §3.2 (C2 / EnableC2), §4.8 (API-fed mains meter).
No I/O and no asyncio: the caller passes the monotonic time ``now`` (seconds) into every call.
One standalone charger with one or more connectors; several connectors share MaxCircuit like the
firmware's master and its nodes (on the smartevse-rs485 backend the connectors are SmartEVSE nodes).

Wiring (the runtime does this every **2 s**, the firmware's regulation cycle)::

    from chargepoint.energy import EnergyManager, EnergySettings, EvStatus, Mode

    em = EnergyManager(EnergySettings(mode=Mode.SMART, max_mains_a=25), now=clock.monotonic())
    em.feed_meter_reading(now, reading)       # HAL MeterReading: connector 0 = mains, n = EV meter
    em.feed_mains(now, l1, l2, l3)            # or directly: A per phase, signed, import positive
                                              # (charging_a=: TotalCurrent at the reading, if known)
    em.feed_ev_meter(now, connector, l1, l2, l3)  # EV meter of a connector, or 0 = EV sub-panel meter
    em.feed_battery(now, current_a)           # home battery, + = charging (Solar only, valid 60 s)
    statuses = [ev_status_from_snapshot(controller.snapshot(n), max_current_a=settings.max_current_a)
                for n in connectors]          # or build EvStatus(connector, connected, charging, ...) yourself
    decision = em.step(now, statuses)
    for command in decision.commands(previous):   # SetLimit / SetPhases, ordered so nothing rises early
        controller.handle(command, now)
    previous = decision

``cap_a`` must be the connector's non-energy cap (min of MaxCurrent, cable, hardware, OCPP,
override): the manager never allocates above it.  A ``SettingsError`` (a ``ValueError`` with
``.field``) comes from ``EnergySettings.validate()`` / ``.updated(mapping)`` for bad settings;
``feed_*`` and ``step`` raise ``ValueError`` naming the bad field.

Public API
----------
* ``EnergySettings`` (frozen dataclass; firmware names, defaults and ranges), ``Mode``
  (normal|smart|solar), ``EnableC2`` (not_present|always_off|solar_off|always_on|auto),
  ``SettingsError``; ``settings.validate() -> settings``; ``settings.updated(mapping) -> settings``.
* ``EnergyManager(settings=None, now=None)``: ``feed_mains``, ``feed_ev_meter``, ``feed_battery``,
  ``feed_mains_api(now, l1_da, l2_da, l3_da)`` / ``feed_battery_api(now, current_da)`` (the REST/MQTT
  API's deci-amperes, -2000 < x < 2000, ValueError naming L1/L2/L3/battery_current),
  ``update_settings(settings)``, ``step(now, list[EvStatus]) -> EnergyDecision``, ``last``.
* ``EvStatus(connector, connected, charging, phases=3, offered_a=0, drawn_a=0, cap_a=32)``;
  ``ev_status_from_snapshot(snapshot, *, max_current_a, hardware_max_a=None, drawn_a=None)`` builds
  it from a ``ConnectorSnapshot`` (charging = C2/D; cap = min of MaxCurrent, hardware, cable and the
  non-energy named limits).  ``EnergyManager.feed_meter_reading(now, MeterReading)``.
* ``EnergyDecision``: ``connectors: dict[int, ConnectorDecision]``, ``stale_mains`` (no mains data
  for 11 s in Smart/Solar: CT_NOCOMM; every connector gets mains=0), ``shortage``,
  ``hard_shortage``, ``no_current_cycles``, ``less_6a``, ``iset_balanced_a``, ``mains_a`` (after the
  battery correction), ``isum_a``, ``battery_a``, ``solar_stop_timer_s``, ``max_sum_mains_timer_s``,
  ``phase_switch_timer_s`` (remaining seconds or None), ``explanation`` (one line: what binds and
  why), ``warnings``; ``commands(previous) -> list[SetLimit | SetPhases]``.
* ``ConnectorDecision``: ``limits`` (every name of ``LIMIT_NAMES`` = mains, circuit, sum_mains,
  solar -> A per phase or None; below MinCurrent = pause), ``phases`` (1|3 requested), ``allocated_a``,
  ``binding``, ``less_6a``, ``charge_delay_s``, ``reason``; ``limit()`` = the lowest value.

Rules implemented (numbers from the reference): MaxMains per phase (highest phase) with
``Baseload = Imeasured - TotalCurrent``; MaxCircuit with ``Baseload_EV`` (EV / sub-panel meter, or
always shared when the charger has several connectors); MaxSumMains as ``(MaxSumMains - Isum)/3``
with MaxSumMainsTime; Smart regulation (+headroom/4, -deficit at once); Solar start (export >
StartCurrent summed), 40 s at MinCurrent, fine regulation (+0.5/+0.1/-0.1/-0.5/-import/2 A),
StopTime timer, ImportCurrent; shortage (held at MinCurrent; LESS_6A after 3 hard-shortage cycles or
a phase above 2 x MaxMains; ChargeDelay 60 s once power is back); home battery (Solar only, 60 s,
/3 per phase or all on L1 with Always Off); EnableC2 and Auto 3P<->1P in Solar.
"""

from chargepoint.energy.adapter import ev_status_from_snapshot
from chargepoint.energy.manager import CHARGE_DELAY_S, CYCLE_S, SOLAR_START_S, EnergyManager
from chargepoint.energy.settings import EnableC2, EnergySettings, Mode, SettingsError
from chargepoint.energy.types import LIMIT_NAMES, ConnectorDecision, EnergyDecision, EvStatus

__all__ = [
    "CHARGE_DELAY_S",
    "CYCLE_S",
    "LIMIT_NAMES",
    "SOLAR_START_S",
    "ConnectorDecision",
    "EnableC2",
    "EnergyDecision",
    "EnergyManager",
    "EnergySettings",
    "EvStatus",
    "Mode",
    "SettingsError",
    "ev_status_from_snapshot",
]
