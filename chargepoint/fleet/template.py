"""The fleet template: a TOML or YAML file (or the same as a dict) -> one :class:`CpSpec` per charge point.

```toml
[fleet]
id = "CP-{n:05d}"          # id pattern; {n} is the charge point's number
first = 1                  # first number
count = 100                # how many
csms_url = "ws://127.0.0.1:9000/ocpp"
ramp = "100/s"             # boot rate ("0" = all at once)

[chargepoint]              # defaults of every charge point
connectors = 1
max_current_a = 32
phases = 3
security_profile = 0
password = "{id}-secret"   # per CP: {id} and {n} are filled in
meter_interval_s = 10

[chargepoint.config]       # OCPP configuration keys (initial values)
HeartbeatInterval = 60
MeterValueSampleInterval = 10

[behaviour]                # default behaviour (see spec.Behaviour)
arrivals_per_hour = 0.5
session_minutes = [30, 120]
energy_kwh = [5, 30]
ev_mix = [{phases = 3, max_current_a = 16, weight = 3}, {phases = 1, max_current_a = 32}]
rfid_tags = ["TAG-1", "TAG-2"]
faults_per_hour = 0.01
fault_kinds = ["rcd", "overtemp"]

[[group]]                  # a range of numbers with its own settings / behaviour
name = "depot"
numbers = "1-50"           # "a-b", "a-b,c", or a list
connectors = 2
behaviour = {charging_at_start = 1.0, session_minutes = [600, 600]}
```

Every mistake raises :class:`TemplateError` naming the field (``group[1].behaviour.ev_mix[0].phases``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from backends.sim import FAULTS
from chargepoint.config import ConfigError
from chargepoint.fleet.spec import Behaviour, CpSpec, EvType

FAULT_KINDS = FAULTS  # the faults the simulated board can inject


class TemplateError(ConfigError):
    """A fleet template value is wrong; the message names the field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(path, message)
        self.path = path


@dataclass(frozen=True)
class Group:
    name: str
    numbers: frozenset[int] | None  # None: every number not taken by another group
    settings: Mapping[str, Any]
    behaviour: Behaviour


@dataclass(frozen=True)
class FleetTemplate:
    id_pattern: str = "CP-{n:05d}"
    first: int = 1
    count: int = 1
    csms_url: str = "ws://127.0.0.1:9000/ocpp"
    ramp_per_s: float = 100.0  # 0 = all at once
    defaults: Mapping[str, Any] = field(default_factory=dict)
    behaviour: Behaviour = field(default_factory=Behaviour)
    groups: tuple[Group, ...] = ()

    def numbers(self) -> range:
        return range(self.first, self.first + self.count)

    def cp_id(self, n: int) -> str:
        return format_id(self.id_pattern, n, "fleet.id")

    def specs(self, numbers: Iterator[int] | range | None = None) -> Iterator[CpSpec]:
        """One spec per number (default: all), with its group's settings and behaviour."""
        for n in numbers if numbers is not None else self.numbers():
            yield self.spec(n)

    def spec(self, n: int) -> CpSpec:
        group = next((g for g in self.groups if g.numbers is not None and n in g.numbers), None)
        if group is None:
            group = next((g for g in self.groups if g.numbers is None), None)
        settings = dict(self.defaults)
        behaviour = self.behaviour
        name = "default"
        if group is not None:
            settings.update(group.settings)
            behaviour = group.behaviour
            name = group.name
        cp_id = self.cp_id(n)
        password = settings.get("password")
        return CpSpec(
            cp_id=cp_id, n=n, group=name, connectors=int(settings.get("connectors", 1)),
            max_current_a=float(settings.get("max_current_a", 32.0)), phases=int(settings.get("phases", 3)),
            security_profile=int(settings.get("security_profile", 0)),
            password=str(password).format(id=cp_id, n=n) if password else None,
            ca_file=settings.get("ca_file"), vendor=str(settings.get("vendor", "SmartEVSE")),
            model=str(settings.get("model", "SmartEVSE-Fleet")),
            meter_interval_s=float(settings.get("meter_interval_s", 10.0)),
            idle_meter_interval_s=float(settings.get("idle_meter_interval_s", 300.0)),
            reconnect_min_s=float(settings.get("reconnect_min_s", 1.0)),
            reconnect_max_s=float(settings.get("reconnect_max_s", 60.0)),
            config_keys=tuple(sorted(settings.get("config", {}).items())), behaviour=behaviour,
        )

    def with_overrides(self, **changes: Any) -> FleetTemplate:
        """A copy with fleet-level fields replaced (the command line wins over the file)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if "id_pattern" in changes:
            format_id(changes["id_pattern"], 1, "--id")
        return replace(self, **changes)


def format_id(pattern: str, n: int, path: str) -> str:
    try:
        value = pattern.format(n=n)
    except (KeyError, IndexError, ValueError) as e:
        raise TemplateError(path, f"bad id pattern {pattern!r} (use {{n}}, e.g. CP-{{n:05d}}): {e}") from None
    if not value or len(value) > 48:
        raise TemplateError(path, f"id {value!r} must be 1..48 characters")
    return value


def parse_ramp(text: Any, path: str = "fleet.ramp") -> float:
    """``"100/s"``, ``"6000/min"``, ``100`` (per second) or ``0`` (no ramp) -> charge points per second."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        rate = float(text)
    elif isinstance(text, str):
        number, _, unit = text.strip().partition("/")
        per = {"": 1.0, "s": 1.0, "min": 60.0, "h": 3600.0}.get(unit.strip())
        try:
            rate = float(number)
        except ValueError:
            rate = -1.0
        if per is None or rate < 0:
            raise TemplateError(path, f"expected a rate like '100/s' or '600/min', got {text!r}")
        rate /= per
    else:
        raise TemplateError(path, f"expected a rate like '100/s', got {text!r}")
    if rate < 0:
        raise TemplateError(path, "must be >= 0")
    return rate


def parse_numbers(value: Any, path: str) -> frozenset[int]:
    """``"1-50"``, ``"1-10,20,30-32"``, ``7`` or ``[1, 2, "5-9"]`` -> the set of numbers."""
    items: list[Any] = value if isinstance(value, list) else [value]
    out: set[int] = set()
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            lo, sep, hi = part.partition("-")
            try:
                a = int(lo)
                b = int(hi) if sep else a
            except ValueError:
                raise TemplateError(path, f"expected numbers like '1-50' or '3,7', got {part!r}") from None
            if b < a:
                raise TemplateError(path, f"range {part!r} is empty")
            out.update(range(a, b + 1))
    return frozenset(out)


# -- the file -----------------------------------------------------------------------------------------
_FLEET_KEYS = {"id", "first", "count", "csms_url", "ramp"}
_CP_KEYS = {"connectors", "max_current_a", "phases", "security_profile", "password", "ca_file", "vendor",
            "model", "meter_interval_s", "idle_meter_interval_s", "reconnect_min_s", "reconnect_max_s", "config"}
_BEHAVIOUR_KEYS = {"arrivals_per_hour", "schedule", "schedule_repeat_s", "session_minutes", "energy_kwh", "ev_mix",
                   "rfid_tags", "faults_per_hour", "fault_kinds", "fault_s", "charging_at_start"}


def load_template(path: str | Path) -> FleetTemplate:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise TemplateError(str(p), f"cannot read: {e.strerror}") from None
    try:
        data: Any = yaml.safe_load(text) if p.suffix in (".yaml", ".yml") else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as e:
        raise TemplateError(str(p), f"not valid {'YAML' if p.suffix in ('.yaml', '.yml') else 'TOML'}: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TemplateError(str(p), "must be a table/mapping")
    return template_from_dict(data)


def template_from_dict(data: Mapping[str, Any]) -> FleetTemplate:
    _unknown(data, {"fleet", "chargepoint", "behaviour", "group"}, "")
    fleet = _table(data.get("fleet", {}), "fleet")
    _unknown(fleet, _FLEET_KEYS, "fleet.")
    pattern = _str(fleet.get("id", "CP-{n:05d}"), "fleet.id")
    format_id(pattern, 1, "fleet.id")
    url = _str(fleet.get("csms_url", "ws://127.0.0.1:9000/ocpp"), "fleet.csms_url")
    if not url.startswith(("ws://", "wss://")):
        raise TemplateError("fleet.csms_url", f"must start with ws:// or wss://, got {url!r}")
    defaults = _settings(data.get("chargepoint", {}), "chargepoint")
    groups = []
    default_behaviour = parse_behaviour(data.get("behaviour", {}), "behaviour")
    raw_groups = data.get("group", [])
    if not isinstance(raw_groups, list):
        raise TemplateError("group", "must be a list of tables ([[group]])")
    taken: set[int] = set()
    for i, g in enumerate(raw_groups):
        where = f"group[{i}]"
        g = _table(g, where)
        _unknown(g, {"name", "numbers", "behaviour"} | _CP_KEYS, where + ".")
        numbers = parse_numbers(g["numbers"], where + ".numbers") if "numbers" in g else None
        if numbers is not None and numbers & taken:
            raise TemplateError(where + ".numbers", f"overlaps another group at {min(numbers & taken)}")
        taken |= numbers or set()
        settings = _settings({k: v for k, v in g.items() if k in _CP_KEYS}, where)
        merged_b = {**_table(data.get("behaviour", {}), "behaviour"), **_table(g.get("behaviour", {}), where + ".behaviour")}
        groups.append(Group(name=_str(g.get("name", f"group{i}"), where + ".name"), numbers=numbers,
                            settings=settings, behaviour=parse_behaviour(merged_b, where + ".behaviour")))
    return FleetTemplate(
        id_pattern=pattern, first=_int(fleet.get("first", 1), "fleet.first", 0),
        count=_int(fleet.get("count", 1), "fleet.count", 0), csms_url=url,
        ramp_per_s=parse_ramp(fleet.get("ramp", "100/s")), defaults=defaults, behaviour=default_behaviour,
        groups=tuple(groups),
    )


def _settings(raw: Any, where: str) -> dict[str, Any]:
    t = dict(_table(raw, where))
    _unknown(t, _CP_KEYS, where + ".")
    out: dict[str, Any] = {}
    if "connectors" in t:
        out["connectors"] = _int(t["connectors"], f"{where}.connectors", 1, 8)
    if "max_current_a" in t:
        out["max_current_a"] = _num(t["max_current_a"], f"{where}.max_current_a", 6, 80)
    if "phases" in t:
        out["phases"] = _choice(t["phases"], f"{where}.phases", (1, 3))
    if "security_profile" in t:
        out["security_profile"] = _choice(t["security_profile"], f"{where}.security_profile", (0, 1, 2, 3))
    for key in ("password", "ca_file", "vendor", "model"):
        if key in t:
            out[key] = _str(t[key], f"{where}.{key}")
    for key, lo in (("meter_interval_s", 0.1), ("idle_meter_interval_s", 0.0), ("reconnect_min_s", 0.0), ("reconnect_max_s", 0.0)):
        if key in t:
            out[key] = _num(t[key], f"{where}.{key}", lo, 86400)
    if "config" in t:
        keys = _table(t["config"], f"{where}.config")
        out["config"] = {str(k): _key_value(v, f"{where}.config.{k}") for k, v in keys.items()}
    if "password" in out:
        try:
            out["password"].format(id="x", n=1)
        except (KeyError, IndexError, ValueError) as e:
            raise TemplateError(f"{where}.password", f"bad pattern (use {{id}} / {{n}}): {e}") from None
    return out


def parse_behaviour(raw: Any, where: str) -> Behaviour:
    t = _table(raw, where)
    _unknown(t, _BEHAVIOUR_KEYS, where + ".")
    b = Behaviour()
    changes: dict[str, Any] = {}
    if "arrivals_per_hour" in t:
        changes["arrivals_per_hour"] = _num(t["arrivals_per_hour"], f"{where}.arrivals_per_hour", 0, 3600)
    if "schedule" in t:
        sched = t["schedule"]
        if not isinstance(sched, list):
            raise TemplateError(f"{where}.schedule", "must be a list of seconds after boot")
        changes["schedule"] = tuple(sorted(_num(v, f"{where}.schedule[{i}]", 0, 1e9) for i, v in enumerate(sched)))
    if "schedule_repeat_s" in t:
        changes["schedule_repeat_s"] = _num(t["schedule_repeat_s"], f"{where}.schedule_repeat_s", 0, 1e9)
    if "session_minutes" in t:
        lo, hi = _pair(t["session_minutes"], f"{where}.session_minutes", 0.01, 100_000)
        changes["session_s"] = (lo * 60.0, hi * 60.0)
    if "energy_kwh" in t:
        changes["energy_kwh"] = _pair(t["energy_kwh"], f"{where}.energy_kwh", 0.01, 1000)
    if "ev_mix" in t:
        mix = t["ev_mix"]
        if not isinstance(mix, list) or not mix:
            raise TemplateError(f"{where}.ev_mix", "must be a non-empty list of {phases, max_current_a, ...}")
        changes["ev_mix"] = tuple(_ev(m, f"{where}.ev_mix[{i}]") for i, m in enumerate(mix))
    if "rfid_tags" in t:
        tags = t["rfid_tags"]
        if not isinstance(tags, list) or not all(isinstance(x, str) and 0 < len(x) <= 20 for x in tags):
            raise TemplateError(f"{where}.rfid_tags", "must be a list of idTags (1..20 characters)")
        changes["rfid_tags"] = tuple(tags)
    if "faults_per_hour" in t:
        changes["faults_per_hour"] = _num(t["faults_per_hour"], f"{where}.faults_per_hour", 0, 3600)
    if "fault_kinds" in t:
        kinds = t["fault_kinds"]
        if not isinstance(kinds, list) or not kinds:
            raise TemplateError(f"{where}.fault_kinds", f"must be a non-empty list of {sorted(FAULT_KINDS)}")
        for i, k in enumerate(kinds):
            if k not in FAULT_KINDS:
                raise TemplateError(f"{where}.fault_kinds[{i}]", f"unknown fault {k!r}; known: {sorted(FAULT_KINDS)}")
        changes["fault_kinds"] = tuple(kinds)
    if "fault_s" in t:
        changes["fault_s"] = _num(t["fault_s"], f"{where}.fault_s", 0.1, 86400)
    if "charging_at_start" in t:
        changes["charging_at_start"] = _num(t["charging_at_start"], f"{where}.charging_at_start", 0, 1)
    return replace(b, **changes)


def _ev(raw: Any, where: str) -> EvType:
    t = _table(raw, where)
    _unknown(t, {"phases", "max_current_a", "capacity_kwh", "weight"}, where + ".")
    return EvType(phases=_choice(t.get("phases", 3), f"{where}.phases", (1, 3)),
                  max_current_a=_num(t.get("max_current_a", 16), f"{where}.max_current_a", 6, 80),
                  capacity_kwh=_num(t.get("capacity_kwh", 60), f"{where}.capacity_kwh", 1, 500),
                  weight=_num(t.get("weight", 1), f"{where}.weight", 0.0001, 1e6))


# -- value checks -------------------------------------------------------------------------------------
def _unknown(t: Mapping[str, Any], known: set[str], prefix: str) -> None:
    for key in t:
        if key not in known:
            raise TemplateError(f"{prefix}{key}", f"unknown field; known: {', '.join(sorted(known))}")


def _table(v: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(v, dict):
        raise TemplateError(path, f"must be a table/mapping, got {type(v).__name__}")
    return v


def _str(v: Any, path: str) -> str:
    if not isinstance(v, str) or not v:
        raise TemplateError(path, f"must be a non-empty string, got {v!r}")
    return v


def _num(v: Any, path: str, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise TemplateError(path, f"must be a number, got {v!r}")
    if not lo <= float(v) <= hi:
        raise TemplateError(path, f"must be within {lo:g}..{hi:g}, got {v!r}")
    return float(v)


def _int(v: Any, path: str, lo: int, hi: int = 10**9) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TemplateError(path, f"must be an integer, got {v!r}")
    if not lo <= v <= hi:
        raise TemplateError(path, f"must be within {lo}..{hi}, got {v}")
    return v


def _choice(v: Any, path: str, options: tuple[int, ...]) -> int:
    if isinstance(v, bool) or v not in options:
        raise TemplateError(path, f"must be one of {', '.join(map(str, options))}, got {v!r}")
    return int(v)


def _pair(v: Any, path: str, lo: float, hi: float) -> tuple[float, float]:
    if isinstance(v, int | float) and not isinstance(v, bool):
        x = _num(v, path, lo, hi)
        return (x, x)
    if not isinstance(v, list) or len(v) != 2:
        raise TemplateError(path, f"must be a number or [min, max], got {v!r}")
    a, b = _num(v[0], f"{path}[0]", lo, hi), _num(v[1], f"{path}[1]", lo, hi)
    if b < a:
        raise TemplateError(path, f"min {a:g} > max {b:g}")
    return (a, b)


def _key_value(v: Any, path: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float | str):
        return str(v)
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return ",".join(v)
    raise TemplateError(path, f"must be a string, number, boolean or list of strings, got {v!r}")
