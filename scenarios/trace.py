"""Record -> replay: turn a JSONL trace (chargepoint/recording.py) into a scenario.

* the CSMS side is replayed: its CALLs to the charge point become ``call`` steps at their times, with
  the charge point's recorded answer as the expected response; its answers to the charge point's CALLs
  become the CSMS behaviour (boot status and interval, heartbeat interval, idTag statuses, forced
  CALLERRORs, DataTransfer status), changed by ``csms`` steps when they changed during the session;
* simulation controls (``sim`` records) become steps; without them, hardware events (``hal`` records)
  are turned into the controls that cause them (plug/unplug from PP and pilot, RFID, RCD, temperature,
  power panic);
* the charge point's CALLs become ``message`` expectations (payload without timestamps and
  transaction ids, within a time window around the recorded time).

``trace_to_document(path)`` returns the scenario as a dict; ``trace_to_yaml`` as YAML text, which
``parse_scenario`` reads like any hand-written file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from chargepoint.iec61851.proximity import cable_ampacity
from scenarios.loader import ScenarioError

#: payload keys that differ between a recording and its replay without meaning a regression
VOLATILE_KEYS = ("timestamp", "transactionId", "currentTime", "expiryDate", "scheduleStart",
                 # measured values move with real-time jitter (a few ms of charging more or less); the
                 # energy is checked instead by an ``energy`` expectation with a tolerance
                 "meterStart", "meterStop", "meterValue", "transactionData")
ENERGY_TOLERANCE_WH = 10.0
ENERGY_TOLERANCE_FRACTION = 0.01
WINDOW_MIN_S = 2.0
WINDOW_FRACTION = 0.002


class TraceError(ScenarioError):
    pass


def read_trace(path: str | Path) -> list[dict[str, Any]]:
    p = Path(path)
    records = []
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise TraceError(str(p), 0, "(file)", exc.strerror or str(exc)) from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as exc:
            raise TraceError(str(p), number, "(json)", f"not a JSON line: {exc}") from None
        if not isinstance(rec, dict) or "type" not in rec:
            raise TraceError(str(p), number, "type", "a trace record is an object with a 'type'")
        if rec["type"] != "header" and not isinstance(rec.get("t"), int | float):
            raise TraceError(str(p), number, "t", "must be the number of seconds since the trace started")
        rec["_line"] = number
        records.append(rec)
    if not records or records[0]["type"] != "header":
        raise TraceError(str(p), 1, "type", "the first line of a trace is its header")
    return records


def strip_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_volatile(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [strip_volatile(v) for v in value]
    return value


def _frames(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parsed OCPP frames: {t, dir ("in" = to the CP), kind, uid, action, payload}."""
    out = []
    for rec in records:
        if rec["type"] != "ocpp":
            continue
        try:
            msg = json.loads(rec["raw"])
        except (ValueError, KeyError, TypeError):
            continue
        if not isinstance(msg, list) or len(msg) < 3 or msg[0] not in (2, 3, 4):
            continue
        frame = {"t": float(rec["t"]), "dir": rec.get("dir"), "kind": msg[0], "uid": msg[1]}
        if msg[0] == 2 and len(msg) == 4:
            frame.update(action=msg[2], payload=msg[3])
        elif msg[0] == 3:
            frame.update(payload=msg[2])
        elif msg[0] == 4 and len(msg) >= 4:
            frame.update(error_code=msg[2], description=msg[3])
        else:
            continue
        out.append(frame)
    # pair answers with their CALLs (the answer travels the other way)
    calls: dict[tuple[str, Any], dict[str, Any]] = {}
    for f in out:
        if f["kind"] == 2:
            calls[(f["dir"], f["uid"])] = f
        else:
            other = "out" if f["dir"] == "in" else "in"
            call = calls.pop((other, f["uid"]), None)
            if call is not None:
                call["answer"] = f
    return out


def _chargepoint_section(header: dict[str, Any]) -> dict[str, Any]:
    cfg = header.get("config") or {}
    raw_cp = cfg.get("chargepoint")
    cp: dict[str, Any] = raw_cp if isinstance(raw_cp, dict) else {}
    section: dict[str, Any] = {}
    names = {"id": "id", "connectors": "connectors", "max_current_a": "max_current", "min_current_a": "min_current",
             "hardware_max_current_a": "hardware_max_current", "phases": "phases", "has_lock": "has_lock",
             "fixed_cable": "fixed_cable", "config": "config", "sim": "sim", "vendor": "vendor", "model": "model",
             "serial": "serial", "firmware": "firmware", "energy": "energy"}
    for key, name in names.items():
        if key in cp and cp[key] not in (None, {}, ""):
            section[name] = cp[key]
    if "id" not in section and isinstance(cfg.get("id"), str):
        section["id"] = cfg["id"]
    # a header carrying the runtime's Config (sections backend / controller / sim)
    backend, controller = cfg.get("backend"), cfg.get("controller")
    if isinstance(backend, dict):
        for key, name in (("connectors", "connectors"), ("max_current_a", "hardware_max_current"),
                          ("phases", "phases"), ("has_lock", "has_lock")):
            if key in backend:
                section.setdefault(name, backend[key])
    if isinstance(controller, dict):
        for key, name in (("max_current_a", "max_current"), ("min_current_a", "min_current"),
                          ("fixed_cable", "fixed_cable")):
            if key in controller:
                section.setdefault(name, controller[key])
    if isinstance(cfg.get("sim"), dict) and cfg["sim"] and "sim" not in section:
        section["sim"] = dict(cfg["sim"])
    return section


_SIM_ACTIONS = {"plug": "plug", "unplug": "unplug", "ev": "ev", "set_ev": "ev", "rfid": "rfid",
                "present_rfid": "rfid", "fault": "fault", "inject_fault": "fault", "temperature": "temperature",
                "set_temperature": "temperature", "mains": "mains", "load": "load", "csms_offline": "offline",
                "clock_jump": "clock", "grid_relay": "grid_relay", "set_grid_relay": "grid_relay",
                "battery_current": "battery_current", "energy_settings": "energy_settings", "phases": "phases"}
_ARG_NAMES = {"cable_a": "cable", "max_current_a": "max_current"}


def _sim_step(rec: dict[str, Any]) -> dict[str, Any] | None:
    kind = _SIM_ACTIONS.get(str(rec.get("action")))
    if kind is None:
        return None
    args = {_ARG_NAMES.get(k, k): v for k, v in (rec.get("args") or {}).items() if v is not None}
    if kind == "unplug":
        args = {"connector": args.get("connector", 1)}
    if kind == "mains":
        args = {k: v for k, v in args.items() if k in ("currents", "voltage")}
    elif kind == "offline":
        return {"at": round(float(rec["t"]), 3), "offline": args.get("seconds", 0)}
    elif kind == "clock":
        args = {"jump": args.get("jump", 0)}
    elif kind in ("battery_current", "energy_settings", "phases"):  # scenarios/energy_steps.py
        raw = rec.get("args") or {}
        value = {"battery_current": {"current": raw.get("current_a")}, "energy_settings": raw.get("changes"),
                 "phases": raw.get("phases")}[kind]
        return {"at": round(float(rec["t"]), 3), kind: value}
    return {"at": round(float(rec["t"]), 3), kind: args}


def _hal_steps(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Controls inferred from hardware events when the trace has no ``sim`` records."""
    steps: list[dict[str, Any]] = []
    plugged: dict[int, bool] = {}
    temp_normal: dict[int, float] = {}
    rcd: dict[int, bool] = {}
    for rec in records:
        if rec["type"] != "hal":
            continue
        kind, d, t = rec.get("kind"), rec.get("data") or {}, round(float(rec["t"]), 3)
        n = int(d.get("connector", 1))
        if kind == "ProximityReading":
            if d.get("ohms") is not None and not plugged.get(n):
                plugged[n] = True
                steps.append({"at": t, "plug": {"connector": n, "cable": cable_ampacity(d["ohms"])}})
        elif kind == "PilotReading":
            level = d.get("level")
            if level in ("9V", "6V", "3V") and not plugged.get(n):
                plugged[n] = True
                steps.append({"at": t, "plug": {"connector": n}})
            elif level == "12V" and plugged.get(n):
                plugged[n] = False
                steps.append({"at": t, "unplug": {"connector": n}})
        elif kind == "RfidPresented":
            steps.append({"at": t, "rfid": {"id_tag": d.get("id_tag"), "connector": n}})
        elif kind == "GridRelayReading":
            steps.append({"at": t, "grid_relay": {"limiting": bool(d.get("limiting"))}})
        elif kind == "RcdReading":
            tripped = bool(d.get("tripped"))
            if tripped != rcd.get(n, False):  # the first reading (not tripped) is no event
                rcd[n] = tripped
                steps.append({"at": t, "fault": {"connector": n, "fault": "rcd", "active": tripped}})
        elif kind == "TemperatureReading":
            celsius = float(d.get("celsius", 0.0))
            if n not in temp_normal:
                temp_normal[n] = celsius
            else:
                steps.append({"at": t, "temperature": {"connector": n, "celsius": celsius}})
        elif kind == "BoardFault" and d.get("code") == "panic":
            steps.append({"at": t, "fault": {"connector": 0, "fault": "panic", "active": bool(d.get("active"))}})
    return steps


def trace_to_document(path: str | Path, *, name: str | None = None) -> dict[str, Any]:
    records = read_trace(path)
    header = records[0]
    frames = _frames(records)
    end = max([float(r["t"]) for r in records[1:]] + [0.0])
    doc: dict[str, Any] = {
        "name": name or f"replay of {Path(path).name}",
        "description": f"generated from the trace {Path(path).name} (started {header.get('start', '?')})",
        "tags": ["recorded session", "regression"],
        "duration": round(end + 10.0, 3),
    }
    cp = _chargepoint_section(header)
    boot = next((f for f in frames if f["kind"] == 2 and f["dir"] == "out" and f["action"] == "BootNotification"),
                None)
    if boot is not None and isinstance(boot.get("payload"), dict):
        for name, key in (("vendor", "chargePointVendor"), ("model", "chargePointModel"),
                          ("serial", "chargePointSerialNumber"), ("firmware", "firmwareVersion")):
            if boot["payload"].get(key):
                cp.setdefault(name, boot["payload"][key])
    if cp:
        doc["chargepoint"] = cp
    csms, steps = _csms_side(frames)
    if csms:
        doc["csms"] = csms
    sim_records = [r for r in records if r["type"] == "sim"]
    if sim_records:
        steps += [s for s in (_sim_step(r) for r in sim_records) if s is not None]
    else:
        steps += _hal_steps(records)
    steps.sort(key=lambda s: s["at"])
    if steps:
        doc["steps"] = steps
    expect = []
    for f in frames:
        if f["dir"] == "out" and f["kind"] == 2:
            tol = max(WINDOW_MIN_S, f["t"] * WINDOW_FRACTION)
            item: dict[str, Any] = {"message": f["action"]}
            payload = strip_volatile(f["payload"])
            if payload:
                item["payload"] = payload
            item["within"] = [round(max(0.0, f["t"] - tol), 3), round(f["t"] + tol, 3)]
            expect.append(item)
    expect += _energy_expectations(frames)
    if expect:
        doc["expect"] = expect
    return doc


def _energy_expectations(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The EV meter's register at each StopTransaction (its meterStop), within a tolerance."""
    start_connector = {f["uid"]: f["payload"].get("connectorId") for f in frames
                       if f["dir"] == "out" and f["kind"] == 2 and f.get("action") == "StartTransaction"}
    tx_connector: dict[Any, Any] = {}
    for f in frames:
        if f["dir"] == "in" and f["kind"] == 3 and f["uid"] in start_connector:
            tx_connector[(f.get("payload") or {}).get("transactionId")] = start_connector[f["uid"]]
    out = []
    for f in frames:
        if f["dir"] != "out" or f["kind"] != 2 or f.get("action") != "StopTransaction":
            continue
        payload = f.get("payload") or {}
        connector = tx_connector.get(payload.get("transactionId"))
        if connector is None and len(set(start_connector.values())) == 1:
            connector = next(iter(start_connector.values()))
        if connector is None or not isinstance(payload.get("meterStop"), int | float):
            continue
        wh = float(payload["meterStop"])
        out.append({"energy": wh, "at": round(f["t"], 3), "connector": connector,
                    "tolerance": round(max(ENERGY_TOLERANCE_WH, wh * ENERGY_TOLERANCE_FRACTION), 1)})
    return out


def _csms_side(frames: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Initial CSMS behaviour and the steps that change it / the CSMS's own CALLs.

    The first answer seen for a setting is the initial behaviour; a later different answer becomes a
    ``csms`` step just before the CALL it answered."""
    initial: dict[str, Any] = {}
    current: dict[str, Any] = {}
    whitelist: dict[str, str] = {}
    steps: list[dict[str, Any]] = []

    def want(t: float, changes: dict[str, Any]) -> None:
        diff = {}
        for key, value in changes.items():
            if key not in current:
                initial[key] = value
            elif current[key] != value:
                diff[key] = value
            current[key] = value
        if diff:
            steps.append({"at": round(max(0.0, t - 0.001), 3), "csms": diff})

    for f in frames:
        answer = f.get("answer")
        if f["kind"] != 2:
            continue
        if f["dir"] == "in":  # the CSMS called the charge point
            call: dict[str, Any] = {"action": f["action"], "payload": f["payload"]}
            if answer is not None:
                if answer["kind"] == 4:
                    call["expect"] = {"error_code": answer["error_code"]}
                elif isinstance(answer.get("payload"), dict):
                    call["expect"] = {"payload": strip_volatile(answer["payload"])}
            steps.append({"at": round(f["t"], 3), "call": call})
            continue
        if answer is None:
            continue
        action, t = f["action"], f["t"]
        if answer["kind"] == 4:
            forced = {action: {"code": answer["error_code"], "count": 1}}
            if t <= 0.0:
                initial.setdefault("errors", {}).update(forced)
            else:
                steps.append({"at": round(max(0.0, t - 0.001), 3), "csms": {"errors": forced}})
            continue
        body = answer.get("payload") or {}
        if action == "BootNotification":
            status = body.get("status", "Accepted")
            interval = int(body.get("interval", 0))
            key = "heartbeat_interval" if status == "Accepted" else "boot_retry_interval"
            want(t, {"boot_status": status, key: interval})
        elif action in ("Authorize", "StartTransaction", "StopTransaction"):
            tag, info = f["payload"].get("idTag"), body.get("idTagInfo")
            if not tag or not isinstance(info, dict) or not info.get("status"):
                continue
            if tag not in whitelist:
                whitelist[tag] = info["status"]
            elif whitelist[tag] != info["status"]:
                whitelist[tag] = info["status"]
                steps.append({"at": round(max(0.0, t - 0.001), 3), "csms": {"whitelist_add": {tag: info["status"]}}})
        elif action == "DataTransfer" and body.get("status"):
            want(t, {"data_transfer_status": body["status"]})
    if whitelist:
        initial["whitelist"] = _first_statuses(frames)
    csms: dict[str, Any] = {}
    for key, value in initial.items():
        if key == "boot_status":
            boot: dict[str, Any] = {"status": value}
            if "boot_retry_interval" in initial:
                boot["interval"] = initial["boot_retry_interval"]
            csms["boot"] = boot if len(boot) > 1 else value
        elif key != "boot_retry_interval":
            csms[key] = value
    return csms, steps


def _first_statuses(frames: list[dict[str, Any]]) -> dict[str, str]:
    """Each idTag with the status the CSMS first gave it."""
    first: dict[str, str] = {}
    for f in frames:
        answer = f.get("answer")
        if f["kind"] != 2 or f["dir"] != "out" or answer is None or answer["kind"] != 3:
            continue
        if f["action"] not in ("Authorize", "StartTransaction", "StopTransaction"):
            continue
        tag, info = f["payload"].get("idTag"), (answer.get("payload") or {}).get("idTagInfo")
        if tag and isinstance(info, dict) and info.get("status"):
            first.setdefault(tag, info["status"])
    return first


def trace_to_yaml(path: str | Path, *, name: str | None = None) -> str:
    doc = trace_to_document(path, name=name)
    header = f"# generated by chargepoint replay --from-trace {Path(path).name}\n"
    return header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=160, allow_unicode=True)
