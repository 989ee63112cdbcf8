"""The vocabulary of current limits.

The controller offers min(configured max, cable ampacity, hardware max, every named external
limit).  :class:`Limit` names each term.  Its values are the strings on the wire, in configs, in
the local API and in scenario files (``binding_limit: solar``); a ``StrEnum`` compares (and
hashes) equal to them, so ``snapshot.limits.get("ocpp")`` and ``binding_limit == "solar"`` hold.

External limits arrive as ``SetLimit(connector, name, amps)``:

* ``ocpp`` -- the smart-charging engine (chargepoint/services/smart_charging.py);
* ``mains``, ``circuit``, ``sum_mains``, ``solar``, ``grid_relay`` -- the energy manager
  (:data:`ENERGY_LIMITS`);
* ``override`` -- the local API's current override (chargepoint/services/energy.py).

``max``, ``cable`` and ``hardware`` are the controller's own caps: never set with SetLimit, they
name the binding limit in snapshots and in ``OfferedCurrentChanged``.  ``SetLimit`` takes any
non-empty name (an integration may add its own), so limits are kept under ``str`` keys.
"""

from __future__ import annotations

from enum import StrEnum


class Limit(StrEnum):
    # the controller's own caps
    MAX = "max"  # ControllerSettings.max_current_a (MaxCurrent)
    CABLE = "cable"  # cable ampacity from the PP resistor (or the fixed cable's rating)
    HARDWARE = "hardware"  # BoardCapabilities.max_current_a
    # named external limits (SetLimit)
    OCPP = "ocpp"
    MAINS = "mains"
    CIRCUIT = "circuit"
    SUM_MAINS = "sum_mains"
    SOLAR = "solar"
    OVERRIDE = "override"
    GRID_RELAY = "grid_relay"  # grid operator relay (EnWG §14a), chargepoint/energy/grid_relay.py


#: The limits owned by the energy manager, in the order of its decisions (chargepoint.energy.LIMIT_NAMES).
ENERGY_LIMITS: tuple[Limit, ...] = (Limit.MAINS, Limit.CIRCUIT, Limit.SUM_MAINS, Limit.SOLAR, Limit.GRID_RELAY)
