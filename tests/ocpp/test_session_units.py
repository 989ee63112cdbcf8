"""Small parts: RFC 3339 checks, error-code routing, URL/auth header, backoff, clock alignment."""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime

import pytest
from ocpp.exceptions import FormationViolationError, FormatViolationError, TypeConstraintViolationError

from chargepoint.ocpp.connection import Backoff, basic_auth_header, endpoint_url
from chargepoint.ocpp.errors import (
    check_datetimes,
    normalise_error,
    parse_rfc3339,
    unknown_action_error,
)
from chargepoint.ocpp.meter_values import next_aligned


@pytest.mark.parametrize("text", ["2026-01-05T08:00:00Z", "2026-01-05T08:00:00.5+01:00", "2026-01-05t08:00:00z"])
def test_rfc3339_accepts(text):
    assert parse_rfc3339(text).tzinfo is not None


@pytest.mark.parametrize("text", ["not-a-date", "2026-01-05T08:00:00", "2026-01-05 08:00:00Z", "2026-02-30T00:00:00Z",
                                  "", "2026-01-05T25:00:00Z"])
def test_rfc3339_rejects(text):
    with pytest.raises(ValueError):
        parse_rfc3339(text)


def test_check_datetimes_names_nested_field():
    payload = {"csChargingProfiles": {"chargingSchedule": {"startSchedule": "yesterday"}}}
    with pytest.raises(TypeConstraintViolationError) as e:
        check_datetimes(payload)
    assert "csChargingProfiles.chargingSchedule.startSchedule" in e.value.description
    check_datetimes({"expiryDate": "2026-01-05T08:00:00Z", "idTag": "x"})


def test_error_codes():
    assert unknown_action_error("FooBar").code == "NotImplemented"
    assert unknown_action_error("SetChargingProfile").code == "NotSupported"
    e = normalise_error(FormatViolationError(description="x", details={"cause": "c", "ocpp_message": object()}))
    assert isinstance(e, FormationViolationError) and e.details == {"cause": "c"}


def test_unique_id_of_an_unparsable_frame():
    from chargepoint.ocpp.frame_guard import FrameRejected, decode_frame

    for raw, uid in (('[2,"abc","Reset",{', "abc"), ("garbage", None)):
        with pytest.raises(FrameRejected) as info:
            decode_frame(raw)
        assert info.value.unique_id == uid


def test_endpoint_and_basic_auth():
    assert endpoint_url("ws://h:1/ocpp/", "CP 1/ä") == "ws://h:1/ocpp/CP%201%2F%C3%A4"
    key = bytes.fromhex("00ff10")
    header = basic_auth_header("CP1", key)
    assert base64.b64decode(header.split()[1]) == b"CP1:" + key


def test_backoff_grows_caps_and_jitters():
    b = Backoff(1.0, 2.0, 30.0, 0.25, random.Random(1))
    delays = [b.next_delay() for _ in range(10)]
    assert 0.75 <= delays[0] <= 1.25
    assert all(d <= 30 * 1.25 for d in delays) and delays[-1] >= 30 * 0.75
    b.reset()
    assert b.next_delay() <= 1.25


def test_next_aligned():
    now = datetime(2026, 1, 5, 8, 7, 30, tzinfo=UTC)
    assert next_aligned(now, 900) == datetime(2026, 1, 5, 8, 15, tzinfo=UTC)
    assert next_aligned(datetime(2026, 1, 5, 8, 15, tzinfo=UTC), 900) == datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
    assert next_aligned(datetime(2026, 1, 5, 23, 59, tzinfo=UTC), 3600) == datetime(2026, 1, 6, 0, 0, tzinfo=UTC)

