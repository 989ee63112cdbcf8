"""Local API authentication over real HTTP: loopback needs nothing; bound beyond loopback the API asks
for the configured bearer token or HTTP Basic credentials, and the configuration refuses to bind
there without any."""

from __future__ import annotations

import base64
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chargepoint.api import LocalApi
from chargepoint.app import build_runtime
from chargepoint.clock import RealClock
from chargepoint.config import ConfigError, load_config
from chargepoint.home.auth import ApiAuth, api_auth


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _lan_address() -> str | None:
    """A non-loopback address of this machine (to bind the API to), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent for a UDP connect
            address = str(s.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_config_refuses_a_non_loopback_bind_without_credentials() -> None:
    with pytest.raises(ConfigError, match=r"http.listen.*http.token"):
        load_config(env={}, overrides={"http.listen": "0.0.0.0:8080"})
    with pytest.raises(ConfigError, match="HTTP Basic needs both"):
        load_config(env={}, overrides={"http.listen": "0.0.0.0:8080", "http.username": "u"})
    assert load_config(env={}, overrides={"http.listen": "0.0.0.0:8080", "http.token": "t"}).http.token == "t"
    assert load_config(env={}, overrides={"http.listen": "0.0.0.0:8080", "http.open_access": "true"})
    assert load_config(env={}, overrides={"http.listen": "[::1]:8080"})  # loopback: nothing needed


def test_loopback_bind_asks_nothing() -> None:
    cfg = load_config(env={}, overrides={"http.token": "secret"})
    assert api_auth(cfg.http, "127.0.0.1") is None and api_auth(cfg.http, "localhost") is None
    assert isinstance(api_auth(cfg.http, "0.0.0.0"), ApiAuth)


async def _serve(tmp_path: Path, host: str, **overrides: Any) -> tuple[Any, LocalApi]:
    cfg = load_config(env={}, overrides={"chargepoint.data_dir": str(tmp_path), "http.listen": f"{host}:0",
                                         **overrides})
    runtime = build_runtime(cfg, RealClock())
    await runtime.start()
    return runtime, next(s for s in runtime.services if isinstance(s, LocalApi))


@pytest.mark.parametrize("mode", ["token", "basic"])
async def test_beyond_loopback_the_api_requires_the_credentials(tmp_path: Path, mode: str) -> None:
    host = _lan_address()
    if host is None:
        pytest.skip("this machine has no non-loopback IPv4 address to bind to")
    creds = {"http.token": "s3cret-token"} if mode == "token" else {"http.username": "owner",
                                                                    "http.password": "pa:ss"}
    runtime, api = await _serve(tmp_path, "0.0.0.0", **creds)  # reached over the LAN address below
    try:
        assert api.auth_description.startswith("requires ")
        base = f"http://{host}:{api.bound_port}"
        good = {"Authorization": "Bearer s3cret-token" if mode == "token" else _basic("owner", "pa:ss")}
        async with aiohttp.ClientSession(base) as http:
            for path in ("/api/status", "/settings", "/metrics"):
                async with http.get(path) as r:
                    assert r.status == 401, path
                    assert "WWW-Authenticate" in r.headers
            async with http.post("/api/sim/connectors/1/plug", json={}) as r:
                assert r.status == 401
            assert not runtime.station.snapshot(1).ev_connected  # nothing was switched
            wrong = {"Authorization": "Bearer nope" if mode == "token" else _basic("owner", "bad")}
            async with http.get("/api/status", headers=wrong) as r:
                assert r.status == 401
            async with http.get("/api/status", headers=good) as r:
                assert r.status == 200
            async with http.post("/settings?mode=3", headers=good, data=b"") as r:
                assert r.status == 200 and await r.json() == {"mode": "3"}
        async with aiohttp.ClientSession(f"http://127.0.0.1:{api.bound_port}") as local:
            async with local.get("/api/status") as r:  # the machine itself (healthchecks) passes
                assert r.status == 200
    finally:
        await runtime.stop()


async def test_startup_says_what_the_api_requires(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runtime, api = await _serve(tmp_path, "127.0.0.1")
    try:
        assert api.auth_description == "none: bound to loopback only"
    finally:
        await runtime.stop()
    from chargepoint.app import _print_banner

    cfg = load_config(env={}, overrides={"http.listen": "0.0.0.0:0", "http.token": "t"})
    api.host, api.auth_description = "0.0.0.0", "requires a bearer token (http.token)"
    runtime.services = [api]
    _print_banner(cfg, "ws://x/ocpp", None, runtime)
    assert "API auth        requires a bearer token (http.token)" in capsys.readouterr().out
