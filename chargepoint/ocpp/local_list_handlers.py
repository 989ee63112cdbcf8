"""@on handlers for the Local Auth List Management profile: SendLocalList and GetLocalListVersion.

The list itself lives in :class:`chargepoint.ocpp.auth.AuthorizationService` (``self.ctx.auth``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from chargepoint.ocpp.id_tags import AuthInputError
from chargepoint.ocpp.library import Action, FormationViolationError, call_result, on

if TYPE_CHECKING:
    from chargepoint.ocpp.context import OcppContext

log = logging.getLogger("chargepoint.ocpp.local_list")


class LocalListHandlers:
    """Mixin of the session; reaches the authorisation service through ``self.ctx.auth``."""

    ctx: OcppContext

    @on(Action.send_local_list)
    async def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> call_result.SendLocalList:
        auth = self.ctx.auth
        if auth is None:
            return call_result.SendLocalList(status="NotSupported")
        try:
            status = auth.send_local_list(list_version, update_type, local_authorization_list)
        except AuthInputError as exc:
            raise FormationViolationError(description=str(exc)) from exc
        log.info("send_local_list version=%s type=%s -> %s", list_version, update_type, status)
        return call_result.SendLocalList(status=status)

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self, **_: Any) -> call_result.GetLocalListVersion:
        auth = self.ctx.auth
        version = -1 if auth is None else auth.list_version()
        return call_result.GetLocalListVersion(list_version=version)
