"""Registration: BootNotification until Accepted (OCPP 1.6 §4.2, §5 boot rules).

* Nothing but BootNotification before the CSMS answered Accepted or Pending (the outbox stays
  "offline"); Pending: the outbox sends only triggered messages; Rejected: the session answers
  nothing until ``interval`` has passed, then boots again.
* ``interval`` 0 (or a failed attempt) -> our own non-flooding delay (options.boot_retry_s).
* Accepted: HeartbeatInterval := interval, the wall clock is set from currentTime.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from chargepoint.ocpp.errors import ResponseError, parse_rfc3339
from chargepoint.ocpp.library import OCPPError
from chargepoint.ocpp.options import OcppOptions

if TYPE_CHECKING:
    from chargepoint.ocpp.context import OcppContext
    from chargepoint.ocpp.session import ChargePointSession


def boot_payload(options: OcppOptions) -> dict[str, Any]:
    p: dict[str, Any] = {"chargePointVendor": options.vendor[:20], "chargePointModel": options.model[:20]}
    if options.serial:
        p["chargePointSerialNumber"] = options.serial[:25]
        p["chargeBoxSerialNumber"] = options.serial[:25]
    if options.firmware:
        p["firmwareVersion"] = options.firmware[:50]
    return p


class Registration:
    def __init__(self, ctx: OcppContext) -> None:
        self.ctx = ctx
        self.wake = asyncio.Event()  # TriggerMessage(BootNotification) while not Accepted
        self.attempts = 0
        self.first_boot_mono: float | None = None

    def trigger(self) -> None:
        self.wake.set()

    async def register(self, session: ChargePointSession) -> None:
        """Return when the CSMS accepted us.  Connection errors propagate."""
        ctx = self.ctx
        options = ctx.options
        while True:
            self.attempts += 1
            self.wake.clear()
            if self.first_boot_mono is None:
                self.first_boot_mono = ctx.clock.monotonic()
            try:
                resp = await session.call_raw("BootNotification", boot_payload(options), str(uuid.uuid4()))
                status = resp["status"]
                interval = int(resp.get("interval", 0))
                current = resp.get("currentTime")
            except (OCPPError, TimeoutError, KeyError, ValueError, TypeError) as e:
                ctx.log.warning("BootNotification failed: %r; retrying in %.0f s", e, options.boot_retry_s)
                await self._pause(options.boot_retry_s)
                continue
            except ResponseError as e:
                ctx.log.warning("BootNotification: %s", e)
                await self._pause(options.boot_retry_s)
                continue
            if status == "Accepted":
                if current:
                    try:
                        ctx.clock.sync_wall(parse_rfc3339(current))
                    except ValueError as e:
                        ctx.log.warning("BootNotification.conf currentTime ignored: %s", e)
                if interval > 0:
                    ctx.keys.set_internal("HeartbeatInterval", min(interval, 7 * 86400))
                ctx.registration = "Accepted"
                ctx.outbox.set_mode("accepted")
                ctx.log.info("registration Accepted (heartbeat %s s)", ctx.keys.get("HeartbeatInterval"))
                return
            ctx.registration = status
            ctx.outbox.set_mode("pending" if status == "Pending" else "offline")
            wait = interval if interval > 0 else options.boot_retry_s
            ctx.log.info("registration %s; next BootNotification in %s s", status, wait)
            await self._pause(wait, wakeable=status == "Pending")

    async def _pause(self, seconds: float, wakeable: bool = True) -> None:
        if not wakeable:
            await self.ctx.clock.sleep(seconds)
            return
        try:
            async with asyncio.timeout(seconds):
                await self.wake.wait()
        except TimeoutError:
            pass
