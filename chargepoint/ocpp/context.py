"""The shared context handed to every OCPP handler mixin and service (``self.ctx``).

:class:`~chargepoint.ocpp.client.OcppClient` builds one per process start (``_setup``): the parts
every service needs are constructor arguments; the services, which need the context themselves,
are set right after (``transactions`` and ``status`` always; the optional profiles may stay None,
which their handlers answer with NotSupported or Rejected).  The contracts of the parts are the
classes' own docstrings; the station and the smart-charging service are seen through the Protocols
of :mod:`chargepoint.ocpp.ports`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from chargepoint.clock import Clock

if TYPE_CHECKING:
    from chargepoint.ocpp.auth import AuthorizationService
    from chargepoint.ocpp.availability import Availability
    from chargepoint.ocpp.config_keys import ConfigKeys
    from chargepoint.ocpp.diagnostics import DiagnosticsService
    from chargepoint.ocpp.firmware import FirmwareService
    from chargepoint.ocpp.options import OcppOptions
    from chargepoint.ocpp.outbox import Outbox
    from chargepoint.ocpp.ports import DataTransferFn, ResetFn, SmartCharging, StationView
    from chargepoint.ocpp.reservation import ReservationService
    from chargepoint.ocpp.security.service import SecurityService
    from chargepoint.ocpp.status import StatusReporter
    from chargepoint.ocpp.store import Store
    from chargepoint.ocpp.transactions import TransactionManager


def _default_log() -> logging.Logger:
    return logging.getLogger("chargepoint.ocpp")


@dataclass(eq=False)
class OcppContext:
    clock: Clock
    station: StationView
    store: Store
    keys: ConfigKeys
    outbox: Outbox
    data_dir: Path
    options: OcppOptions
    #: Operative / Inoperative per connector (ChangeAvailability)
    availability: Availability
    log: logging.Logger = field(default_factory=_default_log)
    #: "Unknown" (before the boot answer), "Pending", "Accepted", "Rejected"
    registration: str = "Unknown"
    #: set by Reset: the runtime restarts the OCPP client / application in-process ("Soft"/"Hard")
    restart_kind: str | None = None
    #: Reset.req: stops the transactions, then asks the runtime to restart (None: Rejected)
    reset: ResetFn | None = None
    #: TriggerMessage(BootNotification) while not Accepted: boot again now (None: Rejected)
    trigger_boot: Callable[[], None] | None = None
    #: DataTransfer.req handlers: {vendorId: {messageId: fn(data) -> (status, data)}}
    data_transfer: dict[str, dict[str, DataTransferFn]] = field(default_factory=dict)
    auth: AuthorizationService | None = None
    reservations: ReservationService | None = None
    firmware: FirmwareService | None = None
    diagnostics: DiagnosticsService | None = None
    smart_charging: SmartCharging | None = None
    #: the OCPP 1.6 security extension (certificates, security events, logs, signed firmware)
    security: SecurityService | None = None
    # set by the client right after construction (they take the context themselves)
    transactions: TransactionManager = field(init=False)
    status: StatusReporter = field(init=False)
