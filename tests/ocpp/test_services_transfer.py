"""Firmware download and diagnostics upload against real HTTP (aiohttp) and FTP (pyftpdlib) servers."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from ocpp.exceptions import PropertyConstraintViolationError

from chargepoint.clock import VirtualClock
from chargepoint.ocpp.auth import format_rfc3339
from chargepoint.ocpp.diagnostics import DiagnosticsService, build_archive, upload
from chargepoint.ocpp.firmware import TransferError, download, parse_location
from tests.ocpp.transfer_servers import ftp_server, http_server

FIRMWARE = b"\x7fELF-smartevse-firmware" + bytes(range(256)) * 300


def test_parse_location_names_the_field():
    assert parse_location("ftp://u:p%40ss@host:2121/dir/fw.bin").password == "p@ss"
    with pytest.raises(PropertyConstraintViolationError, match="location: unsupported scheme 'gopher'"):
        parse_location("gopher://host/fw")
    with pytest.raises(PropertyConstraintViolationError, match="without a host"):
        parse_location("http:///fw")


async def test_http_download(tmp_path):
    async with http_server() as srv:
        srv.files["fw.bin"] = FIRMWARE
        size = await download(parse_location(f"{srv.url}/fw/fw.bin"), tmp_path / "fw.bin", 10)
    assert size == len(FIRMWARE)
    assert (tmp_path / "fw.bin").read_bytes() == FIRMWARE
    assert not (tmp_path / "fw.bin.part").exists()


async def test_http_download_404_is_an_error(tmp_path):
    async with http_server() as srv:
        with pytest.raises(TransferError, match="HTTP 404"):
            await download(parse_location(f"{srv.url}/fw/missing.bin"), tmp_path / "x.bin", 10)
    assert list(tmp_path.iterdir()) == []


async def test_connection_refused_is_an_error(tmp_path):
    async with http_server() as srv:
        url = srv.url
    with pytest.raises(TransferError):
        await download(parse_location(f"{url}/fw/fw.bin"), tmp_path / "x.bin", 5)


async def test_ftp_download_and_upload(tmp_path):
    with ftp_server(tmp_path / "ftp") as ftp:
        (ftp.root / "fw").mkdir()
        (ftp.root / "fw" / "fw.bin").write_bytes(FIRMWARE)
        size = await download(parse_location(f"{ftp.url}/fw/fw.bin"), tmp_path / "got.bin", 10)
        assert size == len(FIRMWARE)
        assert (tmp_path / "got.bin").read_bytes() == FIRMWARE
        (ftp.root / "diag").mkdir()
        await upload(parse_location(f"{ftp.url}/diag/"), "d.zip", b"PK-data", 10)
        assert (ftp.root / "diag" / "d.zip").read_bytes() == b"PK-data"
        with pytest.raises(TransferError):
            await download(parse_location(f"{ftp.url}/fw/none.bin"), tmp_path / "none.bin", 10)


def _write_logs(data_dir: Path, clock: VirtualClock) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    t0 = clock.now()
    lines = [
        json.dumps({"timestamp": format_rfc3339(t0 - timedelta(hours=2)), "event": "old"}),
        json.dumps({"timestamp": format_rfc3339(t0 - timedelta(minutes=5)), "event": "recent"}),
        "not json at all",
    ]
    (data_dir / "frames.jsonl").write_text("\n".join(lines) + "\n")
    (data_dir / "chargepoint.log").write_text("plain log line\n")
    (data_dir / "ocpp.sqlite3").write_bytes(b"SQLite format 3\x00 secret AuthorizationKey")


def test_archive_cuts_jsonl_to_the_window_and_leaves_out_the_store(tmp_path):
    clock = VirtualClock()
    _write_logs(tmp_path, clock)
    data, names = build_archive(
        tmp_path, {"chargePointId": "CP1"}, start=clock.now() - timedelta(hours=1), stop=clock.now()
    )
    assert names == ["manifest.json", "chargepoint.log", "frames.jsonl"]
    zf = zipfile.ZipFile(io.BytesIO(data))
    frames = zf.read("frames.jsonl").decode()
    assert "recent" in frames and "old" not in frames and "not json at all" in frames
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["chargePointId"] == "CP1" and manifest["files"] == ["chargepoint.log", "frames.jsonl"]
    assert "ocpp.sqlite3" not in zf.namelist()


def _diagnostics(clock, tmp_path, sent: list[tuple[str, dict[str, Any]]]) -> DiagnosticsService:
    return DiagnosticsService(
        clock, tmp_path / "data", lambda a, p: sent.append((a, p)), cp_id="CP/1", default_retry_interval_s=30
    )


def test_diagnostics_http_put_and_post(tmp_path):
    clock = VirtualClock()
    _write_logs(tmp_path / "data", clock)
    sent: list[tuple[str, dict[str, Any]]] = []

    async def main() -> None:
        svc = _diagnostics(clock, tmp_path, sent)
        async with http_server() as srv:
            loc, name = svc.prepare(f"{srv.url}/upload/")
            assert name == "diagnostics-CP_1-20260105T080000Z.zip"
            await svc.start(loc, name)
            loc, name2 = svc.prepare(f"{srv.url}/upload")
            await svc.start(loc, name2)
        assert [(m, n) for m, n, _ in srv.uploads] == [("PUT", name), ("POST", name2)]
        body = srv.uploads[0][2]
        assert "manifest.json" in zipfile.ZipFile(io.BytesIO(body)).namelist()
        assert (tmp_path / "data" / "diagnostics" / name).read_bytes() == body

    clock.run(main())
    assert [p["status"] for _, p in sent] == ["Uploading", "Uploaded", "Uploading", "Uploaded"]
    assert {a for a, _ in sent} == {"DiagnosticsStatusNotification"}


def test_diagnostics_retries_then_fails(tmp_path):
    clock = VirtualClock()
    _write_logs(tmp_path / "data", clock)
    sent: list[tuple[str, dict[str, Any]]] = []

    async def main() -> None:
        svc = _diagnostics(clock, tmp_path, sent)
        async with http_server() as srv:
            srv.fail_next = 2
            loc, name = svc.prepare(f"{srv.url}/upload/")
            t0 = clock.monotonic()
            await svc.start(loc, name, retries=3, retry_interval=30)
            assert clock.monotonic() - t0 == pytest.approx(60, abs=1)  # two waits of 30 s
            assert len(srv.uploads) == 1 and srv.requests == 3
            srv.fail_next = 5
            await svc.start(loc, name, retries=2, retry_interval=10)
            assert srv.requests == 5

    clock.run(main())
    assert [p["status"] for _, p in sent] == ["Uploading", "Uploaded", "Uploading", "UploadFailed"]
