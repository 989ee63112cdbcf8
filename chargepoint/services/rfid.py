"""The async shell of the RFID reader's modes (:mod:`chargepoint.access.rfid_reader`): a runtime
service that hears the station's ``RfidPresented`` and plug events, asks the pure reader, and carries
out its decisions.

How it combines with OCPP (docs/HARDWARE.md "RFID reader modes"), as in the SmartEVSE firmware (§6):

* ``[rfid] mode = "ocpp"`` (default) -- nothing changes: the OCPP client sends each card to the CSMS
  (Authorize / local list / cache); this service only keeps the card list.
* ``enable_all`` / ``enable_one`` -- the card list on the charger decides, online and offline.  The
  OCPP client ignores the card swipes (``OcppOptions.local_card_reader``); a :class:`Grant` starts an
  OCPP transaction with the card as idTag *without* an Authorize request (the firmware's
  ``beginTransaction_authorized``), StartTransaction is sent when the EV is plugged in and its
  idTagInfo still counts (StopTransactionOnInvalidId); a :class:`Revoke` stops it with reason Local
  (``endTransaction_authorized``).  Without an OCPP client (no CSMS) the decision goes straight to the
  controller as ``Authorize``.

The card list is saved in ``<data_dir>/rfid_cards.json`` (atomic rename) on every change.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import structlog

from chargepoint.access.rfid_reader import (
    CardError,
    Decision,
    Deleted,
    Grant,
    Learned,
    ReaderMode,
    Refused,
    Revoke,
    RfidReader,
)
from chargepoint.controller.types import Authorize, StateChanged
from chargepoint.services.json_store import JsonStore
from hal.types import RfidPresented

log = structlog.get_logger("rfid")

CARDS_FILE = "rfid_cards.json"


class RfidService:
    """The reader for one station lifetime (built by the runtime with every station)."""

    def __init__(self, runtime: Any, mode: ReaderMode | str, data_dir: Path | None) -> None:
        self.runtime = runtime
        self.store = JsonStore(Path(data_dir) / CARDS_FILE, "rfid_cards") if data_dir is not None else None
        saved = self.store.load().get("cards", []) if self.store is not None else []
        station = runtime.station
        self.reader = RfidReader(mode, connectors=station.connectors)
        for uid in saved if isinstance(saved, list) else []:
            try:
                self.reader.add(uid)
            except CardError as exc:
                log.warning("rfid_card_ignored", path=str(self.store.path if self.store else ""), error=str(exc))
        self.last: list[dict[str, Any]] = []  # the latest decisions, for the API (newest last)
        self._plugged: dict[int, bool] = {s.connector: s.ev_connected for s in station.snapshots()}
        self._authorized: dict[int, bool] = {s.connector: s.authorized for s in station.snapshots()}
        self._unsubscribe: Any = None
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def clock(self) -> Any:
        return self.runtime.clock

    @property
    def station(self) -> Any:
        return self.runtime.station

    async def start(self) -> None:
        self._unsubscribe = self.station.subscribe(self._on_item)
        log.info("rfid_reader", mode=self.reader.mode.value, cards=len(self.reader.cards))

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.clock.cancel_and_wait(*self._tasks)

    # ------------------------------------------------------------------ station items
    def _on_item(self, item: Any) -> None:
        now = self.clock.monotonic()
        if isinstance(item, RfidPresented):
            if self.reader.local or self.reader.armed is not None:
                self._spawn(self.reader.present(now, item.id_tag, item.connector, dict(self._plugged)))
        elif isinstance(item, StateChanged):
            n, snap = item.connector, item.snapshot
            if snap.ev_connected != self._plugged.get(n, False):
                self._plugged[n] = snap.ev_connected
                self.reader.ev_changed(now, n, snap.ev_connected)
            if self._authorized.get(n, False) and not snap.authorized and snap.ev_connected \
                    and self.reader.access_lost(n):
                log.info("rfid_access_ended_elsewhere", connector=n)
            self._authorized[n] = snap.authorized
            self._arm()

    def _spawn(self, decisions: list[Decision]) -> None:
        if not decisions:
            return
        task = asyncio.ensure_future(self.execute(decisions))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ decisions
    async def execute(self, decisions: list[Decision]) -> None:
        """Carry the reader's decisions out: access through OCPP (when it runs) or the controller,
        the card list saved."""
        changed = False
        for d in decisions:
            self._remember(d)
            if isinstance(d, Grant | Revoke):
                granted = isinstance(d, Grant)
                log.info("rfid_access", connector=d.connector, card=d.uid, granted=granted, reason=d.reason)
                ocpp = getattr(self.runtime, "ocpp", None)
                local_access = getattr(ocpp, "local_access", None)
                if local_access is not None:
                    await local_access(d.connector, d.uid, granted)
                else:
                    await self.station.submit(Authorize(d.connector, granted))
            elif isinstance(d, Learned | Deleted):
                log.info("rfid_card", card=d.uid, learnt=isinstance(d, Learned))
                changed = True
            elif isinstance(d, Refused):
                log.info("rfid_refused", card=d.uid, reason=d.reason)
        if changed:
            self.save()
        self._arm()

    def _remember(self, d: Decision) -> None:
        doc: dict[str, Any] = {"t": round(self.clock.monotonic(), 3), "decision": type(d).__name__.lower(),
                               "card": d.uid}
        if isinstance(d, Grant | Revoke):
            doc["connector"] = d.connector
        if isinstance(d, Grant | Revoke | Refused):
            doc["reason"] = d.reason
        self.last = [*self.last[-19:], doc]

    def _arm(self) -> None:
        """One timer at the reader's next deadline (AccessTimer, end of the learning window)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.reader.next_deadline()
        if deadline is not None:
            self._timer = self.clock.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        decisions = self.reader.tick(self.clock.monotonic())
        if decisions:
            self._spawn(decisions)
        else:
            self._arm()

    # ------------------------------------------------------------------ the card list (API)
    def save(self) -> None:
        if self.store is None:
            return
        try:
            self.store.save({"cards": self.reader.cards})
        except OSError as exc:
            log.error("rfid_cards_not_saved", path=str(self.store.path), error=str(exc))

    async def learn(self, uid: str) -> str:
        """Add a card by id (CardError when the list is full or the id is bad)."""
        learned = self.reader.add(uid)
        await self.execute([learned])
        return learned.uid

    async def delete(self, uid: str) -> str:
        """Delete a card by id; access it holds ends (CardError when it is not on the list)."""
        decisions = self.reader.delete(uid)
        await self.execute(decisions)
        return decisions[-1].uid

    async def delete_all(self) -> int:
        decisions = self.reader.delete_all()
        await self.execute(decisions)
        self.save()
        return sum(isinstance(d, Deleted) for d in decisions)

    def arm(self, action: str | None) -> None:
        self.reader.arm(self.clock.monotonic(), action)
        log.info("rfid_armed", action=action)
        self._arm()

    def status(self) -> dict[str, Any]:
        doc = self.reader.status(self.clock.monotonic())
        doc["ocpp"] = "cards go to OCPP (Authorize)" if not self.reader.local else (
            "the card list decides; OCPP transactions follow" if getattr(self.runtime, "ocpp", None) is not None
            else "the card list decides (no CSMS)")
        doc["last"] = list(self.last)
        return doc


def find_rfid(runtime: Any) -> RfidService | None:
    return next((s for s in getattr(runtime, "services", ()) if isinstance(s, RfidService)), None)
