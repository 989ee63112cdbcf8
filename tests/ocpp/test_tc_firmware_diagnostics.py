"""OCTT firmware-management cases (TC_044 firmware update, TC_045 diagnostics) through the real
charge point, with a real HTTP server (aiohttp) and FTP server (pyftpdlib) on loopback.

The sim backend has no firmware installer yet, so the tests give the sim board an
``install_firmware`` that accepts an image only when it starts with the expected magic bytes (what
a hardware backend's image check does); the station delegates to it as in production.
"""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

from chargepoint.ocpp.errors import format_datetime
from tests.ocpp.session_rig import Rig, vrun
from tests.ocpp.transfer_servers import ftp_server, http_server

pytestmark = pytest.mark.usefixtures("ocpp_schema_check")

MAGIC = b"SEVSE-FW"
IMAGE = MAGIC + bytes(range(256)) * 64


def give_installer(rig: Rig) -> list[Path]:
    installed: list[Path] = []

    async def install_firmware(path: Path) -> bool:
        ok = path.read_bytes().startswith(MAGIC)  # noqa: ASYNC240 - a small local file
        if ok:
            installed.append(path)
        return ok

    rig.board.install_firmware = install_firmware  # type: ignore[attr-defined]
    return installed


def fw_statuses(rig: Rig) -> list[str]:
    return [f.payload["status"] for f in rig.calls("FirmwareStatusNotification")]


def diag_statuses(rig: Rig) -> list[str]:
    return [f.payload["status"] for f in rig.calls("DiagnosticsStatusNotification")]


async def wait_fw(rig: Rig, status: str, within: float = 300):
    return await rig.wait_call("FirmwareStatusNotification", lambda p: p["status"] == status, within)


def test_tc_044_1_firmware_update_http(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path / "cp") as rig, http_server() as srv:
            installed = give_installer(rig)
            await rig.booted()
            srv.files["fw-2.0.bin"] = IMAGE
            out = await rig.call("UpdateFirmware", {"location": f"{srv.url}/fw/fw-2.0.bin",
                                                    "retrieveDate": format_datetime(clock.now())})
            assert out.status == "result" and out.payload == {}
            await wait_fw(rig, "Installed")
            assert fw_statuses(rig) == ["Downloading", "Downloaded", "Installing", "Installed"]
            assert installed and installed[0].read_bytes() == IMAGE
            assert installed[0].parent == tmp_path / "cp" / "firmware"
            assert rig.csms.violations == []

    vrun(main)


def test_firmware_update_with_the_plain_sim_board(tmp_path):
    """The sim backend itself accepts any downloaded image (no test installer patched in)."""

    async def main(clock):
        async with Rig(clock, tmp_path / "cp") as rig, http_server() as srv:
            await rig.booted()
            srv.files["any.bin"] = b"not even firmware"
            await rig.call("UpdateFirmware", {"location": f"{srv.url}/fw/any.bin",
                                              "retrieveDate": format_datetime(clock.now())})
            await wait_fw(rig, "Installed")
            assert fw_statuses(rig) == ["Downloading", "Downloaded", "Installing", "Installed"]
            assert [p.read_bytes() for p in rig.board.installed_firmware] == [b"not even firmware"]

    vrun(main)


def test_tc_044_1_retrieve_date_in_the_future(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path / "cp") as rig, http_server() as srv:
            give_installer(rig)
            await rig.booted()
            srv.files["fw.bin"] = IMAGE
            t0 = clock.now()
            await rig.call("UpdateFirmware", {"location": f"{srv.url}/fw/fw.bin",
                                              "retrieveDate": format_datetime(t0 + timedelta(minutes=10))})
            downloading = await wait_fw(rig, "Downloading", within=700)
            assert 595 <= (downloading.time - t0).total_seconds() <= 610
            await wait_fw(rig, "Installed")

    vrun(main)


def test_tc_044_1_install_waits_for_the_transaction(tmp_path):
    """Downloaded while charging on connector 1: the idle connector 2 turns Unavailable, nothing is
    installed until the transaction ends; afterwards connector 2 is Available again."""

    async def main(clock):
        async with Rig(clock, tmp_path / "cp", connectors=2) as rig, http_server() as srv:
            give_installer(rig)
            await rig.booted()
            rig.board.present_rfid("TAG1", 1)
            rig.board.plug(1)
            await rig.wait_status(1, "Charging")
            srv.files["fw.bin"] = IMAGE
            await rig.call("UpdateFirmware", {"location": f"{srv.url}/fw/fw.bin",
                                              "retrieveDate": format_datetime(clock.now())})
            await wait_fw(rig, "Downloaded")
            await rig.wait_status(2, "Unavailable")
            await rig.settle(600)
            assert fw_statuses(rig) == ["Downloading", "Downloaded"]
            mark = len(rig.csms.frames)
            rig.board.unplug(1)
            await rig.wait_call("StopTransaction", start=mark)
            await wait_fw(rig, "Installed")
            # installed once the transaction ended (its StopTransaction is queued; a status message may overtake it)
            installing = [f for f in rig.calls("FirmwareStatusNotification") if f.payload["status"] == "Installing"]
            assert installing[0].seq > mark
            await rig.wait_call("StatusNotification", lambda p: p["connectorId"] == 2 and p["status"] == "Available",
                                start=installing[0].seq)

    vrun(main)


def test_tc_044_2_download_failed_after_retries(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path / "cp") as rig, http_server() as srv:
            give_installer(rig)
            await rig.booted()
            t0 = clock.monotonic()
            await rig.call("UpdateFirmware", {"location": f"{srv.url}/fw/missing.bin", "retries": 3,
                                              "retryInterval": 40, "retrieveDate": format_datetime(clock.now())})
            await wait_fw(rig, "DownloadFailed")
            assert fw_statuses(rig) == ["Downloading", "DownloadFailed"]
            assert srv.requests == 3
            assert 79 <= clock.monotonic() - t0 <= 90  # two waits of 40 s between three attempts

    vrun(main)


def test_tc_044_2_download_succeeds_on_a_retry(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path / "cp") as rig, http_server() as srv:
            give_installer(rig)
            await rig.booted()
            srv.files["fw.bin"] = IMAGE
            srv.fail_next = 1
            await rig.call("UpdateFirmware", {"location": f"{srv.url}/fw/fw.bin", "retries": 2,
                                              "retryInterval": 10, "retrieveDate": format_datetime(clock.now())})
            await wait_fw(rig, "Installed")
            assert srv.requests == 2

    vrun(main)


def test_tc_044_3_installation_failed(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path / "cp") as rig, http_server() as srv:
            installed = give_installer(rig)
            await rig.booted()
            srv.files["bad.bin"] = b"not a firmware image"
            await rig.call("UpdateFirmware", {"location": f"{srv.url}/fw/bad.bin",
                                              "retrieveDate": format_datetime(clock.now())})
            await wait_fw(rig, "InstallationFailed")
            assert fw_statuses(rig) == ["Downloading", "Downloaded", "Installing", "InstallationFailed"]
            assert installed == []

    vrun(main)


def test_firmware_over_ftp_and_bad_locations(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path / "cp") as rig:
            installed = give_installer(rig)
            await rig.booted()
            with ftp_server(tmp_path / "ftp") as ftp:
                (ftp.root / "fw.bin").write_bytes(IMAGE)
                await rig.call("UpdateFirmware", {"location": f"{ftp.url}/fw.bin",
                                                  "retrieveDate": format_datetime(clock.now())})
                await wait_fw(rig, "Installed")
            assert installed[0].read_bytes() == IMAGE
            out = await rig.call("UpdateFirmware", {"location": "gopher://example/fw.bin",
                                                    "retrieveDate": format_datetime(clock.now())})
            assert out.status == "error" and out.error_code == "PropertyConstraintViolation"
            assert "location" in out.error_description
            out = await rig.call("UpdateFirmware", {"location": "http://127.0.0.1/fw.bin", "retries": -1,
                                                    "retrieveDate": format_datetime(clock.now())})
            assert out.status == "error" and "retries" in out.error_description

    vrun(main)


def test_tc_045_1_get_diagnostics_http(tmp_path):
    async def main(clock):
        data_dir = tmp_path / "cp"
        async with Rig(clock, data_dir) as rig, http_server() as srv:
            await rig.booted()
            (data_dir / "chargepoint.log").write_text("a log line\n")
            out = await rig.call("GetDiagnostics", {"location": f"{srv.url}/upload/"})
            name = out.payload["fileName"]
            assert name.startswith("diagnostics-CP-1-") and name.endswith(".zip")
            await rig.wait_call("DiagnosticsStatusNotification", lambda p: p["status"] == "Uploaded")
            assert diag_statuses(rig) == ["Uploading", "Uploaded"]
            method, uploaded_name, body = srv.uploads[0]
            assert (method, uploaded_name) == ("PUT", name)
            zf = zipfile.ZipFile(io.BytesIO(body))
            assert "manifest.json" in zf.namelist() and "chargepoint.log" in zf.namelist()
            assert not any(n.endswith(".sqlite3") for n in zf.namelist())
            assert rig.csms.violations == []

    vrun(main)


def test_tc_045_1_get_diagnostics_ftp(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path / "cp") as rig:
            await rig.booted()
            with ftp_server(tmp_path / "ftp") as ftp:
                (ftp.root / "diag").mkdir()
                out = await rig.call("GetDiagnostics", {"location": f"{ftp.url}/diag/",
                                                        "startTime": format_datetime(clock.now() - timedelta(hours=1)),
                                                        "stopTime": format_datetime(clock.now())})
                name = out.payload["fileName"]
                await rig.wait_call("DiagnosticsStatusNotification", lambda p: p["status"] == "Uploaded")
                assert zipfile.is_zipfile(ftp.root / "diag" / name)

    vrun(main)


def test_tc_045_2_upload_failed(tmp_path):
    async def main(clock):
        async with Rig(clock, tmp_path / "cp") as rig, http_server() as srv:
            await rig.booted()
            srv.fail_next = 10
            out = await rig.call("GetDiagnostics", {"location": f"{srv.url}/upload/", "retries": 2,
                                                    "retryInterval": 20})
            assert "fileName" in out.payload
            await rig.wait_call("DiagnosticsStatusNotification", lambda p: p["status"] == "UploadFailed")
            assert diag_statuses(rig) == ["Uploading", "UploadFailed"]
            assert srv.requests == 2
            mark = len(rig.csms.frames)
            out = await rig.call("TriggerMessage", {"requestedMessage": "DiagnosticsStatusNotification"})
            frame = await rig.wait_call("DiagnosticsStatusNotification", start=mark)
            assert frame.payload == {"status": "UploadFailed"}

    vrun(main)
