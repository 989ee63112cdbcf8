"""GetLog (mixin of the session): validate, answer with the file name, upload after the reply."""

from __future__ import annotations

from typing import Any

from ocpp.exceptions import TypeConstraintViolationError
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from chargepoint.ocpp.firmware import optional_int
from chargepoint.ocpp.id_tags import AuthInputError, parse_rfc3339
from chargepoint.ocpp.security.certificate_handlers import SecurityServiceHandler
from chargepoint.ocpp.security.routing import on_action

DEFAULT_RETRY_INTERVAL_S = 60.0


class LogHandlers(SecurityServiceHandler):
    @on_action(Action.get_log)
    async def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int, retries: int | None = None,
                         retry_interval: int | None = None, **_: Any) -> object:
        service = self._security()
        try:
            oldest_text, latest_text = log.get("oldest_timestamp"), log.get("latest_timestamp")
            oldest = parse_rfc3339(oldest_text, "log.oldestTimestamp") if oldest_text is not None else None
            latest = parse_rfc3339(latest_text, "log.latestTimestamp") if latest_text is not None else None
        except AuthInputError as exc:
            raise TypeConstraintViolationError(description=str(exc)) from None
        attempts = optional_int(retries, "retries")
        interval = optional_int(retry_interval, "retryInterval")
        uploader = service.logs
        loc = uploader.check_location(str(log.get("remote_location", "")))
        if loc is None:
            return call_result.GetLog(status="Rejected")
        file_name = uploader.file_name(log_type)
        status = "AcceptedCanceled" if uploader.busy else "Accepted"

        def start() -> None:
            uploader.start(log_type, request_id, loc, file_name, oldest, latest, max(1, attempts or 1),
                           float(interval) if interval is not None else DEFAULT_RETRY_INTERVAL_S)

        self.ctx.outbox.after_reply(start)
        return call_result.GetLog(status=status, filename=file_name)
