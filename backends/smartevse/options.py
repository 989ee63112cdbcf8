"""Options of the SmartEVSE v4 backend: the port, link timing and the configuration burst values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from backends.smartevse.protocol import CONFIG_VARIABLES

#: Values of the configuration burst (ESP32-owned settings, reference §3.6 / §4.2).  ``Access`` is not
#: configured: it follows SetAuthorization (0 until the controller authorises).
DEFAULT_CONFIG: dict[str, int] = {
    "Config": 0,  # 0 socket, 1 fixed cable
    "Lock": 0,  # 0 disabled, 1 solenoid, 2 motor
    "CableLock": 0,
    "Mode": 0,  # 0 Normal, 1 Smart, 2 Solar
    "OverrideCurrent": 0,
    "LoadBl": 0,  # standalone
    "MaxMains": 25,
    "MaxSumMains": 0,
    "MaxSumMainsTime": 0,
    "MaxCurrent": 16,
    "MinCurrent": 6,
    "MaxCircuit": 16,
    "Switch": 0,
    "StartCurrent": 4,
    "StopTime": 10,
    "ImportCurrent": 0,
    "Grid": 0,
    "RFIDReader": 0,
    "MainsMeterType": 0,
    "MainsMAddress": 10,
    "EVMeterType": 0,
    "EVMeterAddress": 12,
    "EMEndianness": 3,
    "EMIRegister": 0,
    "EMIDivisor": 0,
    "EMURegister": 0,
    "EMUDivisor": 0,
    "EMPRegister": 0,
    "EMPDivisor": 0,
    "EMERegister": 0,
    "EMEDivisor": 0,
    "EMDataType": 0,
    "EMFunction": 4,
    "EnableC2": 3,
    "maxTemp": 65,
    "MainsMeterTimeout": 11,
    "EVMeterTimeout": 64,
    "ConfigChanged": 0,
    "ModemStage": 0,
    "homeBatteryCurrent": 0,
    "SolarStopTimer": 0,
}

#: Plausible ranges; a value outside is refused with a message naming the setting.
RANGES: dict[str, tuple[int, int]] = {
    "Config": (0, 1),
    "Lock": (0, 2),
    "CableLock": (0, 1),
    "Mode": (0, 2),
    "MaxCurrent": (6, 80),
    "MinCurrent": (6, 16),
    "EnableC2": (0, 4),
    "maxTemp": (40, 75),
    "LoadBl": (0, 8),
    "MainsMAddress": (10, 247),
    "EVMeterAddress": (11, 247),
    "Switch": (0, 7),
    "RFIDReader": (0, 6),
}


@dataclass(frozen=True)
class SmartEvseOptions:
    port: str
    baudrate: int = 500_000
    watchdog_s: float = 2.0
    start_timeout_s: float = 10.0  # start() returns after this even if the CH32 never answered
    rcmon: bool = False  # RCM14-03 sensor fitted (sent as @RCmon)
    nominal_voltage_v: float = 230.0  # the serial protocol carries no voltage; MeterReading uses this
    hardware_max_current_a: float = 32.0
    #: An EV meter of connector 1 is read by the host (a ``[[meters]]`` table, backends.modbus): the
    #: board then forwards none of the CH32's EV-meter readings or EV_NOCOMM statuses (the host's
    #: meter wins; the CH32's values stay visible in ``status.shadow``).
    external_ev_meter: bool = False
    config: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_CONFIG))

    def burst(self, access: int) -> list[tuple[str, int]]:
        """The configuration burst, in protocol order, with the current access bit."""
        values = {**self.config, "Access": access}
        return [(name, values[name]) for name in CONFIG_VARIABLES]

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> SmartEvseOptions:
        """Build from a flat mapping: ``port`` (or ``serial``), ``baudrate``, ``watchdog_s``, ...
        plus any configuration variable by its protocol name (``MaxCurrent``, ``EnableC2``, ...).

        The runtime's generic backend keys are understood too (:data:`GENERIC_KEYS`):
        ``connectors`` (must be 1), ``max_current_a`` (hardware maximum), ``phases`` (1 ->
        ``EnableC2`` = 1 "always off"), ``has_lock`` (False -> ``Lock`` 0, True -> ``Lock`` 1 solenoid
        unless ``Lock`` is given), ``fixed_cable`` (-> ``Config``), ``max_current_setting_a``
        (-> ``MaxCurrent``), ``min_current_a`` (-> ``MinCurrent``).  Protocol names win over them.
        Raises ValueError naming the offending key."""
        own = {f.name for f in fields(cls)} - {"config"}
        kwargs: dict[str, Any] = {}
        config = dict(DEFAULT_CONFIG)
        explicit: dict[str, int] = {}
        generic: dict[str, Any] = {}
        for key, value in options.items():
            if key == "serial":
                key = "port"
            if key in GENERIC_KEYS:
                generic[key] = value
            elif key in own:
                kwargs[key] = value
            elif key == "config" and isinstance(value, Mapping):
                for k, v in value.items():
                    explicit[k] = _config_value(k, v)
            elif key in DEFAULT_CONFIG:
                explicit[key] = _config_value(key, value)
            elif key == "Access":
                raise ValueError("option 'Access' is not configurable: it follows SetAuthorization")
            else:
                raise ValueError(f"unknown smartevse option {key!r}")
        config.update(_from_generic(generic, kwargs))
        config.update(explicit)
        if not kwargs.get("port"):
            raise ValueError("smartevse option 'port' (serial device path) is required")
        kwargs["port"] = str(kwargs["port"])
        for name, kind in (("baudrate", int), ("watchdog_s", float), ("start_timeout_s", float),
                           ("nominal_voltage_v", float), ("hardware_max_current_a", float)):
            if name in kwargs:
                try:
                    kwargs[name] = kind(kwargs[name])
                except (TypeError, ValueError):
                    raise ValueError(f"smartevse option {name!r}: {kwargs[name]!r} is not a number") from None
                if kwargs[name] <= 0:
                    raise ValueError(f"smartevse option {name!r} must be positive (got {kwargs[name]!r})")
        for flag in ("rcmon", "external_ev_meter"):
            if flag in kwargs:
                kwargs[flag] = bool(kwargs[flag])
        if config["MinCurrent"] > config["MaxCurrent"]:
            raise ValueError(f"smartevse option 'MinCurrent' ({config['MinCurrent']}) exceeds "
                             f"'MaxCurrent' ({config['MaxCurrent']})")
        return cls(config=config, **kwargs)


#: Backend-neutral keys the runtime passes to every backend.
GENERIC_KEYS = frozenset({"connectors", "max_current_a", "phases", "has_lock", "fixed_cable",
                          "max_current_setting_a", "min_current_a"})


def _from_generic(generic: Mapping[str, Any], kwargs: dict[str, Any]) -> dict[str, int]:
    config: dict[str, int] = {}
    if "connectors" in generic and generic["connectors"] != 1:
        raise ValueError(f"smartevse option 'connectors': a SmartEVSE v4 has 1 connector, not {generic['connectors']!r}")
    if "max_current_a" in generic:
        kwargs.setdefault("hardware_max_current_a", generic["max_current_a"])
    if "phases" in generic:
        if generic["phases"] not in (1, 3):
            raise ValueError(f"smartevse option 'phases': 1 or 3, not {generic['phases']!r}")
        if generic["phases"] == 1:
            config["EnableC2"] = 1
    if "has_lock" in generic:
        config["Lock"] = 1 if generic["has_lock"] else 0
    if "fixed_cable" in generic:
        config["Config"] = 1 if generic["fixed_cable"] else 0
        if generic["fixed_cable"]:
            config["Lock"] = 0
    for key, name in (("max_current_setting_a", "MaxCurrent"), ("min_current_a", "MinCurrent")):
        if key in generic:
            try:
                amps = float(generic[key])
            except (TypeError, ValueError):
                raise ValueError(f"smartevse option {key!r}: {generic[key]!r} is not a number") from None
            config[name] = _config_value(name, round(amps))
    return config


def _config_value(key: str, value: Any) -> int:
    if key not in DEFAULT_CONFIG:
        raise ValueError(f"unknown smartevse configuration variable {key!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"smartevse option {key!r}: {value!r} is not an integer") from None
    lo, hi = RANGES.get(key, (-(2**31), 2**31 - 1))
    if not lo <= number <= hi:
        raise ValueError(f"smartevse option {key!r}: {number} outside {lo}..{hi}")
    return number
