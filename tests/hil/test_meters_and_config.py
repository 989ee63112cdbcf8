"""The EV meter that wins, the RTU/mains variants of the stack, and the configuration surface."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from chargepoint.cli import parse_meter_spec
from chargepoint.clock import RealClock
from chargepoint.config import ConfigError, load_config
from chargepoint.config_check import check_meters
from chargepoint.controller.types import Authorize, SubState
from chargepoint.harness.hil import HilOptions, HilStack
from chargepoint.harness.hil.runtime import start_runtime
from chargepoint.runtime import Runtime, backend_options
from hal.types import MeterReading

ROOT = Path(__file__).resolve().parents[2]


def _charge_and_collect(tmp_path: Path, options: HilOptions, sim: dict[str, object],
                        meter: dict[str, float] | None = None) -> dict[str, object]:
    """Run the HIL stack through the runtime, charge ~2 s, return what the station saw."""
    clock = RealClock()

    async def main() -> dict[str, object]:
        stack = HilStack(clock, options)
        await stack.start()
        runtime: Runtime | None = None
        try:
            runtime = await start_runtime(clock, stack, tmp_path, backend=sim, meter=meter)
            station = runtime.station
            assert station is not None
            seen: list[MeterReading] = []
            station.subscribe(lambda item: seen.append(item) if isinstance(item, MeterReading) else None)
            stack.emulator.plug(cable_a=32.0)
            await clock.sleep(0.4)
            await station.submit(Authorize(1, True))
            deadline = clock.monotonic() + 8.0
            while station.snapshot(1).substate is not SubState.C2 and clock.monotonic() < deadline:
                await clock.sleep(0.05)
            await clock.sleep(2.5)
            return {"seen": seen, "board": station.board, "ev_wh": stack.emulator.firmware.ev_energy_wh,
                    "latest": station.latest_meter(1), "mains": station.latest_meter(0),
                    "substate": station.snapshot(1).substate}
        finally:
            if runtime is not None:
                await runtime.stop()
            await stack.stop()

    return clock.run(main())


def test_modbus_ev_meter_wins_over_the_ch32s_own_meter_lines(tmp_path: Path) -> None:
    # the CH32 is told it has an EV meter too (EVMeterType 4): it sends @Irms/@Import_active_energy
    got = _charge_and_collect(tmp_path, HilOptions(ev={"max_current_a": 32.0}), {"EVMeterType": 4})
    assert got["substate"] is SubState.C2
    board = got["board"]
    assert board.options.external_ev_meter  # type: ignore[attr-defined]
    assert "ch32_ev_meter" in board.status.shadow  # type: ignore[attr-defined]  # CH32 lines arrived...
    ev_readings = [r for r in got["seen"] if r.connector == 1]  # type: ignore[attr-defined]
    assert ev_readings
    # ...but every connector-1 reading the station used came from the Modbus meter: float energy
    # (the CH32 reports whole Wh) that tracks the emulated EV
    ch32 = board.status.shadow["ch32_ev_meter"]  # type: ignore[attr-defined]
    assert ch32.energy_import_wh == round(ch32.energy_import_wh)
    charged = [r for r in ev_readings if r.energy_import_wh > 0]
    assert charged and all(r.energy_import_wh != round(r.energy_import_wh) for r in charged)
    latest = got["latest"]
    assert isinstance(latest, MeterReading) and latest.current_a[0] == pytest.approx(16.0)
    assert latest.energy_import_wh == pytest.approx(float(got["ev_wh"]), abs=2.0)  # type: ignore[arg-type]


def test_rtu_meters_on_pty_pairs_with_a_mains_meter(tmp_path: Path) -> None:
    # RTU at 9600 baud: a poll of an SDM630 takes ~0.1 s per block; leave room on a loaded machine
    got = _charge_and_collect(tmp_path, HilOptions(meter_transport="rtu", mains=True, ev={"max_current_a": 32.0}),
                              {}, meter={"poll_interval_s": 0.3, "timeout_s": 0.6, "comm_loss_s": 5.0})
    assert got["substate"] is SubState.C2
    latest, mains = got["latest"], got["mains"]
    assert isinstance(latest, MeterReading) and latest.current_a == pytest.approx((16.0, 16.0, 16.0))
    assert isinstance(mains, MeterReading) and mains.connector == 0
    assert mains.current_a == pytest.approx((18.0, 18.0, 18.0))  # 2 A house load + the EV


def test_meter_spec_flag_parsing() -> None:
    assert parse_meter_spec("type=sdm630,transport=tcp,host=192.0.2.5,port=502,role=ev,poll_interval_s=0.5") == {
        "type": "sdm630", "transport": "tcp", "host": "192.0.2.5", "port": 502, "role": "ev",
        "poll_interval_s": 0.5}
    with pytest.raises(ConfigError, match="'host' is not KEY=VALUE"):
        parse_meter_spec("type=sdm630,host")


@pytest.mark.parametrize(("table", "names"), [
    ({"type": "nope", "host": "h"}, "'type'"),
    ({"type": "sdm630", "transport": "tcp"}, "'host'"),
    ({"type": "sdm630", "host": "h", "role": "solar"}, "'role'"),
    ({"type": "sdm630", "host": "h", "address": 300}, "'address'"),
])
def test_bad_meter_tables_are_configuration_errors_naming_the_field(table: dict[str, object], names: str) -> None:
    config = replace(load_config(env={}), meters=(table,))
    with pytest.raises(ConfigError, match=names):
        check_meters(config)


def test_smartevse_with_a_modbus_ev_meter_gets_external_ev_meter() -> None:
    base = load_config(overrides={"backend.name": "smartevse", "backend.serial": "/dev/ttyS1",
                                  "backend.baudrate": 115200}, env={})
    assert "external_ev_meter" not in backend_options(base)
    assert backend_options(base)["baudrate"] == 115200
    with_ev = replace(base, meters=({"type": "sdm630", "host": "h", "role": "ev"},))
    assert backend_options(with_ev)["external_ev_meter"] is True
    mains_only = replace(base, meters=({"type": "sdm630", "host": "h", "role": "mains"},))
    assert "external_ev_meter" not in backend_options(mains_only)


def test_generated_config_loads_and_names_everything(tmp_path: Path) -> None:
    clock = RealClock()

    async def main() -> str:
        stack = HilStack(clock, HilOptions(mains=True, link=str(tmp_path / "evse")))
        await stack.start()
        try:
            return stack.config_toml(http_listen="127.0.0.1:0", csms_port=0, max_current_a=20.0)
        finally:
            await stack.stop()

    text = clock.run(main())
    path = tmp_path / "c.toml"
    path.write_text(text)
    cfg = load_config(path, env={})
    assert cfg.backend.name == "smartevse" and cfg.backend.serial == str(tmp_path / "evse")
    assert cfg.backend.baudrate == 500000 and cfg.controller.max_current_a == 20.0 and cfg.csms.port == 0
    assert [m["role"] for m in cfg.meters] == ["ev", "mains"]
    assert [m["address"] for m in cfg.meters] == [12, 10]
    check_meters(cfg)


def test_run_with_a_bad_meter_flag_exits_with_a_clear_message(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "chargepoint", "run", "--backend", "smartevse", "--serial", str(tmp_path / "x"),
         "--meter", "type=sdm630,transport=tcp,role=ev"],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "meters[0] (ev meter)" in proc.stderr and "'host'" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_hil_start_errors_are_one_clear_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = subprocess.run([sys.executable, "-m", "chargepoint", "hil", "--meter-port", str(port)],
                               cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert taken.returncode == 1
    assert f"cannot listen for the ev meter on 127.0.0.1:{port}" in taken.stderr
    no_dir = subprocess.run([sys.executable, "-m", "chargepoint", "hil", "--link", str(tmp_path / "no" / "evse")],
                            cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert no_dir.returncode == 1 and str(tmp_path / "no" / "evse") in no_dir.stderr
    for proc in (taken, no_dir):
        assert "Traceback" not in proc.stderr + proc.stdout
