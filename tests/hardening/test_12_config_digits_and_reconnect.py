"""Issue 12, point 12: ChangeConfiguration takes integers in ASCII digits only, and a deliberate
reconnect (a new AuthorizationKey) is immediate instead of going through the failure backoff."""

from __future__ import annotations

from chargepoint.clock import VirtualClock
from tests.ocpp.session_rig import Rig

KEY_HEX = "00112233445566778899aabbccddeeff00ff10fe"


def test_non_ascii_digits_are_rejected(tmp_path):
    clock = VirtualClock()

    async def main():
        async with Rig(clock, tmp_path) as rig:
            await rig.booted()
            for text in ("１２０", "١٢٠", "12０", "²"):
                out = await rig.call("ChangeConfiguration", {"key": "HeartbeatInterval", "value": text})
                assert out.payload == {"status": "Rejected"}, text
            out = await rig.call("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"})
            assert out.payload == {"status": "Accepted"}
            out = await rig.call("GetConfiguration", {"key": ["HeartbeatInterval"]})
            assert out.payload["configurationKey"][0]["value"] == "120"

    clock.run(main())


def test_authorization_key_changes_reconnect_at_once(tmp_path):
    clock = VirtualClock()

    async def main():
        from chargepoint.csms import TestCsms

        csms = TestCsms(clock, http_port=None, console_log=False, passwords={"CP-1": bytes.fromhex(KEY_HEX)})
        await csms.start()
        try:
            async with Rig(clock, tmp_path, csms=csms,
                           options={"security_profile": 1, "password_hex": KEY_HEX}) as rig:
                await rig.booted()
                gaps = []
                for i in range(6):
                    key = f"{i:02x}" * 20
                    before = rig.client.connections
                    csms.passwords["CP-1"] = bytes.fromhex(key)
                    out = await rig.call("ChangeConfiguration", {"key": "AuthorizationKey", "value": key})
                    assert out.payload == {"status": "Accepted"}
                    sent = clock.monotonic()
                    while rig.client.connections == before or not rig.client.connected:
                        await clock.sleep(0.05)
                    gaps.append(clock.monotonic() - sent)
                    await clock.sleep(5)  # six changes within 30 s
                assert max(gaps) < 0.5, gaps  # the failure backoff grows from ~1 s to 10 s and more
                out = await rig.call("GetConfiguration", {"key": ["HeartbeatInterval"]})
                assert out.payload["configurationKey"]
        finally:
            await csms.stop()

    clock.run(main())
