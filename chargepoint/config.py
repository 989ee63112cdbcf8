"""Configuration: embedded defaults <- TOML file <- ``CHARGEPOINT_*`` environment <- command-line flags.

Every value is validated before anything starts; an error names the key, the bad value and where
it came from, e.g. ``controller.max_current_a = 95 (from env CHARGEPOINT_CONTROLLER_MAX_CURRENT_A):
must be between 6 and 80``.  Bad config never starts half a charger.

Environment variables: ``CHARGEPOINT_<SECTION>_<KEY>`` (upper case), e.g.
``CHARGEPOINT_OCPP_CSMS_URL=ws://csms:9000/ocpp``.  Tables that are lists (``[[meters]]``) and the
free-form ``[energy]`` table are validated by the modules that own them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from chargepoint.errors import FieldError


class ConfigError(FieldError):
    """A configuration value is wrong.  ``field`` is the key (``ocpp.csms_url``, ``meters[0]``,
    ``[sim]``, ``config file PATH``); ``str()`` names key, value and origin:
    ``key = 'value' (from FILE): message``.  ``value`` is the value as shown (already formatted),
    ``note`` what goes in the parentheses (where the value came from)."""

    def __init__(self, field: str, message: str, *, value: str | None = None, note: str | None = None) -> None:
        super().__init__(field, message)
        self.value = value
        self.note = note
        where = field + (f" = {value}" if value is not None else "") + (f" ({note})" if note else "")
        self.args = (f"{where}: {message}",)


def default_data_dir() -> Path:
    """Per-user data directory (XDG_DATA_HOME or ~/.local/share)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "smartevse-chargepoint"


def _spec(default: Any, *, lo: float | None = None, hi: float | None = None,
          choices: tuple[str, ...] | None = None, doc: str = "") -> Any:
    return field(default=default, metadata={"lo": lo, "hi": hi, "choices": choices, "doc": doc})


@dataclass(frozen=True)
class ChargePointSection:
    id: str = _spec("CP-1", doc="charge point identity (appended to the CSMS URL)")
    data_dir: str = _spec("", doc="SQLite and logs; empty = per-user data directory")


@dataclass(frozen=True)
class OcppSection:
    csms_url: str = _spec("", doc="ws:// or wss:// endpoint; empty = start the embedded test CSMS")
    password: str = _spec("", doc="AuthorizationKey for security profile 1/2 (write-only)")
    password_hex: bool = _spec(False, doc="the password is hex: send the decoded bytes")
    security_profile: int = _spec(0, lo=0, hi=3)
    ca_file: str = _spec("")
    client_cert: str = _spec("")
    client_key: str = _spec("")
    vendor: str = _spec("SmartEVSE", doc="chargePointVendor (CiString20)")
    model: str = _spec("SmartEVSE-CP", doc="chargePointModel (CiString20)")
    serial: str = _spec("SIM-0001", doc="chargePointSerialNumber (CiString25)")
    firmware: str = _spec("0.1.0", doc="firmwareVersion (CiString50)")


@dataclass(frozen=True)
class BackendSection:
    name: str = _spec("sim", doc="backend name from the registry: sim, smartevse, smartevse-rs485")
    connectors: int = _spec(1, lo=1, hi=8)
    max_current_a: float = _spec(32.0, lo=6, hi=80, doc="hardware maximum")
    phases: int = _spec(3, lo=1, hi=3)
    has_lock: bool = _spec(True)
    serial: str = _spec("", doc="serial port of the SmartEVSE mainboard")
    baudrate: int = _spec(500000, lo=1200, hi=4000000)
    watchdog_s: float = _spec(2.0, lo=0.1, hi=60)
    rcmon: bool = _spec(False, doc="an RCM14-03 residual-current monitor is fitted (smartevse: @RCmon:1)")
    nodes: str = _spec("", doc="smartevse-rs485: node addresses (LoadBl 2..8), e.g. \"2,3,4\" -> connectors 1..3")
    mains_meter: str = _spec("", doc="smartevse-rs485: a mains meter on the node bus, TYPE@ADDRESS (sdm630@10)")


@dataclass(frozen=True)
class ControllerSection:
    max_current_a: float = _spec(16.0, lo=6, hi=80, doc="MaxCurrent")
    min_current_a: float = _spec(6.0, lo=6, hi=16, doc="MinCurrent")
    fixed_cable: bool = _spec(False)
    unlock_on_session_end: bool = _spec(True)
    unlock_on_unplug: bool = _spec(True)
    ventilation_allowed: bool = _spec(False)
    max_temperature_c: float = _spec(65.0, lo=40, hi=75)
    firmware_pp_table: bool = _spec(False, doc="map 680 ohm to 16 A like the SmartEVSE firmware")
    activation_mode: bool = _spec(True, doc="ACTSTART: -12 V for 3 s to an EV still at 9 V 30 s after PWM appeared")
    firmware_b_current: bool = _spec(True, doc="in B, before the EV asks for power, signal MinCurrent (the cable's "
                                               "rating if below max_current_a) like the firmware; false: the target")


@dataclass(frozen=True)
class HttpSection:
    listen: str = _spec("127.0.0.1:8080", doc="HOST:PORT of the local HTTP API; empty = off")
    token: str = _spec("", doc="bearer token the API requires when bound beyond loopback (write-only)")
    username: str = _spec("", doc="HTTP Basic user the API accepts when bound beyond loopback")
    password: str = _spec("", doc="HTTP Basic password (write-only)")
    open_access: bool = _spec(False, doc="serve beyond loopback without credentials (trusted networks only)")


@dataclass(frozen=True)
class MqttSection:
    host: str = _spec("", doc="MQTT broker host; empty = MQTT off")
    port: int = _spec(1883, lo=1, hi=65535)
    username: str = _spec("")
    password: str = _spec("", doc="(write-only)")
    tls: bool = _spec(False, doc="connect with TLS (the system's CA store, or ca_file)")
    ca_file: str = _spec("", doc="CA certificate of the broker (PEM) for tls")
    prefix: str = _spec("", doc="topic prefix; empty = SmartEVSE-<ocpp.serial>, like the firmware")
    heartbeat_s: float = _spec(60.0, lo=1, hi=3600, doc="republish every topic this often")
    discovery: bool = _spec(True, doc="publish Home Assistant MQTT discovery configs")
    discovery_prefix: str = _spec("homeassistant")


@dataclass(frozen=True)
class CsmsSection:
    host: str = _spec("127.0.0.1", doc="embedded test CSMS (when ocpp.csms_url is empty)")
    port: int = _spec(9000, lo=0, hi=65535)
    http_port: int = _spec(9001, lo=0, hi=65535)


@dataclass(frozen=True)
class RfidSection:
    mode: str = _spec("ocpp", choices=("ocpp", "enable_all", "enable_one"),
                      doc="RFID reader: ocpp = cards go to OCPP Authorize; enable_all / enable_one = the card "
                          "list on the charger decides (docs/HARDWARE.md)")


@dataclass(frozen=True)
class LogSection:
    format: str = _spec("auto", choices=("auto", "console", "json"))
    level: str = _spec("info", choices=("debug", "info", "warning", "error"))
    record: str = _spec("", doc="write a JSONL trace (OCPP frames + hardware events) to this file")


@dataclass(frozen=True)
class Config:
    chargepoint: ChargePointSection = field(default_factory=ChargePointSection)
    ocpp: OcppSection = field(default_factory=OcppSection)
    backend: BackendSection = field(default_factory=BackendSection)
    controller: ControllerSection = field(default_factory=ControllerSection)
    http: HttpSection = field(default_factory=HttpSection)
    mqtt: MqttSection = field(default_factory=MqttSection)
    csms: CsmsSection = field(default_factory=CsmsSection)
    rfid: RfidSection = field(default_factory=RfidSection)
    log: LogSection = field(default_factory=LogSection)
    meters: tuple[dict[str, Any], ...] = ()
    energy: dict[str, Any] = field(default_factory=dict)
    sim: dict[str, Any] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return Path(self.chargepoint.data_dir) if self.chargepoint.data_dir else default_data_dir()


_SECTIONS = {f.name: f for f in fields(Config) if f.name not in ("meters", "energy", "sim")}
_FREE_TABLES = ("energy", "sim")


def _coerce(key: str, raw: Any, target: type, origin: str, meta: Mapping[str, Any]) -> Any:
    def fail(why: str) -> ConfigError:
        return ConfigError(key, why, value=repr(raw), note=origin)

    value: Any
    if target is bool:
        if isinstance(raw, bool):
            value = raw
        elif isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on"):
            value = True
        elif isinstance(raw, str) and raw.strip().lower() in ("0", "false", "no", "off"):
            value = False
        else:
            raise fail("must be true or false")
    elif target is int:
        if isinstance(raw, bool):
            raise fail("must be an integer")
        try:
            value = int(raw) if not isinstance(raw, float) or raw.is_integer() else None
        except (TypeError, ValueError):
            value = None
        if value is None:
            raise fail("must be an integer")
    elif target is float:
        if isinstance(raw, bool):
            raise fail("must be a number")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise fail("must be a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise fail("must be a finite number")
    else:
        if not isinstance(raw, str):
            raise fail("must be a string")
        value = raw
    lo, hi, choices = meta.get("lo"), meta.get("hi"), meta.get("choices")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise fail(f"must be between {lo:g} and {hi:g}")
    if choices and value not in choices:
        raise fail(f"must be one of {', '.join(choices)}")
    return value


_TYPES = {"str": str, "int": int, "float": float, "bool": bool}


def _apply(cfg: Config, section: str, key: str, raw: Any, origin: str) -> Config:
    sect_field = _SECTIONS.get(section)
    if sect_field is None:
        raise ConfigError(f"[{section}]", f"unknown section; known: {', '.join(sorted(_SECTIONS))}", note=origin)
    sect_obj = getattr(cfg, section)
    spec = {f.name: f for f in fields(sect_obj)}
    if key not in spec:
        raise ConfigError(f"{section}.{key}", f"unknown key; known: {', '.join(sorted(spec))}", note=origin)
    f = spec[key]
    target = _TYPES[f.type if isinstance(f.type, str) else f.type.__name__]
    value = _coerce(f"{section}.{key}", raw, target, origin, f.metadata)
    return replace(cfg, **{section: replace(sect_obj, **{key: value})})


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the configuration: defaults <- file <- env <- overrides ("section.key" -> value)."""
    cfg = Config()
    if path:
        p = Path(path)
        data = _read_toml(p)
        origin = f"from {p}"
        for section, table in data.items():
            if section == "meters":
                if not isinstance(table, list) or not all(isinstance(t, dict) for t in table):
                    raise ConfigError("meters", "must be an array of tables [[meters]]", note=origin)
                cfg = replace(cfg, meters=tuple(dict(t) for t in table))
                continue
            if section in _FREE_TABLES:
                if not isinstance(table, dict):
                    raise ConfigError(f"[{section}]", "must be a table", note=origin)
                free: dict[str, Any] = {section: dict(table)}
                cfg = replace(cfg, **free)
                continue
            if not isinstance(table, dict):
                raise ConfigError(section, f"must be a table [{section}]", note=origin)
            for key, raw in table.items():
                cfg = _apply(cfg, section, key, raw, origin)
    environ = os.environ if env is None else env
    for name, raw in sorted(environ.items()):
        if not name.startswith("CHARGEPOINT_"):
            continue
        rest = name[len("CHARGEPOINT_"):].lower()
        env_section = next((s for s in _SECTIONS if rest.startswith(s + "_")), None)
        if env_section is None:
            continue  # not ours to judge (e.g. CHARGEPOINT_HOME of another tool)
        cfg = _apply(cfg, env_section, rest[len(env_section) + 1:], raw, f"from env {name}")
    for dotted, raw in (overrides or {}).items():
        if raw is None:
            continue
        section, _, key = dotted.partition(".")
        cfg = _apply(cfg, section, key, raw, "from the command line")
    _check_consistency(cfg)
    return cfg


def _read_toml(p: Path) -> dict[str, Any]:
    """The parsed file, or a ConfigError naming the file and the problem (never a traceback)."""
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"config file {p}", str(exc.strerror or exc)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"config file {p}", f"not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {p}", str(exc)) from None
    except RecursionError:
        raise ConfigError(f"config file {p}", "nested too deeply to be a configuration") from None


def _check_consistency(cfg: Config) -> None:
    url = cfg.ocpp.csms_url
    if url and not (url.startswith("ws://") or url.startswith("wss://")):
        raise ConfigError("ocpp.csms_url", "must start with ws:// or wss://", value=repr(url))
    if cfg.ocpp.security_profile >= 2 and url and not url.startswith("wss://"):
        raise ConfigError("ocpp.security_profile", "profiles 2 and 3 need a wss:// csms_url",
                          value=str(cfg.ocpp.security_profile))
    if cfg.ocpp.security_profile in (1, 2) and not cfg.ocpp.password:
        raise ConfigError("ocpp.password", f"security profile {cfg.ocpp.security_profile} needs a password")
    if cfg.ocpp.password and cfg.ocpp.security_profile == 0:
        raise ConfigError(
            "ocpp.password",
            f"given, but security profile {cfg.ocpp.security_profile} sends no password; "
            "set ocpp.security_profile = 1 (ws://, HTTP Basic) or 2 (wss://, HTTP Basic)",
        )
    if cfg.ocpp.password_hex and cfg.ocpp.password:
        try:
            bytes.fromhex(cfg.ocpp.password)
        except ValueError:
            raise ConfigError("ocpp.password", "password_hex is set but the password is not hex") from None
    if cfg.ocpp.security_profile == 3 and not (cfg.ocpp.client_cert and cfg.ocpp.client_key):
        raise ConfigError("ocpp.client_cert / ocpp.client_key", "security profile 3 needs a client certificate")
    for key, limit in (("vendor", 20), ("model", 20), ("serial", 25), ("firmware", 50)):
        value = getattr(cfg.ocpp, key)
        if len(value) > limit:
            raise ConfigError(f"ocpp.{key}", f"at most {limit} characters (OCPP CiString{limit})", value=repr(value))
    if cfg.controller.min_current_a > cfg.controller.max_current_a:
        raise ConfigError("controller.min_current_a",
                          f"must not exceed controller.max_current_a = {cfg.controller.max_current_a:g}",
                          value=f"{cfg.controller.min_current_a:g}")
    if cfg.backend.name == "smartevse" and not cfg.backend.serial:
        raise ConfigError("backend.serial", "the smartevse backend needs a serial port (--serial PORT)")
    if cfg.backend.name == "smartevse-rs485" and not (cfg.backend.serial and cfg.backend.nodes):
        raise ConfigError("backend.serial", "the smartevse-rs485 backend needs the RS485 port (--serial PORT "
                          "or tcp://HOST:PORT) and backend.nodes, the node addresses (--nodes 2,3,4)")
    if cfg.http.listen:
        host, _port = parse_hostport(cfg.http.listen, "http.listen")
        if bool(cfg.http.username) != bool(cfg.http.password):
            raise ConfigError("http.username / http.password", "HTTP Basic needs both")
        if not is_loopback(host) and not (cfg.http.token or cfg.http.username or cfg.http.open_access):
            raise ConfigError(
                "http.listen", "the local API can switch contactors; bound beyond "
                "127.0.0.1 it needs http.token or http.username/http.password (or http.open_access = true "
                "on a trusted network)", value=repr(cfg.http.listen))
    _check_mqtt(cfg.mqtt)


def _check_mqtt(m: MqttSection) -> None:
    if not m.host:
        return
    if any(c in m.host for c in "/: ") and not m.host.startswith("["):
        raise ConfigError("mqtt.host", "a host name or address, without scheme or port (mqtt.port)",
                          value=repr(m.host))
    if m.password and not m.username:
        raise ConfigError("mqtt.password", "needs mqtt.username")
    if m.ca_file and not m.tls:
        raise ConfigError("mqtt.ca_file", "set mqtt.tls = true to use it")
    for key in ("prefix", "discovery_prefix"):
        value = getattr(m, key)
        if any(c in value for c in "#+") or value.startswith("/") or value.endswith("/"):
            raise ConfigError(f"mqtt.{key}", "no wildcards (# +) and no leading/trailing '/'", value=repr(value))


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_hostport(value: str, key: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(key, "must be HOST:PORT", value=repr(value))
    return host or "127.0.0.1", int(port)


def describe() -> str:
    """A TOML listing of every key with its default, for `chargepoint config --defaults`."""
    lines: list[str] = []
    for name in _SECTIONS:
        lines.append(f"[{name}]")
        for f in fields(getattr(Config(), name)):
            doc = f.metadata.get("doc", "")
            default = f.default
            text = str(default).lower() if isinstance(default, bool) else repr(default).replace("'", '"')
            lines.append(f"{f.name} = {text}" + (f"  # {doc}" if doc else ""))
        lines.append("")
    lines.extend(_TABLES_HELP)
    return "\n".join(lines)


_TABLES_HELP = [
    "# Tables checked by the modules that own them (chargepoint config --check FILE runs the checks):",
    "",
    "# [energy]            load balancing (docs/ENERGY.md); keys and ranges of the SmartEVSE firmware:",
    '# mode = "normal"     # normal | smart | solar',
    "# max_mains_a = 25    # 10..200   max_circuit_a = 16 (10..160)   max_sum_mains_a = 0 (0 | 10..600)",
    "# start_current_a = 4 # 0..48     stop_time_min = 10 (0..60)     import_current_a = 0 (0..48)",
    '# enable_c2 = "always_on"  # not_present | always_off | solar_off | always_on | auto',
    '# mains_meter = "meter"    # meter | api      override_current_a = 10   ev_meters = false',
    '# grid_relay_max_sum_mains_a = 18 (6..600)   grid_relay_limit_on = "open"  # open | closed',
    "",
    "# [sim]               simulated board/EV options (sim backend): ev_soc, ev_capacity_kwh, ev_max_current_a,",
    "#                     ev_phases, ev_reaction_s, meter_interval_s, relay_delay_s, house = {...}",
    "",
    "# [[meters]]          a Modbus kWh meter per table (backends/modbus, docs/HARDWARE.md):",
    '# type = "sdm630"     # or another meter of the table, or "custom"',
    '# transport = "tcp"   # tcp (host, port) | rtu (serial_port, baudrate)',
    '# host = "192.0.2.10"',
    '# address = 12        # Modbus unit id',
    '# role = "ev"         # ev (energy for transactions, connector N) | mains (load balancing)',
    "# connector = 1",
]
