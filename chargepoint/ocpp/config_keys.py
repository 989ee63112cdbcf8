"""OCPP 1.6 configuration keys (spec §9, errata additions, security whitepaper): definitions,
typed values, validation, persistence.

``ConfigKeys.set(name, text)`` is the ChangeConfiguration semantics: "Accepted",
"RebootRequired", "Rejected" (read-only, bad format, out of range) or "NotSupported" (unknown key).
Values are persisted in the store (table ``config_keys``); code may change read-only keys with
:meth:`ConfigKeys.set_internal`.  AuthorizationKey is write-only: never listed by GetConfiguration.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chargepoint.ocpp.security.key_rules import cpo_name_check
from chargepoint.ocpp.store import Db

#: Measurands this charge point can sample (MeterValues*Data / StopTxn*Data lists).
SUPPORTED_MEASURANDS: tuple[str, ...] = (
    "Energy.Active.Import.Register",
    "Energy.Active.Export.Register",
    "Power.Active.Import",
    "Current.Import",
    "Current.Offered",
    "Voltage",
    "Temperature",
    "SoC",
)
FEATURE_PROFILES = ("Core", "FirmwareManagement", "LocalAuthListManagement", "Reservation", "SmartCharging",
                    "RemoteTrigger")
_PHASE_ROTATIONS = {"NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR"}
_INT_RE = re.compile(r"^[+-]?[0-9]{1,10}$")  # ASCII digits only (int() would take "１２０")
_HEX_RE = re.compile(r"^[0-9a-fA-F]*$")


@dataclass(frozen=True)
class KeyDef:
    name: str
    kind: str  # "int" | "bool" | "str" | "csl"
    access: str  # "R" | "RW" | "W"
    default: Any
    minimum: int | None = None
    maximum: int | None = None
    reboot_required: bool = False
    #: CSL: allowed item values (None = free); str: validator returning an error text or None
    allowed: tuple[str, ...] | None = None
    max_items_key: str | None = None
    check: Callable[[Any], str | None] | None = None


def _phase_rotation_check(items: list[str]) -> str | None:
    for item in items:
        m = re.fullmatch(r"(\d+)\.(\w+)", item)
        if not m or m.group(2) not in _PHASE_ROTATIONS:
            return f"bad phase rotation item {item!r}"
    return None


def _authorization_key_check(value: str) -> str | None:
    if not _HEX_RE.fullmatch(value) or len(value) % 2 or not 32 <= len(value) <= 40:
        return "AuthorizationKey must be 32..40 hex characters (16..20 bytes)"
    return None


def default_definitions(connectors: int = 1) -> list[KeyDef]:
    m = SUPPORTED_MEASURANDS
    return [
        # --- Core (9.1)
        KeyDef("AllowOfflineTxForUnknownId", "bool", "RW", False),
        KeyDef("AuthorizationCacheEnabled", "bool", "RW", True),
        KeyDef("AuthorizeRemoteTxRequests", "bool", "RW", False),
        KeyDef("BlinkRepeat", "int", "RW", 0, 0, 100),
        KeyDef("ClockAlignedDataInterval", "int", "RW", 0, 0, 86400),
        KeyDef("ConnectionTimeOut", "int", "RW", 60, 0, 3600),
        KeyDef("ConnectorPhaseRotation", "csl", "RW", ",".join(["0.RST"] + [f"{i}.RST" for i in
                                                                          range(1, connectors + 1)]),
               max_items_key="ConnectorPhaseRotationMaxLength", check=_phase_rotation_check),
        KeyDef("ConnectorPhaseRotationMaxLength", "int", "R", connectors + 1),
        KeyDef("GetConfigurationMaxKeys", "int", "R", 100),
        KeyDef("HeartbeatInterval", "int", "RW", 86400, 0, 7 * 86400),
        KeyDef("LightIntensity", "int", "RW", 100, 0, 100),
        KeyDef("LocalAuthorizeOffline", "bool", "RW", True),
        KeyDef("LocalPreAuthorize", "bool", "RW", False),
        KeyDef("MaxEnergyOnInvalidId", "int", "RW", 0, 0, 10_000_000),
        KeyDef("MeterValuesAlignedData", "csl", "RW", "Energy.Active.Import.Register", allowed=m,
               max_items_key="MeterValuesAlignedDataMaxLength"),
        KeyDef("MeterValuesAlignedDataMaxLength", "int", "R", len(m)),
        KeyDef("MeterValuesSampledData", "csl", "RW", "Energy.Active.Import.Register", allowed=m,
               max_items_key="MeterValuesSampledDataMaxLength"),
        KeyDef("MeterValuesSampledDataMaxLength", "int", "R", len(m)),
        KeyDef("MeterValueSampleInterval", "int", "RW", 60, 0, 86400),
        KeyDef("MinimumStatusDuration", "int", "RW", 0, 0, 3600),
        KeyDef("NumberOfConnectors", "int", "R", connectors),
        KeyDef("ResetRetries", "int", "RW", 1, 0, 10),
        KeyDef("StopTransactionOnEVSideDisconnect", "bool", "RW", True),
        KeyDef("StopTransactionOnInvalidId", "bool", "RW", True),
        KeyDef("StopTxnAlignedData", "csl", "RW", "", allowed=m, max_items_key="StopTxnAlignedDataMaxLength"),
        KeyDef("StopTxnAlignedDataMaxLength", "int", "R", len(m)),
        KeyDef("StopTxnSampledData", "csl", "RW", "", allowed=m, max_items_key="StopTxnSampledDataMaxLength"),
        KeyDef("StopTxnSampledDataMaxLength", "int", "R", len(m)),
        KeyDef("SupportedFeatureProfiles", "csl", "R", ",".join(FEATURE_PROFILES)),
        KeyDef("SupportedFeatureProfilesMaxLength", "int", "R", len(FEATURE_PROFILES)),
        KeyDef("TransactionMessageAttempts", "int", "RW", 3, 1, 100),
        KeyDef("TransactionMessageRetryInterval", "int", "RW", 60, 0, 86400),
        KeyDef("UnlockConnectorOnEVSideDisconnect", "bool", "RW", True),
        KeyDef("WebSocketPingInterval", "int", "RW", 0, 0, 86400),
        # --- errata additions
        KeyDef("MessageTimeout", "int", "RW", 30, 1, 3600),
        KeyDef("StopTransactionMaxMeterValues", "int", "R", 2),
        KeyDef("SupportedFileTransferProtocols", "csl", "R", "HTTP,HTTPS,FTP"),
        # --- Local auth list (9.2)
        KeyDef("LocalAuthListEnabled", "bool", "RW", True),
        KeyDef("LocalAuthListMaxLength", "int", "R", 1000),
        KeyDef("SendLocalListMaxLength", "int", "R", 100),
        # --- Reservation (9.3)
        KeyDef("ReserveConnectorZeroSupported", "bool", "R", True),
        # --- Smart charging (9.4)
        KeyDef("ChargeProfileMaxStackLevel", "int", "R", 10),
        KeyDef("ChargingScheduleAllowedChargingRateUnit", "csl", "R", "Current,Power"),
        KeyDef("ChargingScheduleMaxPeriods", "int", "R", 24),
        KeyDef("ConnectorSwitch3to1PhaseSupported", "bool", "R", True),
        KeyDef("MaxChargingProfilesInstalled", "int", "R", 20),
        # --- Security whitepaper
        KeyDef("AuthorizationKey", "str", "W", "", check=_authorization_key_check),
        KeyDef("SecurityProfile", "int", "RW", 0, 0, 3),
        KeyDef("CpoName", "str", "RW", "", check=cpo_name_check),
        KeyDef("CertificateSignedMaxChainSize", "int", "R", 10000, 1, 10000),  # the schema's maxLength
        KeyDef("CertificateStoreMaxLength", "int", "R", 10, 1, 1000),
        KeyDef("AdditionalRootCertificateCheck", "bool", "R", False),
    ]


class ConfigKeys:
    """The key registry.  ``prerequisites(profile) -> str | None`` tells whether a SecurityProfile
    upgrade is possible (None = yes); set by the client from its options."""

    def __init__(self, db: Db, definitions: list[KeyDef] | None = None,
                 overrides: dict[str, Any] | None = None) -> None:
        self.db = db
        self.defs: dict[str, KeyDef] = {d.name: d for d in (definitions or default_definitions())}
        self._values: dict[str, Any] = {}
        self._listeners: list[Callable[[str, Any], None]] = []
        self.security_prerequisites: Callable[[int], str | None] = lambda profile: None
        for d in self.defs.values():
            self._values[d.name] = self._parse(d, str(_text(d.default)))[0]
        for name, value in (overrides or {}).items():
            if name in self.defs:
                self._values[name] = self._parse(self.defs[name], _text(value))[0]
        for name, text in db.execute("SELECT name, value FROM config_keys WHERE cp_id=?", (db.cp_id,)):
            stored = self.defs.get(name)
            if stored is None:
                continue
            value, error = self._parse(stored, text)
            if error is None:
                self._values[name] = value

    # -- reading ------------------------------------------------------------------------
    def get(self, name: str) -> Any:
        v = self._values.get(name)
        return list(v) if isinstance(v, list) else v

    def text(self, name: str) -> str | None:
        return None if name not in self._values else _text(self._values[name])

    def known(self, name: str) -> bool:
        return name in self.defs

    def configuration(self, names: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
        """GetConfiguration: (configurationKey list, unknownKey list).  Empty/None = every key."""
        entries: list[dict[str, Any]] = []
        unknown: list[str] = []
        wanted = list(self.defs) if not names else names
        for name in wanted:
            d = self.defs.get(name)
            if d is None or d.access == "W":
                if names:
                    unknown.append(name)
                continue
            entries.append({"key": name, "readonly": d.access == "R", "value": _text(self._values[name])})
        return entries, unknown

    # -- writing ------------------------------------------------------------------------
    def subscribe(self, fn: Callable[[str, Any], None]) -> Callable[[], None]:
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    def validate(self, name: str, text: str) -> tuple[str, Any, str | None]:
        """(status, parsed value, reason) without changing anything."""
        d = self.defs.get(name)
        if d is None:
            return "NotSupported", None, f"unknown key {name}"
        if d.access == "R":
            return "Rejected", None, f"{name} is read-only"
        value, error = self._parse(d, text)
        if error is not None:
            return "Rejected", None, error
        if name == "SecurityProfile":
            current = self._values[name]
            if value < current:
                return "Rejected", None, "SecurityProfile downgrade is not allowed"
            if value > current:
                missing = self.security_prerequisites(value)
                if missing:
                    return "Rejected", None, missing
        return ("RebootRequired" if d.reboot_required else "Accepted"), value, None

    def set(self, name: str, text: str) -> str:
        status, value, _reason = self.validate(name, text)
        if status in ("Accepted", "RebootRequired"):
            self._store(name, value)
        return status

    def set_internal(self, name: str, value: Any) -> None:
        d = self.defs[name]
        parsed, error = self._parse(d, _text(value))
        if error is not None:
            raise ValueError(error)
        self._store(name, parsed)

    def _store(self, name: str, value: Any) -> None:
        self._values[name] = value
        with self.db:
            self.db.execute(
                "INSERT INTO config_keys(cp_id, name, value) VALUES (?,?,?)"
                " ON CONFLICT(cp_id, name) DO UPDATE SET value=excluded.value",
                (self.db.cp_id, name, _text(value)),
            )
        for fn in list(self._listeners):
            fn(name, self.get(name))

    def _parse(self, d: KeyDef, text: str) -> tuple[Any, str | None]:
        text = text.strip() if d.kind != "str" else text
        if d.kind == "int":
            if not _INT_RE.fullmatch(text):
                return None, f"{d.name}: {text!r} is not an integer"
            value: Any = int(text)
            if d.minimum is not None and value < d.minimum:
                return None, f"{d.name}: {value} below minimum {d.minimum}"
            if d.maximum is not None and value > d.maximum:
                return None, f"{d.name}: {value} above maximum {d.maximum}"
            return value, None
        if d.kind == "bool":
            low = text.lower()
            if low not in ("true", "false"):
                return None, f"{d.name}: {text!r} is not true/false"
            return low == "true", None
        if d.kind == "csl":
            items = [s.strip() for s in text.split(",")] if text.strip() else []
            if any(not s for s in items):
                return None, f"{d.name}: empty item in list"
            if d.allowed is not None:
                bad = [s for s in items if s not in d.allowed]
                if bad:
                    return None, f"{d.name}: unsupported value(s) {', '.join(bad)}"
            if d.max_items_key and d.max_items_key in self._values and len(items) > self._values[d.max_items_key]:
                return None, f"{d.name}: more than {self._values[d.max_items_key]} items"
            if d.check is not None:
                err = d.check(items)
                if err:
                    return None, err
            return items, None
        if len(text) > 500:
            return None, f"{d.name}: value longer than 500 characters"
        if d.check is not None and text:
            err = d.check(text)
            if err:
                return None, err
        return text, None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)
