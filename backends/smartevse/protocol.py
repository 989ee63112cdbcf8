"""The SmartEVSE v4 ESP32 <-> CH32 serial line protocol: a tolerant parser and a strict encoder.

Wire format (reference §3.6): ASCII lines ``@Key:value\\n`` (or ``@Key\\n`` for bare commands such as
``@setStatePowerUnavailable`` / ``@!Panic``, and ``@version?``).  Values are decimal integers, comma
lists of integers (``@Irms:011,312,123,124``), hex (``@RFID:...``) or free strings.  The CH32 appends
a ``.`` to some values (``@State:2.``); it is accepted on every integer value.

The parser is line based with an *exact* key match against a schema for the direction it listens
to.  It never raises: every byte sequence ends up either as a :class:`Message` or in a counter of
:class:`ParserStats` (garbage, partial, overlong, unknown key, malformed value, non-ASCII).
``@MSG:`` lines are free-text logs and come out as ``Message("MSG", text)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from hal.types import BoardState

#: Longest accepted line (bytes, without the newline).  Longer lines are dropped whole.
MAX_LINE = 256


class Kind(Enum):
    """Value type of a key."""

    NONE = "none"  # bare command, no value
    INT = "int"  # one signed decimal integer, optional trailing '.'
    INTS2 = "ints2"  # AAA,value  (meter address + one value)
    INTS4 = "ints4"  # AAA,L1,L2,L3
    HEX = "hex"  # hexadecimal string (RFID)
    STR = "str"  # free text (EVCCID, "OK")


# --------------------------------------------------------------------------- schemas

#: CH32 -> ESP32 (what our charge point receives).
CH32_TO_ESP32: dict[str, Kind] = {
    "State": Kind.INT,
    "Pilot": Kind.INT,
    "Temp": Kind.INT,
    "ErrorFlags": Kind.INT,
    "IsCurrentAvailable": Kind.INT,
    "ChargeDelay": Kind.INT,
    "SolarStopTimer": Kind.INT,
    "RCMTestCounter": Kind.INT,
    "Nr_Of_Phases_Charging": Kind.INT,
    "ChargeCurrent": Kind.INT,
    "Balanced0": Kind.INT,
    "IsetBalanced": Kind.INT,
    "Access": Kind.INT,
    "Mode": Kind.INT,
    "OverrideCurrent": Kind.INT,
    "NodeNewMode": Kind.INT,
    "ExtSwitch": Kind.INT,
    "RFID": Kind.HEX,
    "RFIDstatus": Kind.INT,
    "Irms": Kind.INTS4,
    "PowerMeasured": Kind.INTS2,
    "Energy": Kind.INTS2,
    "EnergyMeterStart": Kind.INTS2,
    "EnergyCharged": Kind.INTS2,
    "Import_active_energy": Kind.INTS2,
    "Export_active_energy": Kind.INTS2,
    "GridActive": Kind.INT,
    "LCDTimer": Kind.INT,
    "BacklightTimer": Kind.INT,
    "write_settings": Kind.NONE,
    "DisconnectEvent": Kind.NONE,
    "Config": Kind.STR,
    "version": Kind.INT,
    "!Panic": Kind.NONE,
}

#: ESP32 -> CH32 variable copies sent in the configuration burst (and on change).
CONFIG_VARIABLES: tuple[str, ...] = (
    "Config",
    "Lock",
    "CableLock",
    "Mode",
    "Access",
    "OverrideCurrent",
    "LoadBl",
    "MaxMains",
    "MaxSumMains",
    "MaxSumMainsTime",
    "MaxCurrent",
    "MinCurrent",
    "MaxCircuit",
    "Switch",
    "StartCurrent",
    "StopTime",
    "ImportCurrent",
    "Grid",
    "RFIDReader",
    "MainsMeterType",
    "MainsMAddress",
    "EVMeterType",
    "EVMeterAddress",
    "EMEndianness",
    "EMIRegister",
    "EMIDivisor",
    "EMURegister",
    "EMUDivisor",
    "EMPRegister",
    "EMPDivisor",
    "EMERegister",
    "EMEDivisor",
    "EMDataType",
    "EMFunction",
    "EnableC2",
    "maxTemp",
    "MainsMeterTimeout",
    "EVMeterTimeout",
    "ConfigChanged",
    "ModemStage",
    "homeBatteryCurrent",
    "SolarStopTimer",
)

#: ESP32 -> CH32 (what our charge point sends; what the emulator receives).
ESP32_TO_CH32: dict[str, Kind] = {
    "State": Kind.INT,
    "SetCPDuty": Kind.INT,
    "SetCurrent": Kind.INT,
    "setPilot": Kind.INT,
    "CalcBalancedCurrent": Kind.INT,
    "setStatePowerUnavailable": Kind.NONE,
    "setErrorFlags": Kind.INT,
    "clearErrorFlags": Kind.INT,
    "PowerPanicCtrl": Kind.INT,
    "RCmon": Kind.INT,
    "OneWireReadCardId": Kind.NONE,
    "BroadcastSettings": Kind.NONE,
    "ResetModemTimers": Kind.NONE,
    "version?": Kind.NONE,
    "Initialized": Kind.INT,
    "RequiredEVCCID": Kind.STR,
    "EVCCID": Kind.STR,
    "Irms": Kind.INTS4,
    "PowerMeasured": Kind.INTS2,
    **{name: Kind.INT for name in CONFIG_VARIABLES},
}

LOG_KEY = "MSG"


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded line.  ``value`` is None (bare), an int, a tuple of ints or a str."""

    key: str
    value: int | tuple[int, ...] | str | None = None

    def as_int(self) -> int:
        if not isinstance(self.value, int):
            raise TypeError(f"@{self.key} carries {self.value!r}, not an integer")
        return self.value

    def as_ints(self) -> tuple[int, ...]:
        if not isinstance(self.value, tuple):
            raise TypeError(f"@{self.key} carries {self.value!r}, not a list of integers")
        return self.value


@dataclass(slots=True)
class ParserStats:
    bytes: int = 0
    lines: int = 0
    messages: int = 0
    logs: int = 0
    garbage: int = 0  # lines not starting with '@' (or empty key)
    partial: int = 0  # a line cut short by the start of another '@' line, or dropped on reset
    overlong: int = 0  # lines longer than MAX_LINE
    non_ascii: int = 0  # lines with bytes outside printable ASCII
    unknown_key: int = 0
    malformed: int = 0  # known key, value of the wrong shape
    last_error: str = ""
    unknown_keys: dict[str, int] = field(default_factory=dict)

    def dropped(self) -> int:
        return self.garbage + self.partial + self.overlong + self.non_ascii + self.unknown_key + self.malformed


def _parse_int(text: str) -> int | None:
    if text.endswith("."):
        text = text[:-1]
    body = text[1:] if text[:1] in "+-" else text
    if not body or not body.isdigit() or not body.isascii() or len(body) > 12:
        return None
    return int(text)


def _parse_value(kind: Kind, raw: str | None) -> tuple[bool, int | tuple[int, ...] | str | None]:
    """(ok, value) for ``raw`` (None when the line had no ':')."""
    if kind is Kind.NONE:
        return (raw is None or raw == ""), None
    if raw is None:
        return False, None
    if kind is Kind.INT:
        v = _parse_int(raw.strip())
        return v is not None, v
    if kind in (Kind.INTS2, Kind.INTS4):
        want = 2 if kind is Kind.INTS2 else 4
        text = raw.strip()
        if text.endswith("."):
            text = text[:-1]
        parts = text.split(",")
        if len(parts) != want:
            return False, None
        values = [_parse_int(p.strip()) for p in parts]
        if any(v is None for v in values):
            return False, None
        return True, tuple(v for v in values if v is not None)
    if kind is Kind.HEX:
        text = raw.strip()
        if not text or len(text) > 32 or len(text) % 2:
            return False, None
        try:
            bytes.fromhex(text)
        except ValueError:
            return False, None
        return True, text.upper()
    # STR
    return True, raw.strip()


class LineParser:
    """Incremental, never-raising line parser for one direction of the link."""

    def __init__(self, schema: dict[str, Kind], max_line: int = MAX_LINE) -> None:
        self.schema = schema
        self.max_line = max_line
        self.stats = ParserStats()
        self._buf = bytearray()
        self._discarding = False  # inside an overlong line, drop until the next newline

    def reset(self) -> None:
        """Forget a half-received line (port closed / reopened)."""
        if self._buf:
            self.stats.partial += 1
        self._buf.clear()
        self._discarding = False

    def feed(self, data: bytes) -> list[Message]:
        out: list[Message] = []
        self.stats.bytes += len(data)
        start = 0
        n = len(data)
        while start < n:
            nl = data.find(b"\n", start)
            chunk = data[start:] if nl < 0 else data[start:nl]
            if self._discarding:
                if nl >= 0:
                    self._discarding = False
            elif len(self._buf) + len(chunk) > self.max_line:
                self.stats.overlong += 1
                self.stats.last_error = f"line longer than {self.max_line} bytes dropped"
                self._buf.clear()
                self._discarding = nl < 0
            elif nl < 0:
                self._buf += chunk
            else:
                self._buf += chunk
                line = bytes(self._buf)
                self._buf.clear()
                msg = self._parse_line(line)
                if msg is not None:
                    out.append(msg)
            if nl < 0:
                break
            start = nl + 1
        return out

    def feed_lines(self, lines: Iterable[bytes]) -> list[Message]:
        out: list[Message] = []
        for line in lines:
            out.extend(self.feed(line if line.endswith(b"\n") else line + b"\n"))
        return out

    # ---------------------------------------------------------------------------------------
    def _parse_line(self, line: bytes) -> Message | None:
        st = self.stats
        st.lines += 1
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line.strip():
            return None  # blank lines are line noise, not worth a counter
        if line.startswith(b"@" + LOG_KEY.encode() + b":"):
            st.logs += 1
            text = line[len(LOG_KEY) + 2 :].decode("ascii", "replace")
            return Message(LOG_KEY, "".join(ch if ch.isprintable() else "?" for ch in text).strip())
        cut = line.rfind(b"@")
        if cut < 0:
            if line.isascii():
                st.garbage += 1
                st.last_error = f"line without '@': {line[:40]!r}"
            else:
                st.non_ascii += 1
                st.last_error = f"non-ASCII line without '@': {line[:40]!r}"
            return None
        if cut > 0:
            # The head of the line is the remains of a line cut short (lost bytes / reset peer).
            st.partial += 1
            st.last_error = f"partial line dropped: {line[:cut][:40]!r}"
            line = line[cut:]
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            st.non_ascii += 1
            st.last_error = "non-ASCII bytes in line"
            return None
        if not text.isprintable():
            st.non_ascii += 1
            st.last_error = "control characters in line"
            return None
        if len(text) == 1:
            st.garbage += 1
            st.last_error = "a lone '@'"
            return None
        body = text[1:]
        key, sep, raw = body.partition(":")
        value_text: str | None = raw if sep else None
        kind = self.schema.get(key)
        if kind is None:
            st.unknown_key += 1
            shown = key[:32]
            if shown in st.unknown_keys or len(st.unknown_keys) < 64:
                st.unknown_keys[shown] = st.unknown_keys.get(shown, 0) + 1
            st.last_error = f"unknown key @{shown}"
            return None
        ok, value = _parse_value(kind, value_text)
        if not ok:
            st.malformed += 1
            st.last_error = f"bad value for @{key}: {value_text!r}"
            return None
        st.messages += 1
        return Message(key, value)


# --------------------------------------------------------------------------- encoder


class EncodeError(ValueError):
    """A message that the schema does not allow (unknown key or wrong value shape)."""


def encode(schema: dict[str, Kind], key: str, value: int | tuple[int, ...] | str | None = None,
           *, dot: bool = False) -> bytes:
    """Encode one line for the direction described by ``schema``; raises :class:`EncodeError`
    naming the key when the key or the value does not fit."""
    kind = schema.get(key)
    if kind is None:
        raise EncodeError(f"unknown key @{key} for this direction")
    if kind is Kind.NONE:
        if value is not None:
            raise EncodeError(f"@{key} takes no value (got {value!r})")
        return f"@{key}\n".encode("ascii")
    if kind is Kind.INT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise EncodeError(f"@{key} needs an integer (got {value!r})")
        text = str(value) + ("." if dot else "")
    elif kind in (Kind.INTS2, Kind.INTS4):
        want = 2 if kind is Kind.INTS2 else 4
        if (not isinstance(value, tuple) or len(value) != want
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
            raise EncodeError(f"@{key} needs {want} integers (got {value!r})")
        address, *rest = value
        if not 0 <= address <= 999:
            raise EncodeError(f"@{key}: meter address {address} outside 0..999")
        text = ",".join([f"{address:03d}", *(str(v) for v in rest)])
    elif kind is Kind.HEX:
        if not isinstance(value, str):
            raise EncodeError(f"@{key} needs a hex string (got {value!r})")
        ok, _ = _parse_value(Kind.HEX, value)
        if not ok:
            raise EncodeError(f"@{key}: {value!r} is not an even-length hex string")
        text = value.upper()
    else:
        if not isinstance(value, str) or "\n" in value or not value.isascii():
            raise EncodeError(f"@{key} needs a single-line ASCII string (got {value!r})")
        text = value
    line = f"@{key}:{text}\n".encode("ascii")
    if len(line) - 1 > MAX_LINE:
        raise EncodeError(f"@{key}: encoded line longer than {MAX_LINE} bytes")
    return line


def encode_command(key: str, value: int | tuple[int, ...] | str | None = None) -> bytes:
    """An ESP32 -> CH32 line (what our charge point writes)."""
    return encode(ESP32_TO_CH32, key, value)


def encode_report(key: str, value: int | tuple[int, ...] | str | None = None, *, dot: bool = False) -> bytes:
    """A CH32 -> ESP32 line (what the emulator writes)."""
    return encode(CH32_TO_ESP32, key, value, dot=dot)


def encode_log(text: str) -> bytes:
    clean = "".join(ch if ch.isprintable() and ch.isascii() else "?" for ch in text)[: MAX_LINE - 6]
    return f"@{LOG_KEY}:{clean}\n".encode("ascii")


# --------------------------------------------------------------------------- state codes

#: CH32 state code -> HAL state letter (reference §2.1; 0..10 as the task's table, 11..14 modem).
STATE_LETTER: dict[int, BoardState] = {
    0: BoardState.A,
    1: BoardState.B,
    2: BoardState.C,
    3: BoardState.D,
    4: BoardState.B,
    5: BoardState.B,
    6: BoardState.C,
    7: BoardState.C,
    8: BoardState.B,
    9: BoardState.B1,
    10: BoardState.C1,
    11: BoardState.B,
    12: BoardState.B,
    13: BoardState.B,
    14: BoardState.E,
    255: BoardState.F,
}

#: Codes in which the CH32 holds contactor C1 closed (it closes on C entry and keeps it through C1).
CONTACTOR_CLOSED_STATES = frozenset({2, 10})

# ErrorFlags bits (reference §3.4)
LESS_6A = 1
CT_NOCOMM = 2
TEMP_HIGH = 4
EV_NOCOMM = 8
RCM_TRIPPED = 16
RCM_TEST = 32
TEST_IO = 64
BL_FLASH = 128

#: Flags that are faults (LESS_6A is a waiting condition, RCM_TEST a running self-test).
HARD_FLAGS: dict[int, str] = {
    CT_NOCOMM: "ct_nocomm",
    TEMP_HIGH: "temp_high",
    EV_NOCOMM: "ev_nocomm",
    RCM_TRIPPED: "rcm_tripped",
    TEST_IO: "test_io",
    BL_FLASH: "bl_flash",
}

# Pilot codes (reference §2.2)
PILOT_12V = 12
PILOT_9V = 9
PILOT_6V = 6
PILOT_3V = 3
PILOT_DIODE = 1
PILOT_NOK = 0
PILOT_SHORT = 255


def duty_for_current(current_da: int) -> int:
    """CP duty in permille for a current in dA (reference §2.6); < 6 A or > 80 A gives 100 (6 A)."""
    if 60 <= current_da <= 510:
        return int(current_da / 0.6)
    if 510 < current_da <= 800:
        return int(current_da / 2.5 + 640)
    return 100


def current_for_duty(duty_permille: int) -> float:
    """Inverse of :func:`duty_for_current` in A (0 for duties that encode no current)."""
    if 100 <= duty_permille <= 850:
        return round(duty_permille * 0.06, 1)
    if 850 < duty_permille <= 960:
        return round((duty_permille - 640) * 0.25, 1)
    return 0.0
