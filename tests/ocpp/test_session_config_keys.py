"""Configuration keys: types, access, ranges, CSL lists, persistence (OCPP 1.6 §9, errata)."""

from __future__ import annotations

from chargepoint.ocpp.config_keys import ConfigKeys, default_definitions
from chargepoint.ocpp.store import Store


def keys_in(tmp_path, connectors: int = 2) -> tuple[Store, ConfigKeys]:
    store = Store.connect(tmp_path)
    return store, ConfigKeys(store.db, default_definitions(connectors))


def test_all_required_core_keys_present(tmp_path):
    _, keys = keys_in(tmp_path)
    required = """AllowOfflineTxForUnknownId AuthorizationCacheEnabled AuthorizeRemoteTxRequests BlinkRepeat
    ClockAlignedDataInterval ConnectionTimeOut ConnectorPhaseRotation ConnectorPhaseRotationMaxLength
    GetConfigurationMaxKeys HeartbeatInterval LightIntensity LocalAuthorizeOffline LocalPreAuthorize
    MaxEnergyOnInvalidId MeterValuesAlignedData MeterValuesAlignedDataMaxLength MeterValuesSampledData
    MeterValuesSampledDataMaxLength MeterValueSampleInterval MinimumStatusDuration NumberOfConnectors ResetRetries
    StopTransactionOnEVSideDisconnect StopTransactionOnInvalidId StopTxnAlignedData StopTxnAlignedDataMaxLength
    StopTxnSampledData StopTxnSampledDataMaxLength SupportedFeatureProfiles SupportedFeatureProfilesMaxLength
    TransactionMessageAttempts TransactionMessageRetryInterval UnlockConnectorOnEVSideDisconnect
    WebSocketPingInterval LocalAuthListEnabled LocalAuthListMaxLength SendLocalListMaxLength
    ReserveConnectorZeroSupported ChargeProfileMaxStackLevel ChargingScheduleAllowedChargingRateUnit
    ChargingScheduleMaxPeriods MaxChargingProfilesInstalled ConnectorSwitch3to1PhaseSupported MessageTimeout
    StopTransactionMaxMeterValues SupportedFileTransferProtocols AuthorizationKey SecurityProfile""".split()
    missing = [k for k in required if not keys.known(k)]
    assert missing == []
    assert keys.get("NumberOfConnectors") == 2


def test_change_statuses(tmp_path):
    _, keys = keys_in(tmp_path)
    assert keys.set("HeartbeatInterval", "120") == "Accepted"
    assert keys.get("HeartbeatInterval") == 120
    assert keys.set("HeartbeatInterval", "abc") == "Rejected"
    assert keys.set("HeartbeatInterval", "-5") == "Rejected"
    assert keys.set("NumberOfConnectors", "3") == "Rejected"  # read-only
    assert keys.set("NoSuchKey", "1") == "NotSupported"
    assert keys.set("WebSocketPingInterval", "-1") == "Rejected"
    assert keys.set("WebSocketPingInterval", "0") == "Accepted"
    assert keys.set("StopTransactionOnInvalidId", "maybe") == "Rejected"
    assert keys.set("StopTransactionOnInvalidId", "FALSE") == "Accepted"
    assert keys.get("StopTransactionOnInvalidId") is False


def test_measurand_list_rejected_without_partial_change(tmp_path):
    _, keys = keys_in(tmp_path)
    before = keys.get("MeterValuesSampledData")
    assert keys.set("MeterValuesSampledData", "Energy.Active.Import.Register,Power.Reactive.Import") == "Rejected"
    assert keys.get("MeterValuesSampledData") == before
    assert keys.set("MeterValuesSampledData", "Energy.Active.Import.Register, Current.Offered") == "Accepted"
    assert keys.get("MeterValuesSampledData") == ["Energy.Active.Import.Register", "Current.Offered"]
    assert keys.set("StopTxnSampledData", "") == "Accepted"
    assert keys.get("StopTxnSampledData") == []


def test_authorization_key_write_only_and_get_configuration(tmp_path):
    _, keys = keys_in(tmp_path)
    assert keys.set("AuthorizationKey", "00112233") == "Rejected"  # too short (< 16 bytes)
    assert keys.set("AuthorizationKey", "00112233445566778899aabbccddeeff") == "Accepted"
    entries, unknown = keys.configuration(None)
    names = {e["key"] for e in entries}
    assert "AuthorizationKey" not in names and "HeartbeatInterval" in names
    entries, unknown = keys.configuration(["AuthorizationKey", "HeartbeatInterval", "Bogus"])
    assert [e["key"] for e in entries] == ["HeartbeatInterval"]
    assert unknown == ["AuthorizationKey", "Bogus"]
    assert entries[0]["readonly"] is False and isinstance(entries[0]["value"], str)


def test_security_profile_no_downgrade(tmp_path):
    _, keys = keys_in(tmp_path)
    keys.set_internal("SecurityProfile", 1)
    assert keys.set("SecurityProfile", "0") == "Rejected"
    keys.security_prerequisites = lambda p: "needs TLS" if p >= 2 else None
    assert keys.set("SecurityProfile", "2") == "Rejected"
    keys.security_prerequisites = lambda p: None
    assert keys.set("SecurityProfile", "2") == "Accepted"


def test_values_persist(tmp_path):
    store, keys = keys_in(tmp_path)
    assert keys.set("MeterValueSampleInterval", "15") == "Accepted"
    assert keys.set("ConnectorPhaseRotation", "0.RST,1.RTS,2.Unknown") == "Accepted"
    assert keys.set("ConnectorPhaseRotation", "1.XYZ") == "Rejected"
    store.close()
    store2 = Store.connect(tmp_path)
    keys2 = ConfigKeys(store2.db, default_definitions(2))
    assert keys2.get("MeterValueSampleInterval") == 15
    assert keys2.get("ConnectorPhaseRotation") == ["0.RST", "1.RTS", "2.Unknown"]


def test_store_kv_and_wal(tmp_path):
    store = Store.connect(tmp_path)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.set_kv("a", "x", {"v": 1})
    assert store.get_kv("a", "x") == {"v": 1}
    assert store.get_kv("a", "missing", 5) == 5
