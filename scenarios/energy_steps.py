"""The energy steps of a scenario (issue 12.5): ``grid_relay``, ``battery_current``, ``energy_settings``
and ``phases`` -- what the local API's routes do, replayed in virtual time.

* ``grid_relay: true | false | {limiting: bool} | {contact: open|closed}`` -- the sim board's grid-relay
  input (EnWG §14a); a contact is mapped with ``chargepoint.energy.grid_relay_limit_on`` (default open).
* ``battery_current: A | {current: A}`` -- one home-battery reading (A summed over the phases,
  + = charging), as ``POST /api/battery`` gives it: used in Solar only and ignored 60 s (virtual time)
  after it, unless another step feeds it again.
* ``energy_settings: {mode: smart, max_mains_a: 20, ...}`` -- ``POST /api/settings`` mid-run (the keys of
  docs/ENERGY.md, ``override_current_a`` included; all or nothing).
* ``phases: 1 | 3 | null`` -- ``POST /api/phases``: the manual 1-/3-phase request (null withdraws it).

:func:`parse` checks a step's value at load time (``file:line: field: message``, like every step);
:func:`apply` carries it out on the running stack.  Kept apart from schema.py / runner.py, which only
dispatch here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scenarios.loader import Located

if TYPE_CHECKING:
    from scenarios.schema import ChargePointSpec
    from scenarios.stack import Stack

KINDS = ("grid_relay", "battery_current", "energy_settings", "phases")
#: what ``POST /api/settings`` takes (chargepoint.services.energy.API_SETTINGS)
SETTINGS_KEYS = ("mode", "override_current_a", "max_mains_a", "max_circuit_a", "max_sum_mains_a",
                 "max_sum_mains_time_min", "start_current_a", "stop_time_min", "import_current_a", "enable_c2",
                 "grid_relay_max_sum_mains_a")


def parse(kind: str, a: Located, cp: ChargePointSpec) -> dict[str, Any]:
    """The step's arguments, or ScenarioError naming the file, line and field."""
    if kind == "grid_relay":
        return {"limiting": _grid_relay(a, cp)}
    if kind == "battery_current":
        node = a
        if a.is_map():
            a.map(("current",))
            node = a.get("current") or a
            if a.get("current") is None:
                raise a.missing("current")
        house = cp.sim.get("house")
        if isinstance(house, dict) and "battery" in house:
            raise a.fail("the sim house's battery already reports its current every cycle")
        return {"current_a": node.number(-199.9, 199.9)}
    if kind == "energy_settings":
        return {"changes": _settings(a.map(SETTINGS_KEYS), cp)}
    # phases
    phases = None if a.value is None else a.int(1, 3)
    if phases == 2:
        raise a.fail("must be 1, 3 or null (withdraw the request)")
    if phases is not None:
        why = _no_switch(cp)
        if why:
            raise a.fail(f"this charge point cannot switch phases: {why}")
    return {"phases": phases}


def _grid_relay(a: Located, cp: ChargePointSpec) -> bool:
    if isinstance(a.value, bool):
        return a.value
    a.map(("limiting", "contact"))
    if (n := a.get("limiting")) is not None:
        if a.get("contact") is not None:
            raise a.fail("give either limiting or contact")
        return n.bool()
    if (n := a.get("contact")) is not None:
        return n.choice(("open", "closed")) == cp.energy.get("grid_relay_limit_on", "open")
    raise a.fail("give limiting (true/false) or contact (open/closed)")


def _settings(a: Located, cp: ChargePointSpec) -> dict[str, Any]:
    from chargepoint.energy import EnergySettings

    changes = dict(a.value)
    if not changes:
        raise a.fail(f"give at least one of {', '.join(SETTINGS_KEYS)}")
    base = {k: v for k, v in cp.energy.items() if k in SETTINGS_KEYS and k != "override_current_a"}
    plain = {k: v for k, v in changes.items() if k != "override_current_a"}
    for key, value in plain.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise (a.get(key) or a).fail(f"must be a string or a number, got {value!r}")
    try:
        settings = EnergySettings(max_current_a=int(cp.max_current_a),
                                  min_current_a=int(cp.min_current_a)).updated({**base, **plain})
    except ValueError as exc:
        key = getattr(exc, "field", None)
        raise ((a.get(key) if key else None) or a).fail(str(exc)) from None
    if "override_current_a" in changes:
        ov, node = changes["override_current_a"], a.get("override_current_a") or a
        if ov is not None and (isinstance(ov, bool) or not isinstance(ov, int | float)
                               or not settings.min_current_a <= ov <= settings.max_current_a):
            raise node.fail("must be null or MinCurrent..MaxCurrent A")
        if ov is not None and settings.mode.value == "solar":
            raise node.fail("not accepted in solar mode (only null)")
    return changes


def _no_switch(cp: ChargePointSpec) -> str:
    if cp.phases != 3:
        return "a single-phase charge point (chargepoint.phases = 1)"
    if cp.sim.get("has_c2") is False:
        return "no C2 contactor (chargepoint.sim.has_c2 = false)"
    if cp.energy.get("enable_c2") == "not_present":
        return "enable_c2 = not_present"
    return ""


async def apply(stack: Stack, kind: str, a: dict[str, Any]) -> None:
    """Carry the step out; a refusal of the running charger raises ValueError (the runner reports it
    with the step's place)."""
    energy = stack.runtime.energy if stack.runtime is not None else None
    if energy is None:
        raise ValueError("the energy manager is not running")
    if kind == "grid_relay":
        stack.board.set_grid_relay(a["limiting"])
    elif kind == "battery_current":
        energy.feed_battery_api(a["current_a"])
    elif kind == "energy_settings":
        await energy.update(a["changes"])
    elif kind == "phases":
        await energy.request_phases(a["phases"])


def text(kind: str, a: dict[str, Any]) -> str:
    """The step as the run's event log shows it."""
    if kind == "grid_relay":
        return f"grid relay {'limiting' if a['limiting'] else 'released'}"
    if kind == "battery_current":
        return f"home battery current {a['current_a']:g} A"
    if kind == "energy_settings":
        return "energy settings: " + ", ".join(f"{k}={v}" for k, v in a["changes"].items())
    return f"phase request: {a['phases'] if a['phases'] is not None else 'withdrawn'}"
