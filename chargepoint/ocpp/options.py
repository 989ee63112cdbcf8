"""Options of the OCPP client (from the runtime's configuration file / command line)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class OcppOptions:
    csms_url: str
    cp_id: str
    #: AuthorizationKey as text (used as UTF-8 bytes) or as hex (raw bytes, security whitepaper).
    password: str | None = None
    password_hex: str | None = None
    security_profile: int = 0  # 0: none, 1: Basic, 2: TLS + Basic, 3: TLS client certificate
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    vendor: str = "SmartEVSE"
    model: str = "SmartEVSE-OCPP"
    serial: str | None = None
    firmware: str | None = None
    connectors: int = 1
    #: reconnect backoff (seconds): first delay, factor, cap; +-jitter fraction
    reconnect_min_s: float = 1.0
    reconnect_factor: float = 2.0
    reconnect_max_s: float = 60.0
    reconnect_jitter: float = 0.25
    open_timeout_s: float = 10.0
    max_frame_bytes: int = 1 << 20
    #: own delay before retrying BootNotification when the CSMS answers interval 0 / fails
    boot_retry_s: float = 60.0
    #: initial values of configuration keys (applied unless the key was changed and persisted)
    config: dict[str, str] | None = None
    #: the charger's own RFID reader decides access (``[rfid] mode`` enable_all / enable_one): card
    #: swipes are not sent to Authorize; the reader calls ``TransactionManager.local_access``
    local_card_reader: bool = False

    def validate(self) -> None:
        if not self.csms_url.startswith(("ws://", "wss://")):
            raise ValueError(f"csms_url must start with ws:// or wss://, got {self.csms_url!r}")
        if not self.cp_id:
            raise ValueError("cp_id must not be empty")
        if self.security_profile not in (0, 1, 2, 3):
            raise ValueError(f"security_profile must be 0..3, got {self.security_profile}")
        if self.security_profile in (2, 3) and not self.csms_url.startswith("wss://"):
            raise ValueError(f"security_profile {self.security_profile} needs a wss:// csms_url")
        if self.security_profile == 3 and not (self.client_cert and self.client_key):
            raise ValueError("security_profile 3 needs client_cert and client_key")
        if self.password is not None and self.password_hex is not None:
            raise ValueError("give either password or password_hex, not both")
        if self.password_hex is not None:
            try:
                bytes.fromhex(self.password_hex)
            except ValueError as e:
                raise ValueError(f"password_hex is not hex: {e}") from None
        if self.connectors < 1:
            raise ValueError("connectors must be >= 1")
