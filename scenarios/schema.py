"""The scenario model and its validation from YAML (see scenarios/README.md for the schema).

``load_scenario(path)`` / ``parse_scenario(text, file)`` return a :class:`Scenario` or raise
:class:`~scenarios.loader.ScenarioError` (``file:line: field: message``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chargepoint.clock import DEFAULT_VIRTUAL_START
from chargepoint.csms.behaviour import CP_ACTIONS, Behaviour, BehaviourError
from scenarios import energy_steps, rs485
from scenarios.loader import Located, ScenarioError, load_yaml

if TYPE_CHECKING:
    from scenarios.fleet_schema import FleetSpec

FAULTS = ("rcd", "overtemp", "weld", "contactor", "lock", "meter", "diode", "pilot_short", "panic")
CONTROLLER_FAULTS = ("rcd", "overtemp", "diode", "weld", "contactor", "lock", "meter", "pilot", "board")
SUBSTATES = ("A", "B1", "B2", "C1", "C2", "D", "E", "F")
IEC_STATES = ("A", "B", "C", "D", "E", "F")
STATUSES = ("Available", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Reserved",
            "Unavailable", "Faulted")
SIM_KEYS = ("meter_interval_s", "relay_delay_s", "lock_pulse_s", "ev_reaction_s", "ev_request_delay_s",
            "ev_stop_delay_s", "ev_update_s", "temperature_c", "overtemp_c", "ev_capacity_kwh", "ev_soc",
            "ev_max_current_a", "ev_phases", "voltage_v", "has_c2", "house", "ev_asleep")
CSMS_TO_CP_ACTIONS = (
    "CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache", "ClearChargingProfile",
    "DataTransfer", "GetCompositeSchedule", "GetConfiguration", "GetDiagnostics", "GetLocalListVersion",
    "RemoteStartTransaction", "RemoteStopTransaction", "ReserveNow", "Reset", "SendLocalList",
    "SetChargingProfile", "TriggerMessage", "UnlockConnector", "UpdateFirmware",
    "ExtendedTriggerMessage", "CertificateSigned", "DeleteCertificate", "GetInstalledCertificateIds", "GetLog",
    "InstallCertificate", "SignedUpdateFirmware",
)


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Where:
    file: str
    line: int
    field: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class ChargePointSpec:
    id: str = "CP-1"
    connectors: int = 1
    max_current_a: float = 16.0
    min_current_a: float = 6.0
    hardware_max_current_a: float = 32.0
    phases: int = 3
    has_lock: bool = True
    fixed_cable: bool = False
    config: dict[str, str] = field(default_factory=dict)
    sim: dict[str, Any] = field(default_factory=dict)
    #: the [energy] table (EnergySettings keys + override_current_a / mains_meter / ev_meters); with it or
    #: a ``sim.house`` the stack runs the EnergyService (docs/ENERGY.md)
    energy: dict[str, Any] = field(default_factory=dict)
    vendor: str = "SmartEVSE"
    model: str = "SmartEVSE-OCPP"
    serial: str = "SIM-0001"
    firmware: str = "0.1.0"
    #: "sim", or "smartevse-rs485": emulated SmartEVSE nodes on a loopback bus (scenarios/rs485.py)
    backend: str = "sim"
    nodes: tuple[int, ...] = ()  # smartevse-rs485: the node addresses (connector N = the Nth)
    base_load_a: float = 0.0  # smartevse-rs485: the house's load per phase on the bus's mains meter


@dataclass
class Step:
    at: float
    kind: str  # plug unplug ev rfid call fault temperature mains csms offline clock load + energy_steps.KINDS
    args: dict[str, Any]
    where: Where
    #: for a call: the expected response (status / payload subset / error_code)
    expect: dict[str, Any] | None = None
    #: in a fleet scenario: the ids of the charge points the step acts on (() = the whole fleet's CSMS)
    targets: tuple[str, ...] | None = None


@dataclass
class Expectation:
    kind: str  # message no_message order state energy composite_schedule response
    args: dict[str, Any]
    where: Where
    description: str = ""


@dataclass
class Scenario:
    name: str
    file: str
    description: str = ""
    tags: list[str] = field(default_factory=list)
    duration: float = 60.0
    start: datetime = DEFAULT_VIRTUAL_START
    chargepoint: ChargePointSpec = field(default_factory=ChargePointSpec)
    csms: dict[str, Any] = field(default_factory=dict)  # Behaviour.update() changes
    steps: list[Step] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)
    #: a fleet of charge points instead of the one ``chargepoint`` (scenarios/fleet_schema.py)
    fleet: FleetSpec | None = None


# --------------------------------------------------------------------------- parsing

TOP = ("name", "description", "tags", "duration", "start", "chargepoint", "csms", "steps", "expect", "fleet")


def load_scenario(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(p), 0, "(file)", exc.strerror or str(exc)) from None
    return parse_scenario(text, str(p))


def parse_scenario(text: str, file: str = "<scenario>") -> Scenario:
    root = load_yaml(text, file).map(TOP)
    name_node = root.get("name")
    if name_node is None:
        raise root.missing("name")
    scn = Scenario(name=name_node.str(), file=file)
    if (n := root.get("description")) is not None:
        scn.description = n.str()
    if (n := root.get("tags")) is not None:
        scn.tags = [t.str() for t in n.list()]
        if not scn.tags:
            raise n.fail("list at least one tag (the OCTT case or SmartEVSE behaviour mirrored)")
    if (n := root.get("start")) is not None:
        scn.start = _datetime(n)
    if (n := root.get("chargepoint")) is not None:
        scn.chargepoint = _chargepoint(n)
    if (n := root.get("csms")) is not None:
        scn.csms = _csms(n)
    if (n := root.get("fleet")) is not None:  # a fleet scenario: its own steps and expectations
        from scenarios import fleet_schema

        scn.fleet = fleet_schema.parse_fleet(n, root.get("chargepoint"))
        step, expectation = scn.fleet.step, scn.fleet.expectation
    else:
        step, expectation = _step, _expectation
    if (n := root.get("steps")) is not None:
        scn.steps = [step(s, scn.chargepoint) for s in n.list()]
    if (n := root.get("expect")) is not None:
        scn.expectations = [expectation(e, scn.chargepoint) for e in n.list()]
    last = max([s.at for s in scn.steps] + [_latest(e) for e in scn.expectations] + [0.0])
    if (n := root.get("duration")) is not None:
        scn.duration = n.number(lo=0.001, hi=366 * 86400)
        if scn.duration < last:
            raise n.fail(f"must cover every step and expectation (the last one is at {last:g} s)")
    else:
        scn.duration = last + 30.0
    for s in scn.steps:
        if s.expect is not None:
            scn.expectations.append(Expectation("response", {"step": s}, s.where, f"response to {s.args['action']}"))
    return scn


def _latest(e: Expectation) -> float:
    times = [e.args.get(k) for k in ("at", "after", "before")]
    return max([t for t in times if isinstance(t, int | float)] + [0.0])


def _where(n: Located) -> Where:
    return Where(n.file, n.line, n.path)


def _datetime(n: Located) -> datetime:
    text = n.str()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise n.fail(f"must be an ISO 8601 date-time such as 2026-01-05T08:00:00Z, got {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _chargepoint(n: Located) -> ChargePointSpec:
    n.map(("id", "connectors", "max_current", "min_current", "hardware_max_current", "phases", "has_lock",
           "fixed_cable", "config", "sim", "energy", "vendor", "model", "serial", "firmware", *rs485.KEYS))
    cp = ChargePointSpec()
    if (c := n.get("id")) is not None:
        cp.id = c.str()
        if not cp.id or "/" in cp.id:
            raise c.fail("must be a non-empty identity without '/'")
    if (c := n.get("connectors")) is not None:
        cp.connectors = c.int(1, 8)
    for key, limit in (("vendor", 20), ("model", 20), ("serial", 25), ("firmware", 50)):
        if (c := n.get(key)) is not None:
            text = str(c.value) if isinstance(c.value, int | float) and not isinstance(c.value, bool) else c.str()
            if not 0 < len(text) <= limit:
                raise c.fail(f"must have 1..{limit} characters (BootNotification)")
            setattr(cp, key, text)
    if (c := n.get("max_current")) is not None:
        cp.max_current_a = c.number(6, 80)
    if (c := n.get("min_current")) is not None:
        cp.min_current_a = c.number(6, 16)
    if (c := n.get("hardware_max_current")) is not None:
        cp.hardware_max_current_a = c.number(6, 80)
    if (c := n.get("phases")) is not None:
        cp.phases = c.int(1, 3)
        if cp.phases == 2:
            raise c.fail("must be 1 or 3")
    if (c := n.get("has_lock")) is not None:
        cp.has_lock = c.bool()
    if (c := n.get("fixed_cable")) is not None:
        cp.fixed_cable = c.bool()
    if cp.min_current_a > cp.max_current_a:
        raise (n.get("min_current") or n).fail(
            f"min_current {cp.min_current_a:g} must not exceed max_current {cp.max_current_a:g}")
    if (c := n.get("config")) is not None:
        for key, value in c.map().entries():
            if isinstance(value.value, bool):
                cp.config[key] = "true" if value.value else "false"
            elif isinstance(value.value, int | float | str):
                cp.config[key] = str(value.value)
            elif isinstance(value.value, list) and all(isinstance(v, str) for v in value.value):
                cp.config[key] = ",".join(value.value)
            else:
                raise value.fail("an OCPP configuration value must be a string, number, boolean or list of strings")
    if (c := n.get("sim")) is not None:
        c.map(SIM_KEYS)
        for key, value in c.entries():
            if key in ("has_c2", "ev_asleep"):
                cp.sim[key] = value.bool()
            elif key == "house":
                cp.sim[key] = value.map().value
                try:
                    from backends.sim.house import parse_house_options

                    parse_house_options(cp.sim[key])
                except ValueError as exc:
                    raise value.fail(str(exc)) from None
            elif key == "ev_phases":
                cp.sim[key] = value.int(1, 3)
            else:
                cp.sim[key] = value.number(lo=0)
        try:
            from backends.sim import SimOptions

            SimOptions.from_mapping({"connectors": cp.connectors, **cp.sim})
        except ValueError as exc:
            raise c.fail(str(exc)) from None
    if (c := n.get("energy")) is not None:
        cp.energy = dict(c.map().value)
        _check_energy(c, cp)
    rs485.parse_chargepoint(n, cp)
    return cp


def _check_energy(n: Located, cp: ChargePointSpec) -> None:
    from chargepoint.energy import EnergySettings

    table = dict(cp.energy)
    extra = {k: table.pop(k) for k in ("override_current_a", "mains_meter", "ev_meters", "grid_relay_limit_on")
             if k in table}
    try:
        settings = EnergySettings(max_current_a=int(cp.max_current_a),
                                  min_current_a=int(cp.min_current_a)).updated(table)
    except ValueError as exc:
        key = getattr(exc, "field", None)
        raise ((n.get(key) if key else None) or n).fail(str(exc)) from None
    if extra.get("mains_meter", "meter") != "meter":
        raise (n.get("mains_meter") or n).fail("scenarios feed the mains from the sim house or mains steps: "
                                              "only 'meter'")
    ov = extra.get("override_current_a")
    if ov is not None and (isinstance(ov, bool) or not isinstance(ov, int | float)
                           or not settings.min_current_a <= ov <= settings.max_current_a):
        raise (n.get("override_current_a") or n).fail("must be MinCurrent..MaxCurrent A")
    if not isinstance(extra.get("ev_meters", False), bool):
        raise (n.get("ev_meters") or n).fail("must be true or false")
    if extra.get("grid_relay_limit_on", "open") not in ("open", "closed"):
        raise (n.get("grid_relay_limit_on") or n).fail("must be open or closed (the contact position that limits)")


def _csms(n: Located) -> dict[str, Any]:
    n.map(("boot", "heartbeat_interval", "whitelist", "delays", "errors", "data_transfer_status", "call_timeout"))
    changes: dict[str, Any] = {}
    for key, c in n.entries():
        if key == "boot":
            if isinstance(c.value, str):
                changes["boot_status"] = c.value
            else:
                c.map(("status", "interval"))
                if (s := c.get("status")) is None:
                    raise c.missing("status")
                changes["boot_status"] = s.value
                if (i := c.get("interval")) is not None:
                    changes["boot_retry_interval"] = i.value
        else:
            changes[key] = c.value
    _check_behaviour(n, changes)
    return changes


_BEHAVIOUR_FIELD = {"boot_status": "boot", "boot_retry_interval": "boot.interval"}


def _check_behaviour(n: Located, changes: dict[str, Any]) -> None:
    try:
        Behaviour().update(changes)
    except BehaviourError as exc:
        name = _BEHAVIOUR_FIELD.get(exc.field, exc.field)
        node = n
        for part in name.split("."):
            nxt = node.get(part)
            if nxt is None:
                break
            node = nxt
        raise ScenarioError(node.file, node.line, f"{n.path}.{name}", exc.message) from None


def _connector(n: Located | None, cp: ChargePointSpec, default: int = 1, allow_zero: bool = False) -> int:
    if n is None:
        return default
    return n.int(0 if allow_zero else 1, cp.connectors)


STEP_KINDS = ("plug", "unplug", "ev", "rfid", "call", "fault", "temperature", "mains", "csms", "offline", "clock",
              "load", *energy_steps.KINDS, *rs485.STEP_KINDS)


def _step(n: Located, cp: ChargePointSpec) -> Step:
    c: Located | None  # the child being read, in every branch below
    n.map(("at", "note", *STEP_KINDS))
    at_node = n.get("at")
    if at_node is None:
        raise n.missing("at")
    at = at_node.number(lo=0)
    kinds = [k for k in n.keys() if k in STEP_KINDS]
    if len(kinds) != 1:
        raise n.fail(f"a step has exactly one action ({', '.join(STEP_KINDS)}), found {len(kinds)}")
    kind = kinds[0]
    a = n.get(kind)
    assert a is not None
    where = _where(a)
    args: dict[str, Any] = {}
    expect: dict[str, Any] | None = None
    if (node_args := rs485.step_args(kind, a, cp)) is not None:
        return Step(at, kind, node_args, where)
    if kind in energy_steps.KINDS:  # grid_relay battery_current energy_settings phases
        args = energy_steps.parse(kind, a, cp)
    elif kind == "plug":
        if a.value is None or isinstance(a.value, int):
            args = {"connector": _connector(a if a.value is not None else None, cp), "cable_a": 32.0}
        else:
            a.map(("connector", "cable"))
            args = {"connector": _connector(a.get("connector"), cp),
                    "cable_a": a.get("cable").number(6, 80) if a.get("cable") else 32.0}  # type: ignore[union-attr]
    elif kind == "unplug":
        if a.value is None or isinstance(a.value, int):
            args = {"connector": _connector(a if a.value is not None else None, cp)}
        else:
            a.map(("connector",))
            args = {"connector": _connector(a.get("connector"), cp)}
    elif kind == "ev":
        a.map(("connector", "charging", "max_current", "phases", "soc", "capacity_kwh"))
        args = {"connector": _connector(a.get("connector"), cp)}
        for key, c in a.entries():
            if key == "charging":
                args["charging"] = c.bool()
            elif key == "max_current":
                args["max_current_a"] = c.number(0, 80)
            elif key == "phases":
                args["phases"] = c.int(1, 3)
                if args["phases"] == 2:
                    raise c.fail("must be 1 or 3")
            elif key == "soc":
                args["soc"] = c.number(0, 100)
            elif key == "capacity_kwh":
                args["capacity_kwh"] = c.number(lo=0.1)
        if len(args) == 1:
            raise a.fail("give at least one of charging, max_current, phases, soc, capacity_kwh")
    elif kind == "rfid":
        if isinstance(a.value, str):
            args = {"id_tag": a.value, "connector": 0}
            node = a
        else:
            a.map(("id_tag", "connector"))
            node = a.get("id_tag") or a
            if a.get("id_tag") is None:
                raise a.missing("id_tag")
            args = {"id_tag": node.str(), "connector": _connector(a.get("connector"), cp, 0, allow_zero=True)}
        if not 0 < len(args["id_tag"]) <= 20:
            raise node.fail("an idTag has 1..20 characters")
    elif kind == "call":
        a.map(("action", "payload", "expect", "timeout"))
        act = a.get("action")
        if act is None:
            raise a.missing("action")
        action = act.str()
        if action not in CSMS_TO_CP_ACTIONS:
            raise act.fail(f"not a CSMS -> charge point action (one of {', '.join(CSMS_TO_CP_ACTIONS)})")
        payload = a.get("payload")
        args = {"action": action, "payload": {} if payload is None else payload.map().value,
                "timeout": a.get("timeout").number(lo=0.1) if a.get("timeout") else 30.0}  # type: ignore[union-attr]
        if (e := a.get("expect")) is not None:
            expect = _response_expect(e)
    elif kind == "fault":
        a.map(("connector", "fault", "active"))
        f = a.get("fault")
        if f is None:
            raise a.missing("fault")
        args = {"connector": _connector(a.get("connector"), cp, 1, allow_zero=True), "fault": f.choice(FAULTS),
                "active": a.get("active").bool() if a.get("active") else True}  # type: ignore[union-attr]
    elif kind == "temperature":
        a.map(("connector", "celsius"))
        c = a.get("celsius")
        if c is None:
            raise a.missing("celsius")
        args = {"connector": _connector(a.get("connector"), cp), "celsius": c.number(-40, 150)}
    elif kind == "mains":
        a.map(("currents", "voltage"))
        c = a.get("currents")
        if c is None:
            raise a.missing("currents")
        currents = [x.number(-1000, 1000) for x in c.list()]
        if len(currents) != 3:
            raise c.fail("give three phase currents [L1, L2, L3] in A")
        args = {"currents": currents, "voltage": a.get("voltage").number(100, 400) if a.get("voltage") else 230.0}  # type: ignore[union-attr]
    elif kind == "csms":
        changes = a.map().value
        if "offline_seconds" in changes:
            raise a.get("offline_seconds").fail("use an 'offline' step")  # type: ignore[union-attr]
        _check_behaviour(a, changes)
        args = {"changes": changes}
    elif kind == "offline":
        args = {"seconds": a.number(lo=0)}
    elif kind == "load":  # a named load of the simulated house on (currents) or off ([0, 0, 0])
        a.map(("name", "currents", "subpanel"))
        if a.get("name") is None:
            raise a.missing("name")
        c = a.get("currents")
        if c is None:
            raise a.missing("currents")
        currents = [x.number(0, 200) for x in c.list()]
        if len(currents) != 3:
            raise c.fail("give three phase currents [L1, L2, L3] in A")
        if "house" not in cp.sim:
            raise a.fail("a load needs chargepoint.sim.house")
        args = {"name": a.get("name").str(), "currents": currents,  # type: ignore[union-attr]
                "subpanel": a.get("subpanel").bool() if a.get("subpanel") else False}  # type: ignore[union-attr]
    elif kind == "clock":
        a.map(("jump",))
        j = a.get("jump")
        if j is None:
            raise a.missing("jump")
        args = {"jump": j.number(-366 * 86400, 366 * 86400)}
    rs485.check_ev_step(kind, a, args, cp)
    return Step(at, kind, args, where, expect)


def _response_expect(e: Located) -> dict[str, Any]:
    if isinstance(e.value, str):
        return {"payload": {"status": e.value}}
    e.map(("status", "payload", "error_code"))
    out: dict[str, Any] = {}
    if (s := e.get("status")) is not None:
        out["payload"] = {"status": s.str()}
    if (p := e.get("payload")) is not None:
        out["payload"] = {**out.get("payload", {}), **p.map().value}
    if (c := e.get("error_code")) is not None:
        out["error_code"] = c.str()
        if "payload" in out:
            raise c.fail("expect either a CALLERROR (error_code) or a CALLRESULT (status / payload)")
    if not out:
        raise e.fail("give status, payload or error_code")
    return out


EXPECT_KINDS = ("message", "no_message", "order", "state", "energy", "composite_schedule", *rs485.EXPECT_KINDS)


def _window(a: Located, args: dict[str, Any]) -> None:
    if (w := a.get("within")) is not None:
        items = w.list()
        if len(items) != 2:
            raise w.fail("must be [from, to] in seconds")
        args["after"], args["before"] = items[0].number(lo=0), items[1].number(lo=0)
        if args["after"] > args["before"]:
            raise w.fail("from must not be after to")
    if (x := a.get("after")) is not None:
        args["after"] = x.number(lo=0)
    if (x := a.get("before")) is not None:
        args["before"] = x.number(lo=0)


def _action(n: Located) -> str:
    action = n.str()
    if action not in CP_ACTIONS:
        raise n.fail(f"not a charge point -> CSMS action (one of {', '.join(CP_ACTIONS)})")
    return action


def _expectation(n: Located, cp: ChargePointSpec) -> Expectation:
    kinds = [k for k in n.map().keys() if k in EXPECT_KINDS]
    if len(kinds) != 1:
        raise n.fail(f"an expectation has exactly one of {', '.join(EXPECT_KINDS)}, found {len(kinds)}")
    kind = kinds[0]
    a = n.get(kind)
    assert a is not None
    args: dict[str, Any] = {}
    desc = n.get("description").str() if n.get("description") else ""  # type: ignore[union-attr]
    if kind in rs485.EXPECT_KINDS:
        args = rs485.expectation_args(n, cp)
        _window(n, args)
    elif kind in ("message", "no_message"):
        n.map((kind, "payload", "within", "after", "before", "count", "min_count", "description"))
        args["action"] = _action(a)
        if (p := n.get("payload")) is not None:
            args["payload"] = p.map().value
        _window(n, args)
        if (c := n.get("count")) is not None:
            if kind == "no_message":
                raise c.fail("no_message means count 0")
            args["count"] = c.int(0)
        if (c := n.get("min_count")) is not None:
            if kind == "no_message":
                raise c.fail("no_message means count 0")
            args["min_count"] = c.int(1)
    elif kind == "order":
        n.map(("order", "description"))
        seq: list[dict[str, Any]] = []
        for item in a.list():
            if isinstance(item.value, str):
                seq.append({"action": _action(item)})
            else:
                item.map(("message", "payload"))
                if item.get("message") is None:
                    raise item.missing("message")
                seq.append({"action": _action(item.get("message")),  # type: ignore[arg-type]
                            "payload": item.get("payload").map().value if item.get("payload") else None})  # type: ignore[union-attr]
        if len(seq) < 2:
            raise a.fail("list at least two messages")
        args["sequence"] = seq
    elif kind == "state":
        n.map(("state", "at", "connector", "offered", "contactors", "status", "binding_limit", "locked",
               "authorized", "faults", "phases", "description"))
        if (t := n.get("at")) is None:
            raise n.missing("at")
        args["at"] = t.number(lo=0)
        args["connector"] = _connector(n.get("connector"), cp, 1, allow_zero=True)
        if a.value is not None:
            args["state"] = a.choice(SUBSTATES + tuple(s for s in IEC_STATES if s not in SUBSTATES))
        if (c := n.get("offered")) is not None:
            args["offered"] = c.number(lo=0)
        if (c := n.get("contactors")) is not None:
            args["contactors"] = c.choice(("open", "closed"))
        if (c := n.get("status")) is not None:
            args["status"] = c.choice(STATUSES)
        if (c := n.get("binding_limit")) is not None:
            args["binding_limit"] = c.str()
        if (c := n.get("locked")) is not None:
            args["locked"] = c.bool()
        if (c := n.get("authorized")) is not None:
            args["authorized"] = c.bool()
        if (c := n.get("faults")) is not None:
            args["faults"] = sorted(x.choice(CONTROLLER_FAULTS) for x in c.list())
        if (c := n.get("phases")) is not None:
            args["phases"] = c.int(1, 3)
            if args["phases"] == 2:
                raise c.fail("must be 1 or 3")
        if args["connector"] == 0 and set(args) - {"at", "connector", "status"}:
            raise n.fail("connector 0 has only a status")
        if len(args) == 2:
            raise n.fail("give at least one of state, offered, contactors, status, binding_limit, locked, "
                         "authorized, faults")
    elif kind == "energy":
        n.map(("energy", "at", "connector", "tolerance", "description"))
        args["wh"] = a.number(lo=0)
        if (t := n.get("at")) is None:
            raise n.missing("at")
        args["at"] = t.number(lo=0)
        args["connector"] = _connector(n.get("connector"), cp)
        args["tolerance"] = n.get("tolerance").number(lo=0) if n.get("tolerance") else 1.0  # type: ignore[union-attr]
    elif kind == "composite_schedule":
        n.map(("composite_schedule", "at", "connector", "duration", "unit", "tolerance", "description"))
        if (t := n.get("at")) is None:
            raise n.missing("at")
        args["at"] = t.number(lo=0)
        args["connector"] = _connector(n.get("connector"), cp, 0, allow_zero=True)
        args["duration"] = n.get("duration").int(1) if n.get("duration") else 86400  # type: ignore[union-attr]
        args["unit"] = n.get("unit").choice(("A", "W")) if n.get("unit") else "A"  # type: ignore[union-attr]
        args["tolerance"] = n.get("tolerance").number(lo=0) if n.get("tolerance") else 0.05  # type: ignore[union-attr]
        periods: list[tuple[float, float]] = []
        for row in a.list():
            cells = row.list()
            if len(cells) != 2:
                raise row.fail("a period is [startPeriod seconds, limit]")
            periods.append((cells[0].number(lo=0), cells[1].number(lo=0)))
        if not periods:
            raise a.fail("list at least one period [startPeriod, limit]")
        args["periods"] = periods
    return Expectation(kind, args, _where(a), desc)
