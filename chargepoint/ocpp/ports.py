"""What the OCPP layer needs of its neighbours, as Protocols (it imports none of them).

* :class:`StationView` -- the station as OCPP sees it (``chargepoint.station.Station`` fits);
* :class:`SmartCharging` -- the smart-charging service's OCPP-facing side
  (``chargepoint.services.smart_charging.SmartChargingService`` fits);
* the callables the runtime hands in: :data:`ResetFn`, :data:`DataTransferFn`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from chargepoint.controller.types import ConnectorSnapshot, ControllerInput
from chargepoint.smartcharging.composite import CompositeSchedule
from chargepoint.smartcharging.model import ChargingProfile, Purpose, Verdict
from hal.types import BoardCapabilities, MeterReading

#: a station listener gets every board event and controller output, in order
StationListener = Callable[[object], None]


class StationView(Protocol):
    @property
    def connectors(self) -> int: ...

    @property
    def capabilities(self) -> BoardCapabilities: ...

    def snapshot(self, connector: int) -> ConnectorSnapshot: ...

    def latest_meter(self, connector: int) -> MeterReading | None: ...

    def subscribe(self, listener: StationListener) -> Callable[[], None]: ...

    async def submit(self, inp: ControllerInput) -> object: ...

    async def install_firmware(self, path: Path) -> bool: ...


class SmartCharging(Protocol):
    def start(self) -> int: ...

    def stop(self) -> None: ...

    async def set_profile(self, connector_id: int, profile: ChargingProfile) -> Verdict: ...

    async def clear(self, id: int | None = None, connector_id: int | None = None,
                    purpose: Purpose | str | None = None, stack_level: int | None = None) -> list[int]: ...

    def composite(self, connector_id: int, duration_s: int, unit: str | None = None) -> CompositeSchedule: ...

    def check_remote_start_profile(self, profile_dict: Mapping[str, Any]) -> Verdict: ...

    def on_remote_start_profile(self, connector: int, profile_dict: Mapping[str, Any]) -> Verdict: ...

    def on_transaction_started(self, connector: int, local_id: int) -> None: ...

    def on_transaction_id(self, connector: int, transaction_id: int | None) -> None: ...

    def on_transaction_ended(self, connector: int, local_id: int | None = None) -> None: ...


#: Reset: stop the transactions, then ask the runtime to restart ("Soft" / "Hard")
ResetFn = Callable[[str], Awaitable[None]]
#: DataTransfer handler of one (vendorId, messageId): data -> (status, data)
DataTransferFn = Callable[[str | None], tuple[str, str | None]]
