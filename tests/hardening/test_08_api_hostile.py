"""Issue 12, point 8 and the API half of the fuzz acceptance: every error of the local API is a 4xx
with a valid JSON body naming the field -- a 400-digit integer, a body nested 1,000+ deep, a `"` in a
connector id, non-ASCII digits -- and 2,000 seeded hostile requests over every route the API serves
get no 5xx.  Real HTTP against the real runtime (sim backend)."""

from __future__ import annotations

import json
import random
from urllib.parse import quote

import aiohttp
import pytest

from chargepoint.api import LocalApi
from chargepoint.api.app import create_app
from chargepoint.app import build_runtime
from chargepoint.clock import RealClock
from chargepoint.config import load_config


@pytest.fixture
async def api(tmp_path):
    cfg = load_config(env={}, overrides={"chargepoint.data_dir": str(tmp_path), "http.listen": "127.0.0.1:0",
                                         "backend.connectors": 2})
    runtime = build_runtime(cfg, RealClock())
    await runtime.start()
    local = next(s for s in runtime.services if isinstance(s, LocalApi))
    async with aiohttp.ClientSession(f"http://127.0.0.1:{local.bound_port}") as http:
        yield runtime, http
    await runtime.stop()


async def _json_error(response: aiohttp.ClientResponse) -> dict:
    assert 400 <= response.status < 500, (response.status, await response.text())
    body = json.loads(await response.text())  # valid JSON, whatever the input
    assert isinstance(body, dict) and isinstance(body.get("error"), str), body
    return body


@pytest.mark.parametrize("field", ["cable_a"])
async def test_08_a_400_digit_integer_is_a_400_naming_the_field(api, field):
    _runtime, http = api
    raw = '{"' + field + '": ' + "9" * 400 + "}"
    async with http.post("/api/sim/connectors/1/plug", data=raw) as r:
        body = await _json_error(r)
        assert r.status == 400 and body["field"] == field


async def test_08_a_4400_digit_integer_is_a_400(api):
    _runtime, http = api
    async with http.post("/api/sim/connectors/1/plug", data='{"cable_a": ' + "9" * 4400 + "}") as r:
        assert r.status == 400
        await _json_error(r)


@pytest.mark.parametrize("body", ["[" * 1500 + "]" * 1500, '{"cable_a":' + "[" * 5000 + "]" * 5000 + "}",
                                  '{"a":' * 2000 + "1" + "}" * 2000])
async def test_08_a_body_nested_1000_deep_is_a_400(api, body):
    _runtime, http = api
    async with http.post("/api/sim/connectors/1/plug", data=body) as r:
        assert r.status == 400
        assert "nested too deeply" in (await _json_error(r))["error"]


@pytest.mark.parametrize("raw_id", ['1"', '1", "injected": "yes', "１", "٢", "0", "3", "-1", "1e0", "9" * 50])
async def test_08_unknown_connector_is_a_404_with_valid_json(api, raw_id):
    _runtime, http = api
    async with http.post(f"/api/sim/connectors/{quote(raw_id, safe='')}/plug") as r:
        assert r.status == 404
        body = await _json_error(r)
        assert body["field"] == "id" and "injected" not in body


def _routes(runtime) -> list[tuple[str, str]]:
    """(method, path template) of every route the local API serves, read from its router."""
    app = create_app(runtime)
    out = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if path and route.method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            out.append((route.method, path))
    return sorted(set(out))


def _hostile_value(rng: random.Random, depth: int = 0):
    pick = rng.randrange(12 if depth < 3 else 8)
    return [
        lambda: int("9" * rng.randrange(1, 500)),
        lambda: -(10 ** rng.randrange(1, 400)),
        lambda: rng.choice([1e308, -1e308, 0.1, -0.0, 5e-324]),
        lambda: "".join(rng.choice(['"', "\\", "\u0000", "é", "\U0001f600", "a", "<", "{"]) for _ in range(rng.randrange(60))),
        lambda: None,
        lambda: rng.choice([True, False]),
        lambda: rng.randrange(-100, 100),
        lambda: rng.choice(["solar", "smart", "normal", "rcd", "weld", "A", "", "1"]),
        lambda: [_hostile_value(rng, depth + 1) for _ in range(rng.randrange(4))],
        lambda: {rng.choice(FIELDS): _hostile_value(rng, depth + 1) for _ in range(rng.randrange(4))},
        lambda: {rng.choice(FIELDS): _hostile_value(rng, depth + 1)},
        lambda: [rng.randrange(-5000, 5000) for _ in range(3)],
    ][pick]()


FIELDS = ["cable_a", "soc", "capacity_kwh", "max_current_a", "phases", "id_tag", "connector", "fault", "active",
          "mode", "max_mains_a", "l1", "l2", "l3", "L1", "current", "battery_current", "override_current",
          "energy_wh", "power_w", "currents", "x", "limiting", "contact", "uid", "action", "current_a"]


def _hostile_body(rng: random.Random) -> bytes | str:
    kind = rng.randrange(10)
    if kind == 0:
        return "[" * rng.randrange(900, 3000) + "]" * rng.randrange(0, 3000)
    if kind == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80)))
    if kind == 2:
        return rng.choice(["", "null", "1", '"x"', "{", '{"a":}', "[]", "{}", "NaN", '{"cable_a": Infinity}'])
    if kind == 3:
        return '{"' + rng.choice(FIELDS) + '": ' + "9" * rng.randrange(300, 5000) + "}"
    body = {rng.choice(FIELDS): _hostile_value(rng) for _ in range(rng.randrange(1, 5))}
    return json.dumps(body)


def _hostile_path(rng: random.Random, template: str) -> str:
    ids = ["1", "2", "0", "3", '1"', "１", "%22", "..", "1;2", "9" * 40, "-1", "abc", "%00", "1%0d%0aX: y"]
    return template.replace("{id}", rng.choice(ids)).replace("{uid}", rng.choice(ids))


async def test_fuzz_2000_hostile_requests_get_no_5xx(api):
    runtime, http = api
    rng = random.Random(1206)
    routes = _routes(runtime)
    assert len(routes) >= 10, routes
    statuses: dict[int, int] = {}
    for _ in range(2000):
        method, template = rng.choice(routes)
        path = _hostile_path(rng, template)
        if rng.random() < 0.2:
            path += "?" + "&".join(f"{rng.choice(FIELDS)}={quote(str(_hostile_value(rng)))[:200]}"
                                   for _ in range(rng.randrange(1, 4)))
        data = _hostile_body(rng) if method in ("POST", "PUT", "PATCH") or rng.random() < 0.1 else None
        async with http.request(method, path, data=data,
                                headers={"Content-Type": rng.choice(["application/json", "text/plain", ""])}) as r:
            if r.content_type == "text/event-stream":  # the status page's endless stream: answered is enough
                statuses[r.status] = statuses.get(r.status, 0) + 1
                continue
            text = await r.text(errors="replace")
            statuses[r.status] = statuses.get(r.status, 0) + 1
            assert r.status < 500, (method, path, data if data is None else str(data)[:200], r.status, text[:300])
            if r.status >= 400 and r.content_type == "application/json":
                json.loads(text)
    # the charger still works afterwards: the status document answers and the station runs
    async with http.get("/api/status") as r:
        assert r.status == 200
    assert runtime.station is not None
    assert sum(n for s, n in statuses.items() if 400 <= s < 500) > 500, statuses
