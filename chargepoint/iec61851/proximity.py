"""Proximity pilot (PP) resistor -> cable ampacity.

IEC 61851-1 / IEC 62196-2 coding of the cable's current capacity:

====================  ===========  ====================
PP resistor            IEC 61851    SmartEVSE firmware
====================  ===========  ====================
none / 1.5 kOhm        13 A         13 A
680 Ohm                20 A         **16 A**
220 Ohm                32 A         32 A
100 Ohm                63 A         63 A
====================  ===========  ====================

The SmartEVSE firmware maps 680 Ohm to 16 A instead of the IEC 20 A; ``firmware_pp_table=True``
reproduces that (a conservative choice for 16 A cables that share the 680 Ohm coding).

A measured value is classified into the nearest nominal band; band edges are the geometric means
of neighbouring nominal values (148, 387 and 1010 Ohm), which gives every band roughly +-35 %
tolerance.  Values below 50 Ohm (short) or above 4 kOhm (open) and ``None`` count as "no
resistor" (13 A), the most conservative rating.
"""

from __future__ import annotations

NO_RESISTOR_A = 13.0

# (upper edge in ohms, nominal ohms, IEC ampacity)
_BANDS: tuple[tuple[float, float, float], ...] = (
    (148.0, 100.0, 63.0),
    (387.0, 220.0, 32.0),
    (1010.0, 680.0, 20.0),
    (4000.0, 1500.0, 13.0),
)
_SHORT_BELOW_OHMS = 50.0
FIRMWARE_680_A = 16.0


def nominal_ohms(ohms: float | None) -> float | None:
    """The nominal resistor (100/220/680/1500) a measurement belongs to, or None (open/short)."""
    if ohms is None or ohms < _SHORT_BELOW_OHMS:
        return None
    for upper, nominal, _amps in _BANDS:
        if ohms < upper:
            return nominal
    return None


def cable_ampacity(ohms: float | None, *, firmware_table: bool = False) -> float:
    """Ampacity in A of the cable whose PP resistor measures ``ohms``."""
    nominal = nominal_ohms(ohms)
    if nominal is None:
        return NO_RESISTOR_A
    if nominal == 680.0 and firmware_table:
        return FIRMWARE_680_A
    for _upper, nom, amps in _BANDS:
        if nom == nominal:
            return amps
    return NO_RESISTOR_A


def resistor_for_ampacity(amps: float) -> float:
    """The nominal PP resistor a cable of ``amps`` carries (used by the simulator)."""
    if amps <= 13.0:
        return 1500.0
    if amps <= 20.0:
        return 680.0
    if amps <= 32.0:
        return 220.0
    return 100.0
