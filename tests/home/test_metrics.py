"""GET /metrics over real HTTP: a real runtime connected to the test CSMS over a real websocket, in
virtual time; the text is parsed with prometheus-client's own parser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from chargepoint.api import LocalApi
from chargepoint.app import build_runtime
from chargepoint.clock import VirtualClock
from chargepoint.config import load_config
from chargepoint.csms import TestCsms


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_cover_connectors_ocpp_outbox_latency_and_energy_cycles(tmp_path: Path) -> None:
    clock = VirtualClock()

    async def main() -> None:
        csms = TestCsms(clock, "127.0.0.1", 0, http_port=None)
        await csms.start()
        cfg = load_config(env={}, overrides={"ocpp.csms_url": csms.url, "http.listen": "127.0.0.1:0",
                                             "chargepoint.data_dir": str(tmp_path)})
        runtime = build_runtime(cfg, clock)
        await runtime.start()
        local = next(s for s in runtime.services if isinstance(s, LocalApi))
        http = aiohttp.ClientSession(f"http://127.0.0.1:{local.bound_port}")

        async def scrape() -> dict[Any, float]:
            async with http.get("/metrics") as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                return _samples(await r.text())

        try:
            await csms.wait_for_connection("CP-1", 30)
            await clock.sleep(5)
            m = await scrape()
            assert m[("chargepoint_ocpp_connected", ())] == 1.0
            assert m[("chargepoint_ocpp_registration", (("status", "Accepted"),))] == 1.0
            assert m[("chargepoint_ocpp_connections_total", ())] == 1.0
            assert m[("chargepoint_ocpp_reconnects_total", ())] == 0.0
            assert m[("chargepoint_ocpp_call_latency_seconds_count", (("action", "BootNotification"),))] >= 1
            assert m[("chargepoint_connector_state", (("connector", "1"), ("state", "A")))] == 1.0
            assert m[("chargepoint_connector_fault", (("connector", "1"), ("fault", "rcd")))] == 0.0
            # Normal mode, one connector, nothing plugged: the energy service runs its first cycle and then
            # sleeps until an input can change its decision (chargepoint/services/energy.py)
            assert m[("chargepoint_energy_cycles_total", ())] >= 1
            assert m[("chargepoint_energy_cycle_seconds_count", ())] >= 1
            assert m[("chargepoint_ocpp_outbox_depth", ())] == 0.0
            # charge: plug + card -> StartTransaction, offered 16 A, energy counting
            await http.post("/api/sim/connectors/1/plug", json={})
            await http.post("/api/sim/rfid", json={"id_tag": "ABC123"})
            await clock.sleep(60)
            m = await scrape()
            assert m[("chargepoint_connector_state", (("connector", "1"), ("state", "C2")))] == 1.0
            assert m[("chargepoint_connector_offered_current_amperes", (("connector", "1"),))] == 16.0
            assert m[("chargepoint_connector_drawn_current_amperes", (("connector", "1"),))] > 10
            assert m[("chargepoint_connector_energy_import_watt_hours_total", (("connector", "1"),))] > 0
            assert m[("chargepoint_connector_session_energy_watt_hours", (("connector", "1"),))] > 0
            assert m[("chargepoint_ocpp_call_latency_seconds_count", (("action", "StartTransaction"),))] == 1
            # CSMS gone: the StopTransaction waits in the outbox and ages
            await csms.stop()
            await clock.sleep(3)
            await http.post("/api/sim/connectors/1/unplug")
            await clock.sleep(30)
            m = await scrape()
            assert m[("chargepoint_ocpp_connected", ())] == 0.0
            assert m[("chargepoint_ocpp_outbox_depth", ())] >= 1
            assert m[("chargepoint_ocpp_outbox_oldest_age_seconds", ())] >= 29
            # a fault shows
            await http.post("/api/sim/faults", json={"connector": 1, "fault": "overtemp", "active": True})
            await clock.sleep(1)
            m = await scrape()
            assert m[("chargepoint_connector_fault", (("connector", "1"), ("fault", "overtemp")))] == 1.0
        finally:
            await http.close()
            await runtime.stop()

    clock.run(main())
