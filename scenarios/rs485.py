"""Scenarios on the ``smartevse-rs485`` backend: this program as the load-balancing master of emulated
SmartEVSE nodes, in virtual time (``chargepoint: {backend: smartevse-rs485, nodes: 3}``).

The nodes (addresses 2..N+1, or the listed addresses; connector N = the Nth node), each with an
SDM630 EV meter, and a mains meter (SDM630 at 10) showing ``base_load`` A per phase plus what the
nodes' EVs draw, are the emulator of :mod:`backends.smartevse_rs485.emulator`.  The production
runtime reaches them through the backend's :class:`~backends.smartevse_rs485.bus.LoopbackBus`: every
request is a real RTU frame (CRC and all) handed in-process to the emulated bus, and the frames'
wire time at 9600 baud is slept on the VirtualClock.  A pseudo-terminal cannot run in virtual time
(pymodbus and the serial driver time out in real time), so replays use this in-process transport;
the pty is tested end to end in real time (tests/rs485/test_e2e_pty.py).

Steps (checked by :func:`step_args`): ``plug`` / ``unplug`` / ``ev`` act on the EV of the node behind
the connector; ``node: {connector, fault, active, celsius}`` injects a node fault (``silent``: the
node stops answering, ``deaf``: it neither hears nor answers, ``crc``: its answers are corrupted,
``reboot``, ``rcd``, ``temp`` (its temperature, ``celsius``, default 80), ``second_master`` (connector
0: another master broadcasting on the bus); ``active: false`` ends it); ``base_load: A`` changes
the house's load per phase on the mains meter.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from backends.smartevse_rs485.emulator import EmulatedEv, NodeBus, NodeFirmware
from backends.smartevse_rs485.protocol import NODE_ADDRESSES
from chargepoint.clock import Clock
from chargepoint.config import Config
from scenarios.loader import Located

if TYPE_CHECKING:
    from scenarios.runner import ExpectationResult, RunResult
    from scenarios.schema import ChargePointSpec, Expectation

BACKEND = "smartevse-rs485"
BACKENDS = ("sim", BACKEND)
NODE_FAULTS = ("silent", "deaf", "crc", "reboot", "rcd", "temp", "second_master")
#: the chargepoint keys, step kinds and expectation kinds this module adds to the schema
KEYS = ("backend", "nodes", "base_load")
STEP_KINDS = ("node", "base_load")
EXPECT_KINDS = ("balanced",)
#: what to use instead of a sim-board step
INSTEAD = {"fault": "use a node step: {node: {connector, fault: rcd|temp|silent|...}}",
           "temperature": "use {node: {connector, fault: temp, celsius}}",
           "mains": "the RS485 bus has its own mains meter: use base_load",
           "load": "the RS485 bus has its own mains meter: use base_load",
           "rfid": "SmartEVSE nodes have no RFID reader on the bus: use RemoteStartTransaction",
           "grid_relay": "the RS485 master has no grid-relay input (it is the sim board's)"}
MAINS_METER = "sdm630"
MAINS_ADDRESS = 10


def parse_chargepoint(n: Located, cp: ChargePointSpec) -> None:
    """The ``backend`` / ``nodes`` / ``base_load`` keys of the ``chargepoint`` table."""
    if (c := n.get("backend")) is not None:
        cp.backend = c.choice(BACKENDS)
    nodes, base = n.get("nodes"), n.get("base_load")
    if cp.backend != BACKEND:
        for c in (nodes, base):
            if c is not None:
                raise c.fail(f"only with backend: {BACKEND}")
        return
    if nodes is None:
        raise n.missing("nodes")
    if isinstance(nodes.value, list):
        addresses = [x.int(NODE_ADDRESSES[0], NODE_ADDRESSES[-1]) for x in nodes.list()]
        if not addresses or len(set(addresses)) != len(addresses):
            raise nodes.fail("list 1..7 different node addresses (2..8)")
        cp.nodes = tuple(addresses)
    else:
        cp.nodes = NODE_ADDRESSES[:nodes.int(1, len(NODE_ADDRESSES))]
    if (c := n.get("connectors")) is not None and c.int() != len(cp.nodes):
        raise c.fail(f"an RS485 charge point has one connector per node ({len(cp.nodes)})")
    cp.connectors = len(cp.nodes)
    if base is not None:
        cp.base_load_a = base.number(0, 200)
    if cp.sim:
        raise (n.get("sim") or n).fail(f"sim options are for backend sim, not {BACKEND}")
    if cp.energy.get("mains_meter", "meter") != "meter":
        raise (n.get("energy") or n).fail("the mains meter of an RS485 charge point is the one on the bus")


def step_args(kind: str, a: Located, cp: ChargePointSpec) -> dict[str, Any] | None:
    """The arguments of an RS485-only step (``node``, ``base_load``); None for another kind.  Raises a
    ScenarioError for a step the RS485 charge point cannot take."""
    if cp.backend != BACKEND:
        if kind in ("node", "base_load"):
            raise a.fail(f"needs chargepoint.backend: {BACKEND}")
        return None
    if kind in INSTEAD:
        raise a.fail(INSTEAD[kind])
    if kind == "node":
        a.map(("connector", "fault", "active", "celsius"))
        f = a.get("fault")
        if f is None:
            raise a.missing("fault")
        fault = f.choice(NODE_FAULTS)
        c = a.get("connector")
        connector = c.int(0 if fault == "second_master" else 1, cp.connectors) if c is not None else 1
        if (fault == "second_master") != (connector == 0):
            raise (c or a).fail("second_master is a fault of the bus (connector 0); the others of a node")
        active = a.get("active").bool() if a.get("active") else True  # type: ignore[union-attr]
        if fault == "reboot" and not active:
            raise a.fail("a reboot has no end (active: false)")
        args: dict[str, Any] = {"connector": connector, "fault": fault, "active": active}
        if (t := a.get("celsius")) is not None:
            if fault != "temp":
                raise t.fail("celsius is for fault: temp")
            args["celsius"] = t.number(-40, 150)
        return args
    if kind == "base_load":
        return {"amps": a.number(0, 200)}
    return None


def check_ev_step(kind: str, a: Located, args: dict[str, Any], cp: ChargePointSpec) -> None:
    """The node emulator models no PP cable and no state of charge: refuse what it would ignore."""
    if cp.backend != BACKEND:
        return
    if kind == "plug" and a.is_map() and (c := a.get("cable")) is not None:
        raise c.fail("the RS485 node emulator has no cable (PP) model")
    if kind == "ev" and ("soc" in args or "capacity_kwh" in args):
        raise a.fail("the RS485 node emulator has no state-of-charge model (charging, max_current, phases)")


def expectation_args(n: Located, cp: ChargePointSpec) -> dict[str, Any]:
    """``{balanced: {max_sum: A}, within: [from, to]}``: on every broadcast of the balanced currents in
    the window, the sum of the currents of the nodes in C (after it) is at most ``max_sum`` A -- the
    mains headroom, MaxMains - base load, when balancing works."""
    if cp.backend != BACKEND:
        raise n.fail(f"balanced needs chargepoint.backend: {BACKEND}")
    n.map(("balanced", "within", "after", "before", "description"))
    a = n.get("balanced")
    assert a is not None
    a.map(("max_sum",))
    if (m := a.get("max_sum")) is None:
        raise a.missing("max_sum")
    return {"max_sum_a": m.number(0, 600)}


def judge(exp: Expectation, index: int, run: RunResult) -> ExpectationResult:
    """The ``balanced`` expectation against the broadcasts the runner observed (see :meth:`NodeRig.sums`)."""
    from scenarios.expectations import _in_window, _window
    from scenarios.runner import ExpectationResult

    a = exp.args
    what = f"sum of the balanced currents of the nodes in C <= {a['max_sum_a']:g} A {_window(a)}"
    seen = run.observations.get(index)
    if not seen:
        return ExpectationResult(exp, False, what, expected=what, actual="no broadcast observed")
    inside = [(t, da) for t, da in seen if _in_window(t, a)]
    if not inside:
        return ExpectationResult(exp, False, what, expected=what, actual="no broadcast in the window")
    t_max, worst = max(inside, key=lambda x: x[1])
    over = [(t, da) for t, da in inside if da > round(a["max_sum_a"] * 10)]
    actual = f"max {worst / 10:g} A at t={t_max:.2f} s over {len(inside)} broadcasts"
    if over:
        actual += "; over at " + ", ".join(f"t={t:.2f} s ({da / 10:g} A)" for t, da in over[:5])
    return ExpectationResult(exp, not over, what, expected=f"<= {a['max_sum_a']:g} A", actual=actual)


class NodeRig:
    """The emulated bus of a scenario, and the steps acting on it."""

    #: the step kinds :meth:`apply` takes
    STEPS = ("plug", "unplug", "ev", *STEP_KINDS)

    def __init__(self, clock: Clock, spec: ChargePointSpec) -> None:
        self.spec = spec
        self.addresses = tuple(spec.nodes)
        now = clock.monotonic()
        firmware = [NodeFirmware(a, max_current_a=round(spec.max_current_a), min_current_a=round(spec.min_current_a),
                                 ev_meter_type=4, ev_meter_address=11 + a, ev=EmulatedEv(max_current_a=spec.max_current_a),
                                 now=now) for a in self.addresses]
        self.bus = NodeBus(clock, firmware, mains_meter=MAINS_METER, mains_address=MAINS_ADDRESS,
                           base_load_a=spec.base_load_a)
        self.bus.log.keep = 100_000

    def config(self, config: Config) -> Config:
        """``chargepoint run --backend smartevse-rs485 --nodes ...`` with the loopback into the emulator."""
        backend = replace(config.backend, name=BACKEND, serial="loopback", baudrate=9600,
                          nodes=",".join(map(str, self.addresses)), mains_meter=f"{MAINS_METER}@{MAINS_ADDRESS}",
                          connectors=len(self.addresses))
        return replace(config, backend=backend, sim={"loopback": self.bus.handle_frame})

    async def start(self) -> None:
        await self.bus.start()

    async def stop(self) -> None:
        await self.bus.stop()

    def address(self, connector: int) -> int:
        return self.addresses[connector - 1]

    def apply(self, kind: str, a: dict[str, Any]) -> None:
        if kind == "plug":
            self.bus.plug(self.address(a["connector"]))
        elif kind == "unplug":
            self.bus.unplug(self.address(a["connector"]))
        elif kind == "ev":
            ev = self.bus.node(self.address(a["connector"])).firmware.ev
            if "charging" in a:
                ev.requesting = a["charging"]
            if "max_current_a" in a:
                ev.max_current_a = a["max_current_a"]
            if "phases" in a:
                ev.phases = a["phases"]
            self.bus.tick()
        elif kind == "node":
            self._node(a)
        elif kind == "base_load":
            self.bus.base_load_a = a["amps"]
            self.bus.update_meters()

    def _node(self, a: dict[str, Any]) -> None:
        fault, active = a["fault"], a["active"]
        if fault == "second_master":
            self.bus.second_master = active
            return
        address = self.address(a["connector"])
        if fault in ("silent", "deaf", "crc"):
            self.bus.inject(address, fault if active else "talk")
        elif fault == "rcd":
            self.bus.inject(address, "rcd" if active else "rcd_reset")
        elif fault == "temp":
            self.bus.inject(address, "temp", a.get("celsius", 80.0) if active else 25.0)
        else:
            self.bus.inject(address, fault)

    def sums(self, t0: float) -> list[tuple[float, int]]:
        """(scenario time, dA) of every balanced-current broadcast: the sum over the nodes in C."""
        return [(round(t - t0, 6), sum(values[a - 1] for a in charging))
                for t, values, charging in self.bus.log.broadcasts]

    def energy_wh(self, connector: int) -> float:
        """What the node's EV meter counts (Wh)."""
        source = self.bus.node(self.address(connector)).source
        return source().energy_import_wh if source is not None else 0.0
