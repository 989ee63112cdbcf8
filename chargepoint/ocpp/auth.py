"""Authorisation of idTags: local authorisation list, authorisation cache and the decision logic.

Facts (OCPP 1.6 §3.5, §5.12/5.15, errata 3.4/3.23/3.52):

* The local list is changed only by SendLocalList (Full or Differential) and carries a version;
  versions 0 (empty list) and -1 (not supported) are reserved.
* The cache keeps the latest IdTagInfo from Authorize/StartTransaction/StopTransaction conf, never
  for ids on the local list (the list wins), survives a reset (SQLite), and when full evicts entries
  that are not valid first, then the oldest valid ones.  An entry past its expiryDate is marked
  Expired.
* Decision: online with LocalPreAuthorize a valid local entry (list, then cache) is used without
  asking; otherwise the CSMS is asked.  Offline with LocalAuthorizeOffline the local entry decides
  (listed non-Accepted or expired ids are refused); unknown ids are allowed offline only with
  AllowOfflineTxForUnknownId.
* A CSMS answer that differs from the local-list entry is a LocalListConflict: reported with a
  StatusNotification on connector 0 (the hook ``on_conflict``).

The service never sends a CALL by itself from a handler: the Authorize request goes through the
``request`` callable it is given (the session's outbox), and is only awaited from application tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chargepoint.clock import Clock
from chargepoint.ocpp.config_keys import ConfigKeys
from chargepoint.ocpp.id_tags import ACCEPTED, AuthInputError, IdTagInfo, format_rfc3339
from chargepoint.ocpp.rules.identity import same_group
from chargepoint.ocpp.store import Db

if TYPE_CHECKING:
    from chargepoint.ocpp.context import OcppContext

__all__ = ["AuthInputError", "AuthorizationService", "IdTagInfo", "format_rfc3339", "send_local_list_conflict"]

log = logging.getLogger("chargepoint.ocpp.auth")

RequestFn = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
ConflictFn = Callable[[str, dict[str, Any], dict[str, Any]], None]


def _row_to_info(row: tuple[Any, ...]) -> IdTagInfo:
    status, expiry, parent = row
    return IdTagInfo(
        status=status,
        expiry_date=datetime.fromisoformat(expiry) if expiry else None,
        parent_id_tag=parent,
    )


class AuthorizationService:
    """Local list + cache + the authorisation decision.  All state lives in the SQLite ``db``."""

    def __init__(
        self,
        clock: Clock,
        db: Db,
        keys: ConfigKeys | None,
        request: RequestFn | None = None,
        *,
        online: Callable[[], bool] | None = None,
        on_conflict: ConflictFn | None = None,
        cache_max_entries: int = 1000,
        cache_supported: bool = True,
        authorize_timeout_s: float = 30.0,
    ) -> None:
        self.clock = clock
        self.db = db
        self.cp = db.cp_id
        self.keys = keys
        self._request = request
        self._online = online or (lambda: False)
        self.on_conflict = on_conflict
        self.cache_max_entries = int(cache_max_entries)
        self.cache_supported = cache_supported
        self.authorize_timeout_s = authorize_timeout_s
        self.conflicts: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    @classmethod
    def from_context(cls, ctx: OcppContext, **kwargs: Any) -> AuthorizationService:
        """Build the service from an OcppContext: Authorize goes through ``ctx.outbox.request``."""

        async def request(action: str, payload: dict[str, Any]) -> dict[str, Any]:
            return await ctx.outbox.request(action, payload)

        def online() -> bool:
            return ctx.outbox.online

        def conflict(id_tag: str, local: dict[str, Any], remote: dict[str, Any]) -> None:
            send_local_list_conflict(ctx, id_tag)

        kwargs.setdefault("on_conflict", conflict)
        return cls(ctx.clock, ctx.store.db, ctx.keys, request, online=online, **kwargs)

    # ------------------------------------------------------------------ keys
    def _key(self, name: str, default: Any) -> Any:
        value = self.keys.get(name) if self.keys is not None else None
        return default if value is None else value

    @property
    def local_list_supported(self) -> bool:
        profiles = self._key("SupportedFeatureProfiles", None)
        if profiles is None:
            return True
        if isinstance(profiles, str):
            profiles = [p.strip() for p in profiles.split(",")]
        return "LocalAuthListManagement" in profiles

    @property
    def local_list_enabled(self) -> bool:
        return self.local_list_supported and bool(self._key("LocalAuthListEnabled", True))

    @property
    def cache_enabled(self) -> bool:
        return self.cache_supported and bool(self._key("AuthorizationCacheEnabled", True))

    def _now(self) -> datetime:
        return self.clock.now()

    # ------------------------------------------------------------------ local list
    def list_version(self) -> int:
        """GetLocalListVersion: -1 when unsupported, 0 when the list is empty."""
        if not self.local_list_supported:
            return -1
        if self.local_list_size() == 0:
            return 0
        row = self.db.execute("SELECT value FROM auth_local_list_meta WHERE cp_id=? AND name='version'",
                              (self.cp,)).fetchone()
        return int(row[0]) if row else 0

    def local_list_size(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM auth_local_list WHERE cp_id=?", (self.cp,)).fetchone()[0])

    def local_entry(self, id_tag: str) -> IdTagInfo | None:
        row = self.db.execute(
            "SELECT status, expiry_date, parent_id_tag FROM auth_local_list WHERE cp_id=? AND id_tag=?", (self.cp, id_tag)
        ).fetchone()
        return _row_to_info(row) if row else None

    def send_local_list(
        self, list_version: int, update_type: str, entries: list[dict[str, Any]] | None
    ) -> str:
        """Apply a SendLocalList; returns the UpdateStatus.  Raises AuthInputError for malformed entries."""
        if not self.local_list_supported:
            return "NotSupported"
        entries = entries or []
        if not isinstance(list_version, int) or isinstance(list_version, bool):
            raise AuthInputError("listVersion", "must be an integer")
        if update_type not in ("Full", "Differential"):
            raise AuthInputError("updateType", f"must be Full or Differential, not {update_type!r}")
        parsed: list[tuple[str, IdTagInfo | None]] = []
        seen: set[str] = set()
        for i, entry in enumerate(entries):
            field = f"localAuthorizationList[{i}]"
            if not isinstance(entry, dict):
                raise AuthInputError(field, "must be an object")
            id_tag = entry.get("idTag", entry.get("id_tag"))
            if not isinstance(id_tag, str) or not id_tag or len(id_tag) > 20:
                raise AuthInputError(f"{field}.idTag", "must be a string of 1..20 characters")
            info_raw = entry.get("idTagInfo", entry.get("id_tag_info"))
            info = IdTagInfo.from_wire(info_raw, f"{field}.idTagInfo") if info_raw is not None else None
            if id_tag in seen:
                log.warning("send_local_list_duplicate", extra={"id_tag": id_tag})
                return "Failed"
            seen.add(id_tag)
            parsed.append((id_tag, info))
        if list_version < 1:
            log.warning("send_local_list_reserved_version %s", list_version)
            return "Failed"
        max_send = self._key("SendLocalListMaxLength", None)
        if max_send is not None and len(parsed) > int(max_send):
            return "Failed"
        max_list = self._key("LocalAuthListMaxLength", None)
        current = self.db.execute("SELECT value FROM auth_local_list_meta WHERE cp_id=? AND name='version'",
                                  (self.cp,)).fetchone()
        current_version = int(current[0]) if current and self.local_list_size() else 0
        if update_type == "Full":
            if any(info is None for _, info in parsed):
                return "Failed"  # every entry of a Full update carries its idTagInfo
            if max_list is not None and len(parsed) > int(max_list):
                return "Failed"
            with self.db:
                self.db.execute("DELETE FROM auth_local_list WHERE cp_id=?", (self.cp,))
                self._insert(parsed)
                self._set_version(list_version if parsed else 0)
        else:
            if list_version <= current_version:
                return "VersionMismatch"
            existing = {r[0] for r in self.db.execute("SELECT id_tag FROM auth_local_list WHERE cp_id=?", (self.cp,))}
            after = set(existing)
            for id_tag, info in parsed:
                if info is None:
                    after.discard(id_tag)
                else:
                    after.add(id_tag)
            if max_list is not None and len(after) > int(max_list):
                return "Failed"
            with self.db:
                for id_tag, info in parsed:
                    if info is None:
                        self.db.execute("DELETE FROM auth_local_list WHERE cp_id=? AND id_tag=?", (self.cp, id_tag))
                self._insert([(t, i) for t, i in parsed if i is not None])
                self._set_version(list_version if after else 0)
        # the local list wins over the cache: never keep a cached copy of a listed id
        with self.db:
            self.db.execute("DELETE FROM auth_cache WHERE cp_id=? AND id_tag IN"
                            " (SELECT id_tag FROM auth_local_list WHERE cp_id=?)", (self.cp, self.cp))
        return "Accepted"

    def _insert(self, parsed: list[tuple[str, IdTagInfo | None]]) -> None:
        for id_tag, info in parsed:
            assert info is not None
            self.db.execute(
                "INSERT OR REPLACE INTO auth_local_list (cp_id, id_tag, status, expiry_date, parent_id_tag) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    self.cp,
                    id_tag,
                    info.status,
                    info.expiry_date.isoformat() if info.expiry_date else None,
                    info.parent_id_tag,
                ),
            )

    def _set_version(self, version: int) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO auth_local_list_meta (cp_id, name, value) VALUES (?, 'version', ?)",
            (self.cp, version)
        )

    # ------------------------------------------------------------------ cache
    def cache_entry(self, id_tag: str) -> IdTagInfo | None:
        """The cached info, with an expired Accepted entry marked Expired (in the store too)."""
        row = self.db.execute(
            "SELECT status, expiry_date, parent_id_tag FROM auth_cache WHERE cp_id=? AND id_tag=?", (self.cp, id_tag)
        ).fetchone()
        if row is None:
            return None
        info = _row_to_info(row)
        effective = info.effective(self._now())
        if effective.status != info.status:
            with self.db:
                self.db.execute("UPDATE auth_cache SET status=? WHERE cp_id=? AND id_tag=?",
                                (effective.status, self.cp, id_tag))
        return effective

    def cache_size(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM auth_cache WHERE cp_id=?", (self.cp,)).fetchone()[0])

    def update_from_conf(self, id_tag: str, id_tag_info: dict[str, Any]) -> None:
        """Remember the IdTagInfo of an Authorize/StartTransaction/StopTransaction conf.

        Also detects a LocalListConflict (the CSMS disagrees with the local list)."""
        try:
            info = IdTagInfo.from_wire(id_tag_info)
        except AuthInputError as exc:
            log.warning("ignoring invalid idTagInfo for %s: %s", id_tag, exc)
            return
        local = self.local_entry(id_tag) if self.local_list_supported else None
        if local is not None:
            local_now = local.effective(self._now())
            if local_now.status != info.status or (
                info.parent_id_tag is not None and local.parent_id_tag != info.parent_id_tag
            ):
                self._conflict(id_tag, local_now.to_wire(), info.to_wire())
            return  # never cache local-list ids
        if not self.cache_enabled:
            return
        with self.db:
            seq = self.db.execute("SELECT COALESCE(MAX(updated_seq), 0) + 1 FROM auth_cache WHERE cp_id=?",
                                  (self.cp,)).fetchone()[0]
            self.db.execute(
                "INSERT OR REPLACE INTO auth_cache (cp_id, id_tag, status, expiry_date, parent_id_tag, updated_seq) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    self.cp,
                    id_tag,
                    info.status,
                    info.expiry_date.isoformat() if info.expiry_date else None,
                    info.parent_id_tag,
                    seq,
                ),
            )
            self._evict()

    def _evict(self) -> None:
        excess = self.cache_size() - self.cache_max_entries
        if excess <= 0:
            return
        now_iso = self._now().isoformat()
        # not-valid entries first (non-Accepted, or Accepted but past expiry), oldest first; then oldest valid
        rows = self.db.execute(
            "SELECT id_tag FROM auth_cache WHERE cp_id=? ORDER BY "
            "CASE WHEN status = 'Accepted' AND (expiry_date IS NULL OR expiry_date > ?) THEN 1 ELSE 0 END, "
            "updated_seq LIMIT ?",
            (self.cp, now_iso, excess),
        ).fetchall()
        self.db.executemany("DELETE FROM auth_cache WHERE cp_id=? AND id_tag=?", [(self.cp, r[0]) for r in rows])

    def clear_cache(self) -> bool:
        """ClearCache: False (Rejected) when this charge point has no cache."""
        if not self.cache_supported or self.keys is None or self.keys.get("AuthorizationCacheEnabled") is None:
            return False
        with self.db:
            self.db.execute("DELETE FROM auth_cache WHERE cp_id=?", (self.cp,))
        return True

    def _conflict(self, id_tag: str, local: dict[str, Any], remote: dict[str, Any]) -> None:
        log.warning("local_list_conflict id_tag=%s local=%s csms=%s", id_tag, local, remote)
        self.conflicts.append((id_tag, local, remote))
        if self.on_conflict is not None:
            try:
                self.on_conflict(id_tag, local, remote)
            except Exception:
                log.exception("local list conflict hook failed")

    # ------------------------------------------------------------------ decision
    def local_info(self, id_tag: str) -> IdTagInfo | None:
        """What the charge point knows locally: the local list (if enabled) wins over the cache."""
        if self.local_list_enabled:
            entry = self.local_entry(id_tag)
            if entry is not None:
                return entry.effective(self._now())
        if self.cache_enabled:
            return self.cache_entry(id_tag)
        return None

    async def authorize(self, id_tag: str, online: bool | None = None) -> dict[str, Any]:
        """Decide on ``id_tag``; returns the IdTagInfo (camelCase dict).  Never call from an @on handler."""
        if online is None:
            online = self._online()
        known = self.local_info(id_tag)
        if online:
            if known is not None and known.valid and bool(self._key("LocalPreAuthorize", False)):
                return known.to_wire()
            remote = await self._ask_csms(id_tag)
            if remote is not None:
                return remote
        return self._offline_decision(id_tag, known)

    async def _ask_csms(self, id_tag: str) -> dict[str, Any] | None:
        if self._request is None:
            return None
        try:
            conf = await self.clock.wait_for(
                self._request("Authorize", {"idTag": id_tag}), self.authorize_timeout_s
            )
        except Exception as exc:  # offline, CALLERROR, timeout: fall back to the offline rules
            log.info("authorize_request_failed id_tag=%s error=%r", id_tag, exc)
            return None
        info = conf.get("idTagInfo") if isinstance(conf, dict) else None
        if not isinstance(info, dict):
            log.warning("authorize_conf_without_idTagInfo %r", conf)
            return None
        try:
            parsed = IdTagInfo.from_wire(info)
        except AuthInputError as exc:
            log.warning("authorize_conf_invalid idTagInfo %r: %s", info, exc)
            return None
        self.update_from_conf(id_tag, info)
        return parsed.to_wire()

    def _offline_decision(self, id_tag: str, known: IdTagInfo | None) -> dict[str, Any]:
        listed = self.local_list_enabled and self.local_entry(id_tag) is not None
        if bool(self._key("LocalAuthorizeOffline", True)) and known is not None:
            return known.to_wire()  # listed/cached non-Accepted or expired ids are refused as they stand
        if known is None and not listed and bool(self._key("AllowOfflineTxForUnknownId", False)):
            return {"status": ACCEPTED}
        if known is not None and not known.valid:
            return known.to_wire()
        return {"status": "Invalid"}

    # ------------------------------------------------------------------ parentIdTag
    async def parent_of(self, id_tag: str, online: bool | None = None) -> str | None:
        """The parentIdTag of ``id_tag``: local list / cache, else (online) asked with Authorize."""
        known = self.local_info(id_tag)
        if known is not None and known.parent_id_tag is not None:
            return known.parent_id_tag
        if online is None:
            online = self._online()
        if online:
            remote = await self._ask_csms(id_tag)
            if remote is not None:
                return remote.get("parentIdTag")
        return None

    async def may_stop(self, started_by: str, presented: str, started_parent: str | None = None) -> bool:
        """May ``presented`` stop a transaction started by ``started_by``?  The same idTag always may;
        another one only when both share a parentIdTag (asking the CSMS when it is not known locally)."""
        if presented == started_by:
            return True
        parent = started_parent if started_parent is not None else await self.parent_of(started_by)
        if not parent:
            return False
        return same_group(started_by, parent, presented, await self.parent_of(presented))


def send_local_list_conflict(ctx: OcppContext, id_tag: str) -> None:
    """StatusNotification on connector 0 with errorCode LocalListConflict (fire and forget)."""
    status = "Available"
    try:
        status = ctx.status.current_status(0) or status
    except Exception:  # the reporter not set up yet (AttributeError) or failing
        log.exception("status of connector 0 unknown")
    payload = {
        "connectorId": 0,
        "errorCode": "LocalListConflict",
        "status": status,
        "info": f"idTag {id_tag}"[:50],
        "timestamp": format_rfc3339(ctx.clock.now()),
    }
    ctx.outbox.send_soon("StatusNotification", payload)
