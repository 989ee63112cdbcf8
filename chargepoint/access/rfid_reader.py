"""The SmartEVSE RFID reader's own modes (smartevse.md §3.5, §2.4, §2.5, §6): the card list on the
charger decides who may charge, next to (or instead of) OCPP authorisation.

Pure: events in (a card presented, an EV plugged / unplugged, access ended elsewhere, the time),
decisions out (:class:`Grant`, :class:`Revoke`, :class:`Learned`, :class:`Deleted`, :class:`Refused`);
time is passed in (monotonic seconds).  The async shell is :mod:`chargepoint.access.service`.

Modes (``[rfid] mode``; the firmware's ``RFIDReader`` values in brackets):

* ``ocpp`` (6, Rmt/OCPP; the default) -- the reader passes every card to OCPP as an idTag
  (Authorize, local list, cache).  This module keeps the card list but decides nothing.
* ``enable_all`` (1, EnableAll) -- any *learnt* card toggles access: presented while access is off,
  access goes on; presented while it is on (by any learnt card), access goes off (C -> C1 -> B1).
* ``enable_one`` (2, EnableOne) -- any learnt card switches access on, and only *that* card can switch
  it off again; other cards are refused while it is on.

The AccessTimer (the firmware's ``AccessTimer`` / ``RFIDLOCKTIME``, 60 s): access switched on with no
EV connected lapses after 60 s unless an EV is plugged in meanwhile (the timer stops at plug-in).
Access ends when the EV is unplugged (the fork's fix of the firmware's RFID toggle bug: the next
driver needs a card; upstream firmware kept access for another 60 s).

The card list holds at most :data:`MAX_CARDS` (100, the firmware's count) upper-case card ids; a card
is learnt or deleted by id, or by presenting it while learning / deleting is armed (the firmware's
Learn / Delete reader modes, here a window of :data:`LEARN_WINDOW_S` that restarts with every card).

Several connectors: a card presented at a reader that is not per connector (connector 0) acts on
the connector it holds access on (off); else on a connector with an EV and no access (on); else on a
free connector (on, with the AccessTimer); in enable_all, else on the first connector with access (off).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chargepoint.errors import FieldError

#: The firmware's card count (EEPROM slots).
MAX_CARDS = 100
#: Access switched on without an EV lapses after this (s).
ACCESS_TIMER_S = 60.0
#: Learning / deleting by presenting cards stays armed this long after arming or the last card (s).
LEARN_WINDOW_S = 60.0
#: An OCPP idTag is a CiString20: a card id has 1..20 printable ASCII characters.
MAX_UID_LENGTH = 20


class ReaderMode(StrEnum):
    OCPP = "ocpp"
    ENABLE_ALL = "enable_all"
    ENABLE_ONE = "enable_one"


class CardError(FieldError):
    """A card id or a card-list operation is refused; ``field`` names what is wrong."""


class CardListFull(CardError):
    """The card list already holds ``max_cards`` cards."""


class UnknownCard(CardError):
    """The card is not on the list."""


@dataclass(frozen=True, slots=True)
class Grant:
    """Access on for ``connector`` with card ``uid``."""

    connector: int
    uid: str
    reason: str


@dataclass(frozen=True, slots=True)
class Revoke:
    """Access off for ``connector`` (card ``uid`` held it)."""

    connector: int
    uid: str
    reason: str


@dataclass(frozen=True, slots=True)
class Learned:
    uid: str


@dataclass(frozen=True, slots=True)
class Deleted:
    uid: str


@dataclass(frozen=True, slots=True)
class Refused:
    uid: str
    reason: str


Decision = Grant | Revoke | Learned | Deleted | Refused


def normalize_uid(raw: object, field: str = "uid") -> str:
    """A card id as stored: stripped, upper case (OCPP idTags compare case-insensitively, the
    firmware prints UIDs in upper-case hex); CardError for anything else."""
    if not isinstance(raw, str):
        raise CardError(field, f"must be a string, got {type(raw).__name__}")
    uid = raw.strip().upper()
    if not 0 < len(uid) <= MAX_UID_LENGTH:
        raise CardError(field, f"must have 1..{MAX_UID_LENGTH} characters (an OCPP idTag)")
    if not all("!" <= ch <= "~" for ch in uid):
        raise CardError(field, "printable ASCII characters only, no spaces")
    return uid


@dataclass(slots=True)
class _Access:
    uid: str
    lapses_at: float | None  # the AccessTimer's deadline; None while an EV is connected


class RfidReader:
    """The card list, the access state per connector, and the AccessTimer."""

    def __init__(self, mode: ReaderMode | str = ReaderMode.OCPP, cards: Iterable[str] = (), *,
                 connectors: int = 1, max_cards: int = MAX_CARDS) -> None:
        try:
            self.mode = ReaderMode(mode)
        except ValueError:
            raise CardError("mode", f"must be one of {', '.join(m.value for m in ReaderMode)}, got {mode!r}") from None
        if connectors < 1:
            raise CardError("connectors", f"must be >= 1, got {connectors}")
        self.connectors = connectors
        self.max_cards = max_cards
        self.cards: list[str] = []
        for uid in cards:
            self.add(uid)
        self.access: dict[int, _Access] = {}
        self.armed: str | None = None  # "learn" | "delete" while presenting a card learns / deletes it
        self._armed_until: float | None = None

    @property
    def local(self) -> bool:
        """The reader decides access itself (enable_all / enable_one), rather than OCPP."""
        return self.mode is not ReaderMode.OCPP

    # ------------------------------------------------------------------ the card list
    def add(self, raw: object) -> Learned:
        uid = normalize_uid(raw)
        if uid not in self.cards:
            if len(self.cards) >= self.max_cards:
                raise CardListFull("uid", f"the card list is full ({self.max_cards} cards): delete one first")
            self.cards.append(uid)
        return Learned(uid)

    def delete(self, raw: object) -> list[Decision]:
        """Delete a card; access it holds ends (Revoke first, then Deleted)."""
        uid = normalize_uid(raw)
        if uid not in self.cards:
            raise UnknownCard("uid", f"card {uid} is not on the list")
        out = self._revoke_all(uid, "card deleted")
        self.cards.remove(uid)
        return [*out, Deleted(uid)]

    def delete_all(self) -> list[Decision]:
        out: list[Decision] = []
        for uid in list(self.cards):
            out += self.delete(uid)
        return out

    def arm(self, now: float, action: str | None) -> None:
        """Presenting a card learns (``"learn"``) or deletes (``"delete"``) it until the window ends;
        None disarms."""
        if action not in (None, "learn", "delete"):
            raise CardError("action", f"must be learn, delete or null, got {action!r}")
        self.armed = action
        self._armed_until = None if action is None else now + LEARN_WINDOW_S

    # ------------------------------------------------------------------ events
    def present(self, now: float, raw_uid: str, connector: int, ev_connected: Mapping[int, bool]) -> list[Decision]:
        """A card at the reader (``connector`` 0: a reader for the whole charger).  ``ev_connected``:
        connector -> an EV is plugged in."""
        out = self.tick(now)
        try:
            uid = normalize_uid(raw_uid, "id_tag")
        except CardError as exc:
            return [*out, Refused(str(raw_uid)[:MAX_UID_LENGTH], str(exc))]
        if self.armed is not None:
            self._armed_until = now + LEARN_WINDOW_S
            if self.armed == "learn":
                try:
                    return [*out, self.add(uid)]
                except CardError as exc:
                    return [*out, Refused(uid, exc.message)]
            if uid not in self.cards:
                return [*out, Refused(uid, "not on the list: nothing to delete")]
            return [*out, *self.delete(uid)]
        if not self.local:
            return out  # mode ocpp: the card is OCPP's
        if uid not in self.cards:
            return [*out, Refused(uid, "not a learnt card")]
        return [*out, self._toggle(now, uid, connector, ev_connected)]

    def _toggle(self, now: float, uid: str, connector: int, ev: Mapping[int, bool]) -> Decision:
        if connector:
            if not 1 <= connector <= self.connectors:
                return Refused(uid, f"no connector {connector}")
            held = self.access.get(connector)
            if held is None:
                return self._grant(now, connector, uid, ev)
            if held.uid == uid or self.mode is ReaderMode.ENABLE_ALL:
                return self._revoke(connector, uid)
            return Refused(uid, f"connector {connector}: only card {held.uid} may end this session (enable_one)")
        numbers = range(1, self.connectors + 1)
        mine = [n for n in numbers if n in self.access and self.access[n].uid == uid]
        if mine:
            return self._revoke(mine[0], uid)
        waiting = [n for n in numbers if n not in self.access and ev.get(n, False)]
        if waiting:
            return self._grant(now, waiting[0], uid, ev)
        free = [n for n in numbers if n not in self.access]
        if free:
            return self._grant(now, free[0], uid, ev)
        if self.mode is ReaderMode.ENABLE_ALL:
            return self._revoke(min(self.access), uid)
        holders = ", ".join(sorted({a.uid for a in self.access.values()}))
        return Refused(uid, f"every connector is in use; only its card ({holders}) may end a session (enable_one)")

    def _grant(self, now: float, n: int, uid: str, ev: Mapping[int, bool]) -> Grant:
        plugged = ev.get(n, False)
        self.access[n] = _Access(uid, None if plugged else now + ACCESS_TIMER_S)
        return Grant(n, uid, "card presented" + ("" if plugged else f": plug in within {ACCESS_TIMER_S:g} s"))

    def _revoke(self, n: int, uid: str) -> Revoke:
        held = self.access.pop(n)
        return Revoke(n, held.uid, f"card {uid} presented again" if uid == held.uid else f"card {uid} presented")

    def _revoke_all(self, uid: str, reason: str) -> list[Decision]:
        gone = [n for n, a in self.access.items() if a.uid == uid]
        return [Revoke(n, self.access.pop(n).uid, reason) for n in gone]

    def ev_changed(self, now: float, connector: int, connected: bool) -> None:
        """An EV was plugged in (the AccessTimer stops) or unplugged (access ends with the session)."""
        held = self.access.get(connector)
        if held is None:
            return
        if connected:
            held.lapses_at = None
        else:
            del self.access[connector]

    def access_lost(self, connector: int) -> bool:
        """Access on ``connector`` was ended by someone else (OCPP RemoteStop, DeAuthorized, ...): the
        next card switches it on again rather than off.  True when the reader held access there."""
        return self.access.pop(connector, None) is not None

    def tick(self, now: float) -> list[Decision]:
        """Lapsed AccessTimers (Revoke) and the end of the learning window."""
        if self._armed_until is not None and now >= self._armed_until:
            self.armed = None
            self._armed_until = None
        lapsed = [n for n, a in self.access.items() if a.lapses_at is not None and now >= a.lapses_at]
        return [Revoke(n, self.access.pop(n).uid, f"no EV within {ACCESS_TIMER_S:g} s (AccessTimer)")
                for n in lapsed]

    def next_deadline(self) -> float | None:
        times = [a.lapses_at for a in self.access.values() if a.lapses_at is not None]
        if self._armed_until is not None:
            times.append(self._armed_until)
        return min(times) if times else None

    def status(self, now: float) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "cards": list(self.cards),
            "max_cards": self.max_cards,
            "armed": self.armed,
            "armed_s": None if self._armed_until is None else round(max(0.0, self._armed_until - now), 1),
            "access": [{"connector": n, "card": a.uid,
                        "lapses_in_s": None if a.lapses_at is None else round(max(0.0, a.lapses_at - now), 1)}
                       for n, a in sorted(self.access.items())],
        }
