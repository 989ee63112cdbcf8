"""What the master decides about each node, as pure functions (reference §4.3 ``processAllNodeStates``).

A :class:`NodeTrack` is the master's view of one node: its last status block, the ``Online``
counter, and what the rest of the program wants for its connector -- whether the controller
permits energy and at which current (``SetAuthorization`` / ``SetPilot``), whether the energy
manager says current is available to start (its LESS_6A verdict), and a pause request
(``RequestBoardState`` B1/C1).  :func:`node_writes` turns that into the writes of the cycle:

* node in COMM_B: permitted with a current >= MinCurrent and current available -> State COMM_B_OK,
  LESS_6A cleared; current not available -> LESS_6A set in its error register; else it waits;
* node in COMM_C: the same, and (when an energy manager reports at all) only after its verdict
  that came *after* the request, so the "new EVSE joins" pass has already made room;
* a pause request (C1 / B1) while the node drives PWM or charges -> that state is written;
* LESS_6A cleared when current is available again; the Mode written when it differs.

:func:`balanced_slots` builds the broadcast's 8 balanced currents (index = address - 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backends.smartevse_rs485.protocol import (
    BALANCED_SLOTS,
    FC_WRITE_SINGLE,
    LESS_6A,
    REG_ERROR,
    REG_MODE,
    REG_STATE,
    STATE_ACTSTART,
    STATE_B,
    STATE_B1,
    STATE_C,
    STATE_C1,
    STATE_COMM_B,
    STATE_COMM_B_OK,
    STATE_COMM_C,
    STATE_COMM_C_OK,
    STATE_NAMES,
    NodeStatus,
    Request,
    state_write,
)

#: The Online counter is reset to this on every answer; a node is offline when it runs out.
ONLINE_CYCLES = 5
#: States in which the node drives PWM or charges: a pause request applies.
PAUSABLE = frozenset({STATE_B, STATE_C, STATE_COMM_B_OK, STATE_COMM_C, STATE_COMM_C_OK, STATE_ACTSTART})
#: States in which the broadcast current reaches the PWM.
POWERED = frozenset({STATE_B, STATE_C, STATE_COMM_B_OK, STATE_COMM_C, STATE_COMM_C_OK, STATE_ACTSTART})


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """One node of the bus: its Modbus address (LoadBl 2..8) and the connector it becomes."""

    address: int
    connector: int
    max_current_a: float = 16.0
    phases: int = 3
    ev_meter: bool = True  # read the node's own EV meter (type/address from its 0x0108) on the bus

    @property
    def slot(self) -> int:
        """Its index in the balanced-current broadcast (LoadBl - 1)."""
        return self.address - 1


@dataclass
class NodeTrack:
    config: NodeConfig
    online: int = 0
    ever_seen: bool = False
    status: NodeStatus | None = None
    missed: int = 0  # consecutive polls without an answer
    permitted: bool = False
    offered_da: int = 0
    available: bool = True
    available_at: float | None = None  # time of the energy manager's last verdict (None: none)
    shortage_reason: str = ""
    request_state: int | None = None  # COMM_B / COMM_C the node is asking for
    request_since: float | None = None
    pause_request: int | None = None  # STATE_B1 / STATE_C1 to write
    ev_meter_type: int = 0
    ev_meter_address: int = 0
    ev_meter_known: bool = False
    writes: int = 0
    #: the node's slot of the last balanced-current broadcast (dA) and whether it draws it: in C as
    #: last polled, or granted COMM_C_OK since (what the mains meter sees of this node)
    wire_da: int = 0
    drawing: bool = False
    granted_b: bool = False  # this master wrote COMM_B_OK / COMM_C_OK since the node's last poll
    granted_c: bool = False
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def is_online(self) -> bool:
        return self.online > 0

    def count(self, what: str) -> None:
        self.counters[what] = self.counters.get(what, 0) + 1


def on_answer(track: NodeTrack, status: NodeStatus, now: float) -> bool:
    """A status block arrived: Online reset to 5.  Returns True when the node (re)joins."""
    joined = not track.is_online
    track.online = ONLINE_CYCLES
    track.ever_seen = True
    track.missed = 0
    track.status = status
    if status.state in (STATE_COMM_B, STATE_COMM_C):
        if track.request_state != status.state:
            track.request_state, track.request_since = status.state, now
    else:
        track.request_state = track.request_since = None
    if track.pause_request is not None and status.state not in PAUSABLE:
        track.pause_request = None  # reached (or the EV left): nothing more to write
    track.drawing = status.state == STATE_C
    return joined


def on_silence(track: NodeTrack) -> bool:
    """No (valid) answer to the status read.  Returns True when the node just went offline."""
    track.missed += 1
    if track.online == 0:
        return False
    track.online -= 1
    if track.online == 0:
        track.status = None
        track.drawing = False  # the firmware master sets an offline node to A / 0 A
        track.request_state = track.request_since = None
        return True
    return False


def _energy_caught_up(track: NodeTrack) -> bool:
    if track.available_at is None:
        return True  # no energy manager reports: the controller's permission is all there is
    return track.request_since is not None and track.available_at > track.request_since


def node_writes(track: NodeTrack, *, min_current_a: float, mode: int) -> list[Request]:
    """The writes for one online node in this cycle (empty when nothing changed)."""
    st = track.status
    if st is None or not track.is_online:
        return []
    unit = track.config.address
    may_run = track.permitted and track.offered_da >= round(min_current_a * 10)
    error = st.error
    out: list[Request] = []
    if st.state in (STATE_COMM_B, STATE_COMM_C):
        grant = STATE_COMM_B_OK if st.state == STATE_COMM_B else STATE_COMM_C_OK
        ready = st.state == STATE_COMM_B or _energy_caught_up(track)
        if may_run and track.available and ready:
            out.append(state_write(unit, grant, error & ~LESS_6A))
            track.request_state = track.request_since = None
        elif not track.available and not error & LESS_6A:
            out.append(state_write(unit, st.state, error | LESS_6A))
    elif track.pause_request is not None and st.state in PAUSABLE:
        out.append(state_write(unit, track.pause_request, error))
        track.pause_request = None
    elif error & LESS_6A and track.available:
        out.append(Request(unit, FC_WRITE_SINGLE, REG_ERROR, values=(error & ~LESS_6A,)))
    if st.mode != mode:
        out.append(Request(unit, FC_WRITE_SINGLE, REG_MODE, values=(mode,)))
    track.writes += len(out)
    return out


#: States a node reaches only by a master's COMM_B_OK (B, PWM on) or COMM_C_OK (C, contactors closed).
AFTER_B_GRANT = frozenset({STATE_COMM_B_OK, STATE_B, STATE_COMM_C, STATE_COMM_C_OK, STATE_C})
AFTER_C_GRANT = frozenset({STATE_COMM_C_OK, STATE_C})


def foreign_grant(previous: int, state: int, *, granted_b: bool, granted_c: bool) -> str | None:
    """A node moved into a state only a master's grant leads to, and this master wrote no such grant
    since the previous poll: another master is on the bus.  Returns what happened, or None."""
    if previous not in AFTER_B_GRANT and state in AFTER_B_GRANT and not granted_b:
        return f"went from {STATE_NAMES.get(previous, previous)} to {STATE_NAMES.get(state, state)} without our COMM_B_OK"
    if previous not in AFTER_C_GRANT and state in AFTER_C_GRANT and not granted_c:
        return f"went from {STATE_NAMES.get(previous, previous)} to {STATE_NAMES.get(state, state)} without our COMM_C_OK"
    return None


def grants_b(req: Request) -> bool:
    """Is ``req`` the master's COMM_B_OK write?"""
    return req.function != FC_WRITE_SINGLE and req.address == REG_STATE and req.values[:1] == (STATE_COMM_B_OK,)


def grants_c(req: Request) -> bool:
    """Is ``req`` the master's COMM_C_OK write (the node enters C and draws its slot from then on)?"""
    return req.function != FC_WRITE_SINGLE and req.address == REG_STATE and req.values[:1] == (STATE_COMM_C_OK,)


def balanced_da(track: NodeTrack) -> int:
    """The node's slot of the broadcast: the offered current while permitted and powered, else 0."""
    st = track.status
    if not track.is_online or st is None or not track.permitted:
        return 0
    if st.state not in POWERED:
        return 0
    return min(track.offered_da, round(track.config.max_current_a * 10))


def balanced_slots(tracks: list[NodeTrack]) -> list[int]:
    slots = [0] * BALANCED_SLOTS
    for t in tracks:
        slots[t.config.slot] = balanced_da(t)
    return slots


def pause_state_for(letter: str) -> int | None:
    """RequestBoardState letter -> the node state written (C1 / B1), None when not a pause."""
    return {"C1": STATE_C1, "B1": STATE_B1}.get(letter.strip().upper())

