"""Table-driven kWh meter definitions (SmartEVSE ``EMConfig`` order) and their register codec.

A :class:`MeterDefinition` says, for one meter model, which Modbus function reads it, how its
registers combine into numbers (data type, byte/word order) and, per quantity, the first register
and the divisor exponent (value / 10**divisor; a negative exponent multiplies).  From that table:

* :meth:`MeterDefinition.reads` -- the register blocks one poll reads;
* :func:`decode` -- a register image (address -> 16-bit register) to :class:`MeterValues`
  (V per phase, signed A per phase, W, Wh import/export), rejecting NaN/Inf and absurd values
  with a :class:`DecodeError` naming meter and quantity;
* :func:`encode` -- the inverse, used by the simulated meters, so ``decode(encode(v)) == v``
  within the register resolution.

Conventions (reference smartevse.md §4.4-4.7):

* Register numbers are 0-based PDU addresses.  Three-phase quantities are three consecutive values
  of the meter's data type starting at the quantity's register.
* Currents are unsigned on most meters; for the meters marked ``sign_from_power`` the sign of each
  phase power is copied onto the phase current (export => negative current).  The phase powers sit
  ``sign_from_power`` registers after the current register, inside the same read.
* The "inverted" SDM630 is mounted upside down: it reports power negated and import/export swapped;
  decoding undoes both.
* FLOAT32 values are kept as floats (the firmware truncates to mA/Wh integers; we do not).
* Energy registers are in kWh after the divisor; :class:`MeterValues` carries Wh.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import IntEnum, StrEnum

#: Registers of one poll: PDU address -> 16-bit register value.
RegisterImage = Mapping[int, int]


class DecodeError(ValueError):
    """A register image cannot be turned into a plausible reading."""

    def __init__(self, meter: str, quantity: str, detail: str) -> None:
        super().__init__(f"meter {meter}: {quantity}: {detail}")
        self.meter = meter
        self.quantity = quantity
        self.detail = detail


class EncodeError(ValueError):
    """A value does not fit the register format of a meter (simulator side)."""


class DataType(StrEnum):
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"
    #: 64-bit unsigned counter of which only the lower 32 bits are used (ABB energy).
    UINT64_LOW32 = "uint64_low32"


#: Registers per value of each data type.
WIDTH: dict[DataType, int] = {
    DataType.INT16: 1,
    DataType.UINT16: 1,
    DataType.INT32: 2,
    DataType.UINT32: 2,
    DataType.FLOAT32: 2,
    DataType.UINT64_LOW32: 4,
}


class ByteOrder(IntEnum):
    """Byte/word order codes as in the SmartEVSE menu (custom meter register 0x020A)."""

    LBF_LWF = 0  # little-endian: low byte first, low word first
    LBF_HWF = 1  # bytes swapped inside each word, high word first
    HBF_LWF = 2  # word-swapped: high byte first, low word first
    HBF_HWF = 3  # big-endian ("ABCD")

    @property
    def high_byte_first(self) -> bool:
        return self in (ByteOrder.HBF_LWF, ByteOrder.HBF_HWF)

    @property
    def high_word_first(self) -> bool:
        return self in (ByteOrder.LBF_HWF, ByteOrder.HBF_HWF)


# --------------------------------------------------------------------------- register combining


def _bytes_to_registers(raw: bytes, order: ByteOrder) -> list[int]:
    """Big-endian bytes of a value -> registers as the meter stores them."""
    words = [raw[i : i + 2] for i in range(0, len(raw), 2)]
    if not order.high_word_first:
        words.reverse()
    if not order.high_byte_first:
        words = [w[::-1] for w in words]
    return [int.from_bytes(w, "big") for w in words]


def _registers_to_bytes(regs: list[int], order: ByteOrder) -> bytes:
    """Registers as the meter stores them -> big-endian bytes of the value."""
    words = [r.to_bytes(2, "big") for r in regs]
    if not order.high_byte_first:
        words = [w[::-1] for w in words]
    if not order.high_word_first:
        words.reverse()
    return b"".join(words)


def combine(regs: list[int], dtype: DataType, order: ByteOrder) -> float | int:
    """Combine the registers of one value (``WIDTH[dtype]`` of them) into a number."""
    if len(regs) != WIDTH[dtype]:
        raise ValueError(f"{dtype} needs {WIDTH[dtype]} registers, got {len(regs)}")
    for r in regs:
        if not 0 <= r <= 0xFFFF:
            raise ValueError(f"register value {r} is not 16-bit")
    raw = _registers_to_bytes(regs, order)
    if dtype is DataType.FLOAT32:
        return struct.unpack(">f", raw)[0]
    if dtype is DataType.UINT64_LOW32:
        return int.from_bytes(raw[4:], "big")
    signed = dtype in (DataType.INT16, DataType.INT32)
    return int.from_bytes(raw, "big", signed=signed)


def split(value: float | int, dtype: DataType, order: ByteOrder) -> list[int]:
    """Inverse of :func:`combine`: one value -> its registers.  Raises EncodeError when it does not fit."""
    try:
        if dtype is DataType.FLOAT32:
            raw = struct.pack(">f", float(value))
        elif dtype is DataType.UINT64_LOW32:
            raw = int(value).to_bytes(8, "big", signed=False)
        else:
            signed = dtype in (DataType.INT16, DataType.INT32)
            raw = int(value).to_bytes(2 * WIDTH[dtype], "big", signed=signed)
    except (OverflowError, struct.error) as exc:
        raise EncodeError(f"{value!r} does not fit {dtype}") from exc
    return _bytes_to_registers(raw, order)


# --------------------------------------------------------------------------- definitions


@dataclass(frozen=True, slots=True)
class Quantity:
    """Where one quantity lives: first register, divisor exponent, optional own data type and
    (SunSpec) the register holding a signed power-of-ten scale factor."""

    register: int
    divisor: int = 0
    dtype: DataType | None = None
    scale_register: int | None = None


@dataclass(frozen=True, slots=True)
class ReadBlock:
    function: int
    address: int
    count: int


@dataclass(frozen=True, slots=True)
class MeterValues:
    """A decoded reading, independent of connector: V and signed A per phase, W, Wh."""

    voltage_v: tuple[float, float, float]
    current_a: tuple[float, float, float]
    power_w: float
    energy_import_wh: float
    energy_export_wh: float = 0.0


@dataclass(frozen=True, slots=True)
class MeterDefinition:
    key: str
    name: str
    function: int  # 3 holding registers, 4 input registers
    dtype: DataType
    order: ByteOrder
    current: Quantity
    voltage: Quantity | None = None
    power: Quantity | None = None
    energy_import: Quantity | None = None
    energy_export: Quantity | None = None
    phases: int = 3
    #: The power register holds three per-phase values that are summed (Sinotimer).
    power_per_phase: bool = False
    #: Registers from the current register to the L1 phase power whose sign the current takes.
    sign_from_power: int | None = None
    #: Registers read from the current register (default: one value per phase).
    current_read_count: int | None = None
    #: Mounted upside down: power negated, import/export swapped.
    inverted: bool = False
    #: Explicit read plan (replaces the computed one; SunSpec reads its model in one block).
    blocks: tuple[tuple[int, int], ...] = ()
    #: Firmware menu index (table 4.4), None for definitions without one.
    index: int | None = None
    #: "table" for register-table meters, "sensorbox" for the Sensorbox routine (§4.7).
    kind: str = "table"
    default_address: int = 1
    #: Scale factors the simulator writes for SunSpec quantities (quantity name -> exponent).
    sim_scale: dict[str, int] = field(default_factory=dict, hash=False, compare=False)

    def dtype_of(self, q: Quantity) -> DataType:
        return q.dtype or self.dtype

    def width_of(self, q: Quantity) -> int:
        return WIDTH[self.dtype_of(q)]

    def quantities(self) -> dict[str, Quantity]:
        out: dict[str, Quantity] = {}
        for name in ("voltage", "current", "power", "energy_import", "energy_export"):
            q = getattr(self, name)
            if q is not None:
                out[name] = q
        return out

    def value_count(self, name: str) -> int:
        if name in ("voltage", "current"):
            return self.phases
        if name == "power":
            return 3 if self.power_per_phase else 1
        return 1

    def reads(self) -> list[ReadBlock]:
        """The register blocks one poll reads, in order."""
        if self.kind == "sensorbox":
            return [ReadBlock(4, 0x0000, SENSORBOX_READ_COUNT)]
        if self.blocks:
            return [ReadBlock(self.function, a, c) for a, c in self.blocks]
        out: list[ReadBlock] = []
        for name, q in self.quantities().items():
            count = self.width_of(q) * self.value_count(name)
            if name == "current" and self.current_read_count:
                count = self.current_read_count
            out.append(ReadBlock(self.function, q.register, count))
        # A block that lies inside another one is not read twice.
        return [
            b for k, b in enumerate(out)
            if not any(o.address <= b.address and b.address + b.count <= o.address + o.count
                       and (o.count > b.count or j < k) for j, o in enumerate(out) if j != k)
        ]

    def registers_used(self) -> set[int]:
        """Every register address that a poll reads (the simulator serves exactly these)."""
        regs: set[int] = set()
        for b in self.reads():
            regs.update(range(b.address, b.address + b.count))
        return regs


F32, I16, I32 = DataType.FLOAT32, DataType.INT16, DataType.INT32
BE, WS = ByteOrder.HBF_HWF, ByteOrder.HBF_LWF

#: Sensorbox registers per poll (Sensorbox-2 firmware >= 1 answers 32; 20 is what every version has).
SENSORBOX_READ_COUNT = 20
#: The Sensorbox only measures currents; with CTs only (no P1 voltages) power is estimated at this voltage.
SENSORBOX_NOMINAL_V = 230.0

SDM630 = MeterDefinition(
    key="sdm630", name="Eastron SDM630", index=4, function=4, dtype=F32, order=BE,
    voltage=Quantity(0x0000), current=Quantity(0x0006), power=Quantity(0x0034),
    energy_import=Quantity(0x0048), energy_export=Quantity(0x004A),
    sign_from_power=6, current_read_count=12,
)

METERS: dict[str, MeterDefinition] = {
    d.key: d
    for d in (
        MeterDefinition(
            key="sensorbox", name="SmartEVSE Sensorbox", index=1, function=4, dtype=F32, order=BE,
            current=Quantity(0x0008), kind="sensorbox", default_address=0x0A,
        ),
        MeterDefinition(
            key="eem350", name="Phoenix Contact EEM-350-D-MCB", index=2, function=4, dtype=I32, order=WS,
            voltage=Quantity(0x0000, 1), current=Quantity(0x000C, 3), power=Quantity(0x0028, 1),
            energy_import=Quantity(0x003E, 1),
        ),
        MeterDefinition(
            key="finder_7e", name="Finder 7E.78.8.400.0212", index=3, function=4, dtype=F32, order=BE,
            voltage=Quantity(0x1000), current=Quantity(0x100E), power=Quantity(0x1026),
            energy_import=Quantity(0x1106, 3), energy_export=Quantity(0x110E, 3),
        ),
        SDM630,
        replace(SDM630, key="sdm630_inverted", name="Eastron SDM630 (mounted inverted)", index=5,
                inverted=True),
        MeterDefinition(
            key="abb_b23", name="ABB B23 212-100", index=6, function=3, dtype=I32, order=BE,
            voltage=Quantity(0x5B00, 1), current=Quantity(0x5B0C, 2), power=Quantity(0x5B14, 2),
            energy_import=Quantity(0x5000, 2, DataType.UINT64_LOW32),
            energy_export=Quantity(0x5004, 2, DataType.UINT64_LOW32),
            sign_from_power=10, current_read_count=16,
        ),
        MeterDefinition(
            # SunSpec model 203 (wye meter) whose data starts at 40190: A, AphA-C, A_SF, PhV,
            # PhVphA-C, ..., V_SF (40203), Hz, Hz_SF, W (40206), WphA-C, W_SF (40210), ...,
            # TotWhExp (40226, acc32), ..., TotWhImp (40234, acc32), ..., TotWh_SF (40242).
            key="solaredge", name="SolarEdge (SunSpec)", index=7, function=3, dtype=I16, order=BE,
            voltage=Quantity(40196, 0, scale_register=40203),
            current=Quantity(40191, 0, scale_register=40194),
            power=Quantity(40206, 0, scale_register=40210),
            energy_import=Quantity(40234, 3, DataType.UINT32, scale_register=40242),
            energy_export=Quantity(40226, 3, DataType.UINT32, scale_register=40242),
            blocks=((40190, 53),),
            sim_scale={"voltage": -1, "current": -2, "power": 0, "energy_import": 0, "energy_export": 0},
        ),
        MeterDefinition(
            key="wago_879", name="WAGO 879-30x0", index=8, function=3, dtype=F32, order=BE,
            voltage=Quantity(0x5002), current=Quantity(0x500C), power=Quantity(0x5012, -3),
            energy_import=Quantity(0x600C), energy_export=Quantity(0x6018),
        ),
        MeterDefinition(
            key="sdm120", name="Eastron SDM120 (1-phase)", index=10, function=4, dtype=F32, order=BE,
            voltage=Quantity(0x0000), current=Quantity(0x0006), power=Quantity(0x000C),
            energy_import=Quantity(0x0048), energy_export=Quantity(0x004A),
            phases=1, sign_from_power=6, current_read_count=12,
        ),
        MeterDefinition(
            # Phase powers at 2530/2532/2534 (inside the 20-register current read; total at 2536).
            key="finder_7m", name="Finder 7M.38.8.400.0212", index=11, function=4, dtype=F32, order=BE,
            voltage=Quantity(2500), current=Quantity(2516), power=Quantity(2536),
            energy_import=Quantity(2638, 3), sign_from_power=14, current_read_count=20,
        ),
        MeterDefinition(
            key="sinotimer_dts6619", name="Sinotimer DTS6619", index=12, function=4, dtype=I16, order=BE,
            voltage=Quantity(0x0000, 1), current=Quantity(0x0003, 2), power=Quantity(0x0008),
            energy_import=Quantity(0x0027, 2, DataType.UINT32),
            energy_export=Quantity(0x0031, 2, DataType.UINT32),
            power_per_phase=True,
        ),
        MeterDefinition(
            # Phase powers at 0x0BED/0x0BEF/0x0BF1 (kW), inside the 60-register current read.
            key="schneider_iem3x5x", name="Schneider iEM3x5x", index=14, function=3, dtype=F32, order=BE,
            voltage=Quantity(0x0BD3), current=Quantity(0x0BB7), power=Quantity(0x0BF3, -3),
            energy_import=Quantity(0xB02B), energy_export=Quantity(0xB02D),
            sign_from_power=54, current_read_count=60,
        ),
        MeterDefinition(
            # Phase powers at 0x2014/0x2016/0x2018 (0.1 W) follow the total at 0x2012.
            key="chint_dtsu666", name="Chint DTSU666", index=15, function=3, dtype=F32, order=BE,
            voltage=Quantity(0x2000, 1), current=Quantity(0x200C, 3), power=Quantity(0x2012, 1),
            energy_import=Quantity(0x101E), energy_export=Quantity(0x1028),
            sign_from_power=8, current_read_count=14,
        ),
        MeterDefinition(
            key="carlo_gavazzi_em340", name="Carlo Gavazzi EM340", index=16, function=4, dtype=I32,
            order=WS, voltage=Quantity(0x0000, 1), current=Quantity(0x000C, 3), power=Quantity(0x0028, 1),
            energy_import=Quantity(0x0034, 1), energy_export=Quantity(0x004E, 1),
        ),
    )
}

#: Firmware menu index (table 4.4) -> key.
METER_INDEX: dict[int, str] = {d.index: d.key for d in METERS.values() if d.index is not None}


def custom_definition(
    *,
    function: int,
    dtype: DataType,
    order: ByteOrder,
    voltage: Quantity,
    current: Quantity,
    power: Quantity,
    energy: Quantity,
    name: str = "Custom meter",
) -> MeterDefinition:
    """The "Custom" meter (menu index 19): registers, type, order, divisors and function from config."""
    if function not in (3, 4):
        raise ValueError(f"function must be 3 or 4, got {function}")
    return MeterDefinition(
        key="custom", name=name, index=19, function=function, dtype=dtype, order=order,
        voltage=voltage, current=current, power=power, energy_import=energy,
    )


# --------------------------------------------------------------------------- limits

#: Plausibility limits: anything outside is a decode error, never a reading.
MAX_VOLTAGE_V = 1000.0
MAX_CURRENT_A = 2000.0
MAX_POWER_W = 5_000_000.0
MAX_ENERGY_WH = 1e12

# acc32 counters use 0 for "not accumulated", which is also a valid fresh reading: not rejected.
_SUNSPEC_NOT_IMPLEMENTED = {DataType.INT16: -0x8000, DataType.UINT16: 0xFFFF}


# --------------------------------------------------------------------------- decoding


def _scale(raw: float | int, divisor: int) -> float:
    # Divide by exact powers of ten (no 0.1 factors), so 2305 with divisor 1 is exactly 230.5.
    return raw / 10**divisor if divisor >= 0 else raw * 10 ** (-divisor)


def _regs(defn: MeterDefinition, image: RegisterImage, address: int, count: int, quantity: str) -> list[int]:
    try:
        return [image[a] for a in range(address, address + count)]
    except KeyError as exc:
        raise DecodeError(defn.key, quantity, f"register {exc.args[0]} missing from the reply") from None


def _raw_values(defn: MeterDefinition, image: RegisterImage, name: str, q: Quantity, n: int) -> list[float]:
    dtype = defn.dtype_of(q)
    width = WIDTH[dtype]
    values: list[float] = []
    sf = 0
    if q.scale_register is not None:
        sf = int(combine(_regs(defn, image, q.scale_register, 1, name), DataType.INT16, defn.order))
        if not -10 <= sf <= 10:
            raise DecodeError(defn.key, name, f"scale factor {sf} out of range -10..10")
    for i in range(n):
        raw = combine(_regs(defn, image, q.register + i * width, width, name), dtype, defn.order)
        if isinstance(raw, float) and not math.isfinite(raw):
            raise DecodeError(defn.key, name, f"not a finite number ({raw})")
        if q.scale_register is not None and raw == _SUNSPEC_NOT_IMPLEMENTED.get(dtype):
            raise DecodeError(defn.key, name, "SunSpec 'not implemented' marker")
        values.append(_scale(raw, q.divisor - sf))
    return values


def _check(defn: MeterDefinition, name: str, value: float, low: float, high: float, unit: str) -> float:
    if not math.isfinite(value):
        raise DecodeError(defn.key, name, f"not a finite number ({value})")
    if not low <= value <= high:
        raise DecodeError(defn.key, name, f"{value:g} {unit} outside the plausible range {low:g}..{high:g}")
    return value


def _pad3(values: list[float]) -> tuple[float, float, float]:
    padded = [*values, 0.0, 0.0, 0.0][:3]
    return (padded[0], padded[1], padded[2])


def decode(defn: MeterDefinition, image: RegisterImage) -> MeterValues:
    """Register image of one poll -> plausible :class:`MeterValues`, or :class:`DecodeError`."""
    if defn.kind == "sensorbox":
        return _decode_sensorbox(defn, image)
    n = defn.phases
    voltage = [0.0] * n
    if defn.voltage is not None:
        voltage = _raw_values(defn, image, "voltage", defn.voltage, n)
    for v in voltage:
        _check(defn, "voltage", v, 0.0, MAX_VOLTAGE_V, "V")
    current = _raw_values(defn, image, "current", defn.current, n)
    if defn.sign_from_power is not None:
        phase_power_q = Quantity(defn.current.register + defn.sign_from_power, 0)
        phase_power = _raw_values(defn, image, "phase power", phase_power_q, n)
        sign = -1.0 if defn.inverted else 1.0
        current = [math.copysign(abs(i), sign * p) if p != 0 else abs(i) for i, p in zip(current, phase_power,
                                                                                          strict=True)]
    for i in current:
        _check(defn, "current", i, -MAX_CURRENT_A, MAX_CURRENT_A, "A")
    power = 0.0
    if defn.power is not None:
        power = math.fsum(_raw_values(defn, image, "power", defn.power, defn.value_count("power")))
        if defn.inverted:
            power = -power
    _check(defn, "power", power, -MAX_POWER_W, MAX_POWER_W, "W")
    energies: dict[str, float] = {}
    for name in ("energy_import", "energy_export"):
        q = getattr(defn, name)
        kwh = _raw_values(defn, image, name, q, 1)[0] if q is not None else 0.0
        energies[name] = _check(defn, name, kwh * 1000.0, 0.0, MAX_ENERGY_WH, "Wh")
    e_imp, e_exp = energies["energy_import"], energies["energy_export"]
    if defn.inverted:
        e_imp, e_exp = e_exp, e_imp
    return MeterValues(_pad3(voltage), _pad3(current), power, e_imp, e_exp)


def _decode_sensorbox(defn: MeterDefinition, image: RegisterImage) -> MeterValues:
    regs = _regs(defn, image, 0, SENSORBOX_READ_COUNT, "header")
    flags = regs[1] & 0xFF
    if flags == 0:
        raise DecodeError(defn.key, "flags", "flags byte is 0 (no P1 data and no CTs): reading ignored")
    p1 = bool(flags & 0x80)
    if p1:
        voltage = _raw_values(defn, image, "voltage", Quantity(0x0002), 3)
        current = _raw_values(defn, image, "current", Quantity(0x0008), 3)
    elif flags & 0x03:
        voltage = [SENSORBOX_NOMINAL_V] * 3
        current = _raw_values(defn, image, "current", Quantity(0x000E), 3)
        current = [0.0 if abs(i) < 0.1 else i for i in current]
    else:
        raise DecodeError(defn.key, "flags", f"flags 0x{flags:02X} name neither P1 data nor CTs")
    for v in voltage:
        _check(defn, "voltage", v, 0.0, MAX_VOLTAGE_V, "V")
    for i in current:
        _check(defn, "current", i, -MAX_CURRENT_A, MAX_CURRENT_A, "A")
    power = math.fsum(v * i for v, i in zip(voltage, current, strict=True))
    return MeterValues(_pad3(voltage), _pad3(current), power, 0.0, 0.0)


# --------------------------------------------------------------------------- encoding (simulator)


def _unscale(value: float, divisor: int, dtype: DataType) -> float | int:
    raw = value * 10**divisor if divisor >= 0 else value / 10 ** (-divisor)
    if dtype is DataType.FLOAT32:
        return raw
    return round(raw)


def _put(defn: MeterDefinition, out: dict[int, int], name: str, q: Quantity, values: list[float]) -> None:
    dtype = defn.dtype_of(q)
    width = WIDTH[dtype]
    sf = 0
    if q.scale_register is not None:
        # Like a SunSpec device: the finest scale factor (from sim_scale) at which every value fits.
        sf = defn.sim_scale.get(name, 0)
        while True:
            try:
                encoded = [split(_unscale(v, q.divisor - sf, dtype), dtype, defn.order) for v in values]
                break
            except EncodeError:
                if sf >= 10:
                    raise
                sf += 1
        out.update(zip([q.scale_register], split(sf, DataType.INT16, defn.order), strict=True))
    else:
        encoded = [split(_unscale(v, q.divisor, dtype), dtype, defn.order) for v in values]
    for i, regs in enumerate(encoded):
        for k, r in enumerate(regs):
            out[q.register + i * width + k] = r


def encode(defn: MeterDefinition, values: MeterValues, *, sensorbox_mode: str = "p1") -> dict[int, int]:
    """:class:`MeterValues` -> the registers a meter of this type would hold (address -> value).

    ``sensorbox_mode`` ("p1" or "ct") chooses which Sensorbox source the image claims.
    """
    if defn.kind == "sensorbox":
        return _encode_sensorbox(defn, values, sensorbox_mode)
    n = defn.phases
    out: dict[int, int] = {}
    sign = -1.0 if defn.inverted else 1.0
    if defn.voltage is not None:
        _put(defn, out, "voltage", defn.voltage, list(values.voltage_v[:n]))
    currents = list(values.current_a[:n])
    if defn.sign_from_power is not None:
        if n == 1:  # the single phase power is the total power register
            phase_power = [sign * values.power_w]
        else:
            phase_power = [sign * v * i for v, i in zip(values.voltage_v[:n], currents, strict=True)]
        _put(defn, out, "current", defn.current, [abs(i) for i in currents])
        _put(defn, out, "phase power", Quantity(defn.current.register + defn.sign_from_power, 0), phase_power)
    else:
        _put(defn, out, "current", defn.current, currents)
    if defn.power is not None:
        if defn.power_per_phase:
            per_phase = [v * i for v, i in zip(values.voltage_v[:n], currents, strict=True)]
            total = math.fsum(per_phase)
            # Keep the summed total exact: put the rounding remainder on L1.
            per_phase[0] += values.power_w - total
            _put(defn, out, "power", defn.power, per_phase)
        else:
            _put(defn, out, "power", defn.power, [sign * values.power_w])
    e_imp, e_exp = values.energy_import_wh, values.energy_export_wh
    if defn.inverted:
        e_imp, e_exp = e_exp, e_imp
    if defn.energy_import is not None:
        _put(defn, out, "energy_import", defn.energy_import, [e_imp / 1000.0])
    if defn.energy_export is not None:
        _put(defn, out, "energy_export", defn.energy_export, [e_exp / 1000.0])
    return out


def _encode_sensorbox(defn: MeterDefinition, values: MeterValues, mode: str) -> dict[int, int]:
    if mode not in ("p1", "ct"):
        raise EncodeError(f"sensorbox_mode must be 'p1' or 'ct', got {mode!r}")
    out = dict.fromkeys(range(SENSORBOX_READ_COUNT), 0)
    out[0x0000] = (0x01 << 8) | 0x10  # software version 1, 4-wire, clockwise rotation
    out[0x0001] = (0x05 << 8) | (0x80 if mode == "p1" else 0x03)  # DSMR 5; P1 data / CTs used
    if mode == "p1":
        _put(defn, out, "voltage", Quantity(0x0002), list(values.voltage_v))
        _put(defn, out, "current", Quantity(0x0008), list(values.current_a))
    else:
        _put(defn, out, "current", Quantity(0x000E), list(values.current_a))
    return out
