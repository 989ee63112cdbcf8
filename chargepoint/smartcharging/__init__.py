"""OCPP 1.6 smart charging, pure: charging profiles -> limit per connector, composite schedule, next change.

No I/O, no asyncio, no ``ocpp`` import.  Times are aware UTC datetimes passed in by the caller.

Typical use by the OCPP handlers and the runtime
------------------------------------------------
::

    from chargepoint.smartcharging import ChargingProfile, ProfileError, SmartChargingEngine

    engine = SmartChargingEngine(connectors=2, nominal_voltage=230.0, default_phases=3,
                                 max_stack_level=10, max_periods=48, max_profiles=32,
                                 allowed_units=("A", "W"), max_current_a=32.0)

    # SetChargingProfile(connector_id, cs_charging_profiles)   (snake_case dict from the ocpp lib)
    try:
        profile = ChargingProfile.from_dict(cs_charging_profiles)  # or camelCase dict (SQLite)
    except ProfileError as e:            # e.field = "chargingSchedule.chargingSchedulePeriod[0].limit"
        ...                              # -> Rejected (or a PropertyConstraintViolation CALLERROR)
    verdict = engine.set_profile(connector_id, profile, now)   # = check() + install()
    verdict.status                       # "Accepted" | "Rejected"; verdict.reason names the field
    # (or separately: engine.check(connector_id, profile, {connector: tx_id}) / engine.install(...))

    # ClearChargingProfile(id, connector_id, charging_profile_purpose, stack_level)
    removed = engine.clear(id=..., connector_id=..., purpose=..., stack_level=...)
    status = "Accepted" if removed else "Unknown"

    # GetCompositeSchedule(connector_id, duration, charging_rate_unit)  -- connector range checked by caller
    cs = engine.composite(connector_id, now, duration, unit)   # unit "A" | "W" | None
    return call_result.GetCompositeSchedule(status="Accepted", connector_id=connector_id,
                                            schedule_start=<iso cs.schedule_start>,
                                            charging_schedule=cs.to_json())
    # cs.response() is the whole camelCase payload.

    # RemoteStartTransaction(charging_profile=...)
    verdict = engine.bind_pending_tx_profile(connector_id, ChargingProfile.from_dict(cp))  # TC_059/TC_060
    # StartTransaction.conf -> transaction id known:
    engine.transaction_started(connector_id, transaction_id, start_time)  # installs the pending profile
    engine.transaction_ended(connector_id)                                # deletes its TxProfiles

    # Runtime: apply the limit and wake exactly at the next boundary (no polling)
    lim = engine.limit(connector_id, now, phases=ev_phases)          # one connector / no station cap
    shares = engine.station_share(now, {1: None, 2: None})           # connectors wanting power
    controller.handle(SetLimit(connector_id, Limit.OCPP, lim.amps if lim else None), mono_now)
    wake_at = engine.next_change(connector_id, now)       # datetime | None

    # Persistence (errata 3.37): after every change store the rows, after a reboot restore them
    rows = [row.to_json() for row in engine.installed()]   # {"connectorId", "csChargingProfiles"}
    engine.restore(rows)            # no transaction checks; TxProfiles wait for transaction_started()

Rules implemented (OCPP 1.6 ed. 2 + errata v4, see docs in shared reference §2.1)
--------------------------------------------------------------------------------
* **Purposes.** ChargePointMaxProfile only on connector 0 (the station cap).  TxDefaultProfile on
  connector 0 applies to every connector; a connector's own TxDefault profiles override connector 0's for
  that connector: at each instant the highest *active* stack level of the connector's own TxDefaults wins,
  and only when none of them is active do connector 0's apply.  TxProfile only on connector > 0 with an
  active transaction and a matching (or absent -> bound) transactionId; deleted when the transaction ends.
* **Stacking.** Per purpose the highest stack level that is active at the instant wins (validFrom <= t <
  validTo, inside its schedule and duration).  When it is not active (validFrom in the future, duration
  over, recurring gap) the next lower level applies, then TxDefault (for TxProfile), then no limit.
* **Combining.** limit = min(ChargePointMax share, TxProfile else TxDefault), per instant.
* **Replacement.** Same chargingProfileId (any connector) or same purpose + stackLevel on the same
  connector replaces the installed profile.
* **Kinds.** Absolute (startSchedule; missing -> validFrom, else time of receipt), Relative (from the
  transaction start; without a transaction from "now": for :meth:`limit` the first period, for
  :meth:`composite` from the requested start), Recurring Daily/Weekly (restart every 24 h / 7 d at
  startSchedule's time; periods at/after the recurrence length ignored; without startSchedule: validFrom,
  else 00:00 UTC / Monday 00:00 UTC).  Duration shorter than the periods cuts them; longer: the last period
  holds.
* **Units.** A = per phase, W = total.  W -> A per phase = W / (nominal_voltage x phases) where phases
  is the EV's phases in use when the caller passes ``phases``, else the period's numberPhases, else
  ``default_phases``.  A limits are applied as given whatever numberPhases says (errata 3.34: no rescale).
  All arithmetic is exact (Fraction); results are rounded DOWN to 0.1 and are never negative.
  minChargingRate is kept as a hint and never used as a floor.
* **Station cap sharing.** ChargePointMax caps the connectors' combined flow.  Distribution rule
  (:meth:`SmartChargingEngine.station_share`): the connectors that want power share the cap by
  water-filling (max-min fairness): each one's ceiling is min(own TxProfile/TxDefault limit,
  max_current_a, its demand if given); connectors below an equal share keep their ceiling, the rest is
  split equally; shares are rounded down, so their sum never exceeds the cap; idle connectors get 0 A.
  The runtime re-runs it when a connector starts/stops wanting power and at next_change().  The lower
  level primitive ``limit(c, t, others_a=x)`` gives cap - x (the headroom left by the others' draw).
  composite() for a connector shows the full cap (others drawing nothing); composite(0) is the station
  total = min(cap, sum over connectors of min(connector limit, max_current_a)).
* **Composite schedule.** From ``start`` (whole seconds) for ``duration_s``; every instant where any
  involved profile may change is a period boundary; adjacent equal periods merged; no startSchedule in the
  chargingSchedule (errata 3.57), scheduleStart given separately; no instant is ever empty (no limit ->
  the hardware maximum ``max_current_a``).

Choices worth knowing
---------------------
* A Relative profile ignores any startSchedule.  A Relative ChargePointMaxProfile belongs to no
  transaction, so it always runs "from now": limit() applies its first period, composite() unfolds it from
  the requested start (the one case where the two differ).
* composite() works in whole seconds from the truncated start; instants that fall inside the same second
  (sub-second validFrom etc.) are merged keeping the lower value.
* next_change() is conservative: it may return an instant where the value happens not to change (e.g. a
  boundary of a profile hidden by a higher stack level); it never misses a change.
* Errors: parsing raises ProfileError(field, message); check()/check_remote_start() answer a Verdict
  whose ``field`` names the offending field; queries on an unknown connector raise ValueError.
"""

from chargepoint.smartcharging.composite import CompositePeriod, CompositeSchedule, Limit, round_down_tenth
from chargepoint.smartcharging.engine import InstalledProfile, SmartChargingEngine, TransactionInfo
from chargepoint.smartcharging.model import (
    ChargingProfile,
    ChargingSchedule,
    Kind,
    ProfileError,
    Purpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
    Verdict,
)
from chargepoint.smartcharging.parsing import format_datetime, parse_datetime, parse_profile, profile_to_json

__all__ = [
    "ChargingProfile",
    "ChargingSchedule",
    "CompositePeriod",
    "CompositeSchedule",
    "InstalledProfile",
    "Kind",
    "Limit",
    "ProfileError",
    "Purpose",
    "RateUnit",
    "Recurrency",
    "SchedulePeriod",
    "SmartChargingEngine",
    "TransactionInfo",
    "Verdict",
    "format_datetime",
    "parse_datetime",
    "parse_profile",
    "profile_to_json",
    "round_down_tenth",
]
