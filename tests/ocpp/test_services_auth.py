"""AuthorizationService against a real SQLite store and the real config-key registry.

The CSMS side of Authorize is the ``request`` callable the service is given (in production the
outbox); here it is a small answering function that records what was asked.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chargepoint.clock import VirtualClock
from chargepoint.ocpp.auth import AuthInputError, AuthorizationService, format_rfc3339
from chargepoint.ocpp.config_keys import ConfigKeys
from chargepoint.ocpp.store import Store


class Csms:
    """Answers Authorize.req from a table; raises (like an offline outbox) for ``down``."""

    def __init__(self, answers: dict[str, dict[str, Any]] | None = None) -> None:
        self.answers = answers or {}
        self.asked: list[str] = []
        self.down = False

    async def request(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert action == "Authorize"
        self.asked.append(payload["idTag"])
        if self.down:
            raise ConnectionError("offline")
        return {"idTagInfo": self.answers.get(payload["idTag"], {"status": "Invalid"})}


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def store(tmp_path):
    s = Store.connect(tmp_path)
    yield s
    s.close()


def make(clock, store, csms=None, online=True, **overrides):
    keys = ConfigKeys(store.db, overrides=overrides)
    svc = AuthorizationService(
        clock, store.db, keys, csms.request if csms else None, online=lambda: online, cache_max_entries=3
    )
    return svc, keys


def entry(tag: str, status: str = "Accepted", **info: Any) -> dict[str, Any]:
    return {"idTag": tag, "idTagInfo": {"status": status, **info}}


# ------------------------------------------------------------------ local list


def test_full_and_differential_updates_with_versions(clock, store):
    svc, _ = make(clock, store)
    assert svc.list_version() == 0
    assert svc.send_local_list(2, "Full", [entry("A"), entry("B", "Blocked")]) == "Accepted"
    assert svc.list_version() == 2
    assert svc.local_entry("B").status == "Blocked"
    # differential: add C, remove A (entry without idTagInfo)
    assert svc.send_local_list(5, "Differential", [entry("C"), {"idTag": "A"}]) == "Accepted"
    assert svc.list_version() == 5
    assert svc.local_entry("A") is None and svc.local_entry("C") is not None
    # differential with a version not above the current one
    assert svc.send_local_list(5, "Differential", [entry("D")]) == "VersionMismatch"
    assert svc.send_local_list(4, "Differential", [entry("D")]) == "VersionMismatch"
    assert svc.local_entry("D") is None
    # full replaces everything regardless of version
    assert svc.send_local_list(3, "Full", [entry("Z")]) == "Accepted"
    assert svc.list_version() == 3
    assert svc.local_list_size() == 1


def test_reserved_versions_and_limits_fail(clock, store):
    svc, keys = make(clock, store)
    assert svc.send_local_list(0, "Full", [entry("A")]) == "Failed"
    assert svc.send_local_list(-1, "Full", [entry("A")]) == "Failed"
    max_send = keys.get("SendLocalListMaxLength")
    too_many = [entry(f"T{i}") for i in range(max_send + 1)]
    assert svc.send_local_list(1, "Full", too_many) == "Failed"
    assert svc.send_local_list(1, "Full", [entry("A"), entry("A")]) == "Failed"  # duplicate idTag
    assert svc.send_local_list(1, "Full", [{"idTag": "A"}]) == "Failed"  # Full needs idTagInfo
    assert svc.list_version() == 0


def test_list_max_length_applies_to_the_resulting_list(clock, store):
    svc, keys = make(clock, store)
    keys.set_internal("LocalAuthListMaxLength", 2)
    assert svc.send_local_list(1, "Full", [entry("A"), entry("B")]) == "Accepted"
    assert svc.send_local_list(2, "Differential", [entry("C")]) == "Failed"
    assert svc.send_local_list(2, "Differential", [entry("C"), {"idTag": "A"}]) == "Accepted"


def test_empty_full_list_reports_version_zero(clock, store):
    svc, _ = make(clock, store)
    svc.send_local_list(7, "Full", [entry("A")])
    assert svc.send_local_list(8, "Full", []) == "Accepted"
    assert svc.list_version() == 0


def test_not_supported_without_the_profile(clock, store):
    svc, keys = make(clock, store)
    keys.set_internal("SupportedFeatureProfiles", "Core,Reservation")
    assert svc.list_version() == -1
    assert svc.send_local_list(1, "Full", [entry("A")]) == "NotSupported"


def test_malformed_entries_name_the_field(clock, store):
    svc, _ = make(clock, store)
    with pytest.raises(AuthInputError) as exc:
        svc.send_local_list(1, "Full", [entry("A", expiryDate="tomorrow")])
    assert exc.value.field == "localAuthorizationList[0].idTagInfo.expiryDate"
    with pytest.raises(AuthInputError) as exc:
        svc.send_local_list(1, "Full", [entry("A"), entry("B", "Sometimes")])
    assert exc.value.field == "localAuthorizationList[1].idTagInfo.status"


def test_local_list_survives_a_restart(clock, tmp_path):
    s1 = Store.connect(tmp_path)
    svc, _ = make(clock, s1)
    svc.send_local_list(9, "Full", [entry("A")])
    s1.close()
    s2 = Store.connect(tmp_path)
    svc2, _ = make(clock, s2)
    assert svc2.list_version() == 9
    assert svc2.local_entry("A").status == "Accepted"
    s2.close()


# ------------------------------------------------------------------ cache


def test_cache_stores_latest_info_and_never_local_list_ids(clock, store):
    svc, _ = make(clock, store)
    svc.send_local_list(1, "Full", [entry("L")])
    svc.update_from_conf("X", {"status": "Accepted"})
    svc.update_from_conf("X", {"status": "Blocked"})
    svc.update_from_conf("L", {"status": "Accepted"})
    assert svc.cache_entry("X").status == "Blocked"
    assert svc.cache_entry("L") is None
    # an id that later joins the local list leaves the cache
    svc.send_local_list(2, "Differential", [entry("X")])
    assert svc.cache_entry("X") is None


def test_cache_disabled_stores_nothing(clock, store):
    svc, keys = make(clock, store)
    assert keys.set("AuthorizationCacheEnabled", "false") == "Accepted"
    svc.update_from_conf("X", {"status": "Accepted"})
    assert svc.cache_size() == 0


def test_expired_entries_are_marked_expired(clock, store):
    svc, _ = make(clock, store)
    soon = clock.now() + timedelta(seconds=10)
    svc.update_from_conf("X", {"status": "Accepted", "expiryDate": format_rfc3339(soon)})
    assert svc.cache_entry("X").status == "Accepted"
    clock.loop.advance(11)
    assert svc.cache_entry("X").status == "Expired"
    row = store.db.execute("SELECT status FROM auth_cache WHERE id_tag='X'").fetchone()
    assert row[0] == "Expired"


def test_eviction_removes_not_valid_first_then_oldest_valid(clock, store):
    svc, _ = make(clock, store)  # cache_max_entries=3
    svc.update_from_conf("V1", {"status": "Accepted"})
    svc.update_from_conf("B1", {"status": "Blocked"})
    svc.update_from_conf("V2", {"status": "Accepted"})
    svc.update_from_conf("V3", {"status": "Accepted"})  # 4 entries: the Blocked one goes
    assert svc.cache_entry("B1") is None
    assert {r[0] for r in store.db.execute("SELECT id_tag FROM auth_cache")} == {"V1", "V2", "V3"}
    svc.update_from_conf("V4", {"status": "Accepted"})  # all valid: the oldest goes
    assert {r[0] for r in store.db.execute("SELECT id_tag FROM auth_cache")} == {"V2", "V3", "V4"}
    svc.update_from_conf("V2", {"status": "Accepted"})  # refreshed: now the newest
    svc.update_from_conf("V5", {"status": "Accepted"})
    assert {r[0] for r in store.db.execute("SELECT id_tag FROM auth_cache")} == {"V2", "V4", "V5"}


def test_clear_cache(clock, store):
    svc, _ = make(clock, store)
    svc.update_from_conf("X", {"status": "Accepted"})
    assert svc.clear_cache() is True
    assert svc.cache_size() == 0


def test_clear_cache_rejected_without_a_cache(clock, store):
    keys = ConfigKeys(store.db)
    svc = AuthorizationService(clock, store.db, keys, None, cache_supported=False)
    assert svc.clear_cache() is False


# ------------------------------------------------------------------ decision


def test_online_asks_the_csms_and_caches_the_answer(store):
    clock = VirtualClock()

    async def main() -> None:
        csms = Csms({"X": {"status": "Accepted", "parentIdTag": "P"}})
        svc, _ = make(clock, store, csms)
        assert (await svc.authorize("X"))["status"] == "Accepted"
        assert csms.asked == ["X"]
        assert svc.cache_entry("X").parent_id_tag == "P"
        # without LocalPreAuthorize the CSMS is asked again
        await svc.authorize("X")
        assert csms.asked == ["X", "X"]

    clock.run(main())


def test_local_pre_authorize_uses_valid_local_entries(store):
    clock = VirtualClock()

    async def main() -> None:
        csms = Csms({"L": {"status": "Accepted"}, "B": {"status": "Accepted"}})
        svc, _ = make(clock, store, csms, LocalPreAuthorize=True)
        svc.send_local_list(1, "Full", [entry("L"), entry("B", "Blocked")])
        assert (await svc.authorize("L"))["status"] == "Accepted"
        assert csms.asked == []
        # a listed but blocked id is not pre-authorised: the CSMS decides (and the conflict is seen)
        assert (await svc.authorize("B"))["status"] == "Accepted"
        assert csms.asked == ["B"]
        assert [c[0] for c in svc.conflicts] == ["B"]

    clock.run(main())


def test_offline_rules(store):
    clock = VirtualClock()

    async def main() -> None:
        csms = Csms()
        csms.down = True
        svc, keys = make(clock, store, csms, online=False)
        past = format_rfc3339(clock.now() - timedelta(hours=1))
        svc.send_local_list(1, "Full", [entry("OK"), entry("BLK", "Blocked"), entry("OLD", expiryDate=past)])
        svc.update_from_conf("CACHED", {"status": "Accepted"})
        assert (await svc.authorize("OK"))["status"] == "Accepted"
        assert (await svc.authorize("BLK"))["status"] == "Blocked"
        assert (await svc.authorize("OLD"))["status"] == "Expired"
        assert (await svc.authorize("CACHED"))["status"] == "Accepted"
        assert (await svc.authorize("NOBODY"))["status"] == "Invalid"
        assert csms.asked == []  # offline: nobody is asked
        keys.set("AllowOfflineTxForUnknownId", "true")
        assert (await svc.authorize("NOBODY"))["status"] == "Accepted"
        assert (await svc.authorize("BLK"))["status"] == "Blocked"  # listed non-Accepted stays refused
        keys.set("LocalAuthorizeOffline", "false")
        assert (await svc.authorize("OK"))["status"] == "Invalid"

    clock.run(main())


def test_failed_request_falls_back_to_offline_rules(store):
    clock = VirtualClock()

    async def main() -> None:
        csms = Csms()
        csms.down = True
        svc, _ = make(clock, store, csms, online=True)
        svc.update_from_conf("CACHED", {"status": "Accepted"})
        assert (await svc.authorize("CACHED"))["status"] == "Accepted"
        assert csms.asked == ["CACHED"]

    clock.run(main())


def test_conflict_hook_called_when_csms_disagrees_with_list(clock, store):
    seen: list[tuple[str, dict, dict]] = []
    keys = ConfigKeys(store.db)
    svc = AuthorizationService(clock, store.db, keys, None, on_conflict=lambda *a: seen.append(a))
    svc.send_local_list(1, "Full", [entry("L")])
    svc.update_from_conf("L", {"status": "Accepted"})
    assert seen == []
    svc.update_from_conf("L", {"status": "Blocked"})
    assert seen == [("L", {"status": "Accepted"}, {"status": "Blocked"})]


def test_parent_id_tag_rules_for_stopping(store):
    clock = VirtualClock()

    async def main() -> None:
        csms = Csms({"SIB": {"status": "Accepted", "parentIdTag": "FAM"}, "OUT": {"status": "Accepted"}})
        svc, _ = make(clock, store, csms)
        svc.send_local_list(1, "Full", [entry("START", parentIdTag="FAM")])
        assert await svc.may_stop("START", "START") is True
        assert await svc.may_stop("START", "SIB") is True  # parent learnt with Authorize
        assert csms.asked == ["SIB"]
        assert await svc.may_stop("START", "OUT") is False
        assert await svc.may_stop("NOPARENT", "SIB", started_parent=None) is False
        assert await svc.may_stop("ANY", "SIB", started_parent="FAM") is True

    clock.run(main())
