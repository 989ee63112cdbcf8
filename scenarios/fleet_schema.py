"""The ``fleet:`` section of a scenario: many charge points instead of the one ``chargepoint``.

```yaml
fleet:
  id: "EV-{n:03d}"          # the fleet template's id pattern (chargepoint/fleet/template.py)
  first: 1
  count: 50
  ramp: 10/s                # boot rate ("0" = all at once)
  seed: 1                   # the behaviour's random numbers (same seed, same run)
  summary_every: 300        # a fleet summary line in the timeline every 300 s (default: duration / 12)
  chargepoint: {connectors: 1, meter_interval_s: 10, config: {MeterValueSampleInterval: 10}}
  behaviour: {arrivals_per_hour: 0.5, session_minutes: [20, 90], energy_kwh: [3, 20]}
  group:
    - {name: depot, numbers: 1-10, connectors: 2, behaviour: {charging_at_start: 1.0}}
steps:
  - {at: 600, group: depot, fault: {fault: rcd}}     # cp: ID, cp: [IDs] or group: NAME ('*' = all)
  - {at: 900, offline: 300}                          # fleet-wide: offline, csms, clock, csms_restart
  - {at: 1500, csms_restart: 60}                     # the CSMS's port is closed for 60 s (state kept)
  - {at: 1000, cp: EV-020, call: {action: Reset, payload: {type: Soft}, expect: Accepted}}
expect:
  - {fleet: {booted: 50, charging: {min: 5}, errors: 0}, at: 120}
  - {state: C2, at: 700, cp: EV-020}                 # state / energy / composite_schedule: one cp
  - {message: StartTransaction, cp: EV-020, min_count: 1}   # message / no_message / order: cp optional
```

The charge point steps and expectations are the single-charge-point ones (scenarios/schema.py) with a
target; a ``fleet`` expectation checks counts at a time (:data:`COUNTS`): a number is exact,
``{min: a, max: b}`` a range.  Every wrong value is ``file:line: field: message``, template values
included (``fleet.group[0].behaviour.ev_mix[0].phases``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chargepoint.fleet.template import FleetTemplate, TemplateError, template_from_dict
from scenarios.loader import Located, ScenarioError
from scenarios.schema import ChargePointSpec, Expectation, Step, _expectation, _step, _where

FLEET_KEYS = ("id", "first", "count", "ramp", "seed", "summary_every", "chargepoint", "behaviour", "group")
#: steps acting on charge points (they need cp: or group:) and steps acting on the whole fleet's CSMS
CP_STEPS = ("plug", "unplug", "ev", "rfid", "call", "fault", "temperature")
FLEET_STEPS = ("csms", "offline", "clock", "csms_restart")
#: expectations about one charge point (cp: required) and about what every charge point sent (cp: optional)
ONE_CP = ("state", "energy", "composite_schedule")
ANY_CP = ("message", "no_message", "order")
#: what a ``fleet`` expectation counts at its time
COUNTS = {
    "running": "members running",
    "connected": "members connected to the CSMS",
    "booted": "members whose BootNotification was Accepted",
    "heartbeating": "members that have sent a Heartbeat",
    "charging": "connectors in state C",
    "faulted": "members with an active fault",
    "queued": "transaction messages waiting in the members' outboxes",
    "errors": "member start/restart failures + behaviour failures + CSMS protocol violations + non-OCPP frames",
    "callerrors": "CALLERROR frames either way",
    "restarts": "in-process restarts of members (OCPP Reset)",
    "transactions_started": "StartTransactions the CSMS accepted",
    "transactions_stopped": "transactions the CSMS saw stopped",
    "transactions_open": "transactions started and not stopped at the CSMS",
    "arrivals": "EVs that arrived (behaviour)",
    "departures": "EVs that left (behaviour)",
}
MAX_COUNT = 100_000


@dataclass
class FleetSpec:
    template: FleetTemplate
    seed: int = 1
    summary_every: float | None = None
    #: per charge point id: its number of connectors; per group name: its ids
    connectors: dict[str, int] = field(default_factory=dict)
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    # -- steps ---------------------------------------------------------------------------------------
    def step(self, n: Located, cp: ChargePointSpec) -> Step:
        """One step of a fleet scenario; the single-CP step with a target (``cp`` / ``group``)."""
        n.map(("cp", "group", "at", "note", *CP_STEPS, *FLEET_STEPS))
        kind = next((k for k in n.keys() if k in CP_STEPS + FLEET_STEPS), None)
        targets = self._targets(n, required=kind in CP_STEPS, what=f"a {kind} step")
        if kind == "call" and len(targets) != 1:
            raise (n.get("group") or n).fail("a call goes to one charge point: give cp: ID")
        if kind == "csms_restart":  # the CSMS's port closes for that long; it keeps what it knows
            n.map(("at", "note", kind))
            if (at := n.get("at")) is None:
                raise n.missing("at")
            a = n.get(kind)
            assert a is not None
            return Step(at.number(lo=0), kind, {"seconds": a.number(lo=0, hi=86400)}, _where(a), targets=())
        step = _step(_without(n, ("cp", "group")), self._like(targets))
        step.targets = targets
        return step

    def _targets(self, n: Located, *, required: bool, what: str) -> tuple[str, ...]:
        cp_node, group_node = n.get("cp"), n.get("group")
        if cp_node is not None and group_node is not None:
            raise group_node.fail("give cp or group, not both")
        if not required:
            if cp_node is not None or group_node is not None:
                raise (cp_node or group_node).fail(f"{what} acts on the whole fleet's CSMS: no cp or group")  # type: ignore[union-attr]
            return ()
        if cp_node is not None:
            items = cp_node.list() if cp_node.is_list() else [cp_node]
            ids = []
            for item in items:
                cp_id = item.str()
                if cp_id not in self.connectors:
                    raise item.fail(f"no charge point {cp_id!r} in the fleet ({self._range()})")
                ids.append(cp_id)
            if not ids:
                raise cp_node.fail("list at least one charge point id")
            return tuple(ids)
        if group_node is not None:
            name = group_node.str()
            if name == "*":
                return tuple(self.connectors)
            if name not in self.groups:
                raise group_node.fail(f"no group {name!r} (groups: {', '.join(self.groups)}; '*' = every charge point)")
            return self.groups[name]
        raise n.fail(f"{what} needs cp: ID (or a list) or group: NAME ('*' = every charge point)")

    def _like(self, targets: tuple[str, ...]) -> ChargePointSpec:
        """A charge point spec whose connector range holds for every target (for the step's checks)."""
        return ChargePointSpec(connectors=min((self.connectors[t] for t in targets), default=8))

    def _range(self) -> str:
        ids = list(self.connectors)
        return f"{ids[0]} .. {ids[-1]}" if ids else "empty"

    # -- expectations ----------------------------------------------------------------------------------
    def expectation(self, n: Located, cp: ChargePointSpec) -> Expectation:
        if n.has("fleet"):
            return _counts(n)
        kind = next((k for k in n.map().keys() if k in ONE_CP + ANY_CP), None)
        targets: tuple[str, ...] = ()
        if kind in ONE_CP or n.has("cp"):
            if n.has("group"):
                raise n.get("group").fail("an expectation is about one charge point (cp) or the fleet (fleet:)")  # type: ignore[union-attr]
            targets = self._targets(n, required=True, what=f"a {kind} expectation")
            if len(targets) != 1:
                raise n.get("cp").fail("one charge point id")  # type: ignore[union-attr]
        exp = _expectation(_without(n, ("cp",)), self._like(targets) if targets else ChargePointSpec(connectors=8))
        if targets:
            exp.args["cp"] = targets[0]
        return exp


def parse_fleet(n: Located, chargepoint: Located | None) -> FleetSpec:
    if chargepoint is not None:
        raise chargepoint.fail("a fleet scenario has no chargepoint section: its charge points are "
                               "fleet.chargepoint and fleet.group")
    n.map(FLEET_KEYS)
    if (c := n.get("count")) is None:
        raise n.missing("count")
    c.int(1, MAX_COUNT)
    data: dict[str, Any] = {"fleet": {k: n.value[k] for k in ("id", "first", "count", "ramp") if k in n.value}}
    for key in ("chargepoint", "behaviour", "group"):
        if key in n.value:
            data[key] = n.value[key]
    try:
        template = template_from_dict(data)
        specs = list(template.specs())
    except TemplateError as exc:
        node, name = _locate(n, exc.path)
        raise ScenarioError(node.file, node.line, name, exc.message) from None
    spec = FleetSpec(template)
    if (c := n.get("seed")) is not None:
        spec.seed = c.int(0)
    if (c := n.get("summary_every")) is not None:
        spec.summary_every = c.number(lo=1)
    groups: dict[str, list[str]] = {}
    for s in specs:
        if s.cp_id in spec.connectors:
            raise (n.get("id") or n).fail(f"the id pattern gives {s.cp_id!r} twice")
        spec.connectors[s.cp_id] = s.connectors
        groups.setdefault(s.group, []).append(s.cp_id)
    spec.groups = {name: tuple(ids) for name, ids in groups.items()}
    return spec


def _counts(n: Located) -> Expectation:
    n.map(("fleet", "at", "description"))
    a = n.get("fleet")
    assert a is not None
    if (t := n.get("at")) is None:
        raise n.missing("at")
    args: dict[str, Any] = {"at": t.number(lo=0), "counts": {}}
    for key, c in a.map(tuple(COUNTS)).entries():
        if c.is_map():
            c.map(("min", "max"))
            lo = c.get("min").int(0) if c.get("min") else 0  # type: ignore[union-attr]
            hi = c.get("max").int(0) if c.get("max") else None  # type: ignore[union-attr]
            if hi is not None and hi < lo:
                raise c.fail(f"min {lo} > max {hi}")
            if not c.keys():
                raise c.fail("give min, max or both")
            args["counts"][key] = (lo, hi)
        else:
            v = c.int(0)
            args["counts"][key] = (v, v)
    if not args["counts"]:
        raise a.fail(f"give at least one count ({', '.join(COUNTS)})")
    desc = n.get("description").str() if n.get("description") else ""  # type: ignore[union-attr]
    return Expectation("fleet", args, _where(a), desc)


def _without(n: Located, keys: tuple[str, ...]) -> Located:
    """The mapping node without ``keys`` (the single-CP parser does not know them)."""
    children = {k: c for k, c in n.entries() if k not in keys}
    return Located({k: c.value for k, c in children.items()}, n.file, n.line, n.path, children)


_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _locate(fleet: Located, template_path: str) -> tuple[Located, str]:
    """The node (for its line) and the scenario field of a template error's path
    (``fleet.count`` -> ``fleet.count``, ``group[1].numbers`` -> ``fleet.group[1].numbers``)."""
    path = template_path.removeprefix("fleet.") if template_path.startswith("fleet.") else template_path
    node = fleet
    for name, index in _PART.findall(path):
        nxt = node.get(name) if name else (node.items()[int(index)] if int(index) < len(node.items()) else None)
        if nxt is None:
            break
        node = nxt
    field_name = f"{fleet.path}.{path}" if path else fleet.path
    return node, field_name.replace(".[", "[")


def describe_counts(counts: Mapping[str, tuple[int, int | None]]) -> str:
    parts = []
    for key, (lo, hi) in counts.items():
        parts.append(f"{key}={lo}" if lo == hi else f"{key}>={lo}" if hi is None else f"{key} in {lo}..{hi}")
    return ", ".join(parts)
