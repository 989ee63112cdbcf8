"""Issue 12, point 11: ``--password`` with security profile 0 is refused at start-up with a message
(it would be silently unused), and a 401 names the likely cause in the log."""

from __future__ import annotations

import subprocess
import sys

from chargepoint.clock import VirtualClock
from tests.ocpp.session_rig import Rig


def test_password_with_profile_0_refuses_to_start(tmp_path):
    out = subprocess.run([sys.executable, "-m", "chargepoint", "run", "--password", "secret-key-0123",
                          "--csms-url", "ws://127.0.0.1:9/ocpp", "--http", ""],
                         capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                              "CHARGEPOINT_CHARGEPOINT_DATA_DIR": str(tmp_path / "data")})
    assert out.returncode == 2, out.stdout + out.stderr
    assert "ocpp.password" in out.stderr and "security profile 0 sends no password" in out.stderr
    assert "security_profile = 1" in out.stderr
    assert "Traceback" not in out.stderr
    assert "secret-key-0123" not in out.stderr + out.stdout


def test_password_with_profile_1_is_accepted_by_the_check(tmp_path):
    cfg = tmp_path / "cp.toml"
    cfg.write_text("[ocpp]\npassword = 'secret-key-0123'\nsecurity_profile = 1\ncsms_url = 'ws://h/ocpp'\n")
    out = subprocess.run([sys.executable, "-m", "chargepoint", "config", "--check", str(cfg)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr



def test_401_without_a_password_names_the_profile(tmp_path):
    clock = VirtualClock()

    async def main():
        from chargepoint.csms import TestCsms

        csms = TestCsms(clock, http_port=None, console_log=False, passwords={"CP-1": b"the-right-password"})
        await csms.start()
        try:
            async with Rig(clock, tmp_path, csms=csms, start_client=False, options={}) as rig:
                await rig.start()
                await rig.settle(5)
                return rig.client.last_error or ""
        finally:
            await csms.stop()

    error = clock.run(main())
    assert "HTTP 401" in error
    assert "security profile 0 sends no password" in error


def test_401_with_a_wrong_password_says_the_key_was_rejected(tmp_path):
    clock = VirtualClock()

    async def main():
        from chargepoint.csms import TestCsms

        csms = TestCsms(clock, http_port=None, console_log=False, passwords={"CP-1": b"the-right-password"})
        await csms.start()
        try:
            async with Rig(clock, tmp_path, csms=csms, start_client=False,
                           options={"security_profile": 1, "password": "a-wrong-password"}) as rig:
                await rig.start()
                await rig.settle(5)
                return rig.client.last_error or ""
        finally:
            await csms.stop()

    error = clock.run(main())
    assert "HTTP 401" in error and "rejected the AuthorizationKey" in error
    assert "a-wrong-password" not in error
