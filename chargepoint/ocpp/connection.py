"""The websocket link to the CSMS: URL, subprotocol check, Basic auth / TLS, reconnect backoff.

``await connect_once(...)`` opens one connection or raises :class:`ConnectError`;
:class:`Backoff` yields the delays of the reconnect loop (exponential, jitter, capped).  Unlike
``websockets``' own retry loop we retry on every refusal, including HTTP 401/403/404 (OCPP-J errata
3.3).  The AuthorizationKey is never logged.
"""

from __future__ import annotations

import base64
import random
import ssl
from dataclasses import dataclass, field
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

SUBPROTOCOL = "ocpp1.6"


class ConnectError(Exception):
    """Connecting failed; ``status`` is the HTTP status when the server refused the upgrade,
    ``tls_problem`` why the CSMS's TLS certificate was refused."""

    def __init__(self, message: str, status: int | None = None, tls_problem: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.tls_problem = tls_problem


def endpoint_url(base: str, cp_id: str) -> str:
    """The CSMS endpoint + "/" + the percent-encoded charge point identity."""
    return base.rstrip("/") + "/" + quote(cp_id, safe="")


def basic_auth_header(cp_id: str, key: bytes) -> str:
    """Authorization header value; ``key`` are the raw password bytes (text key -> its UTF-8)."""
    return "Basic " + base64.b64encode(cp_id.encode() + b":" + key).decode("ascii")


def auth_key_bytes(key_text: str | None, key_hex: str | None) -> bytes | None:
    if key_hex:
        return bytes.fromhex(key_hex)
    if key_text:
        return key_text.encode()
    return None


@dataclass
class LinkSettings:
    url: str  # full endpoint URL (with the identity)
    cp_id: str
    security_profile: int = 0
    auth_key: bytes | None = field(default=None, repr=False)  # never logged
    ca_file: str | None = None
    ca_data: str | None = None  # PEM of installed CentralSystemRootCertificates (security extension)
    client_cert: str | None = None
    client_key: str | None = None
    ping_interval: float | None = None  # None: no client pings
    open_timeout: float = 10.0
    max_size: int = 1 << 20

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.security_profile < 2 and not self.url.startswith("wss://"):
            return None
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file, cadata=self.ca_data)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.security_profile == 3:
            ctx.load_cert_chain(self.client_cert or "", self.client_key)
        return ctx

    def headers(self) -> dict[str, str]:
        if self.security_profile in (1, 2):
            if not self.auth_key:
                raise ConnectError(f"security profile {self.security_profile} needs an AuthorizationKey")
            return {"Authorization": basic_auth_header(self.cp_id, self.auth_key)}
        return {}


async def connect_once(settings: LinkSettings) -> ClientConnection:
    """Open the websocket; the server must agree on ``ocpp1.6``."""
    try:
        ws = await connect(
            settings.url,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            additional_headers=settings.headers(),
            ssl=settings.ssl_context(),
            proxy=None,
            open_timeout=settings.open_timeout,
            ping_interval=settings.ping_interval,
            ping_timeout=settings.ping_interval,
            max_size=settings.max_size,
            compression=None,
            user_agent_header="smartevse-chargepoint",
        )
    except InvalidStatus as e:
        code = e.response.status_code
        raise ConnectError(f"CSMS refused the connection: HTTP {code}{_refusal_hint(code, settings)}", code) from None
    except ssl.SSLCertVerificationError as e:
        problem = f"{e.verify_message} (verify error {e.verify_code})"
        raise ConnectError(f"TLS: the CSMS server certificate was refused (CERTIFICATE_VERIFY_FAILED): {problem}",
                           tls_problem=problem) from None
    except (InvalidHandshake, OSError, TimeoutError, EOFError) as e:
        raise ConnectError(f"connect failed: {type(e).__name__}: {e}") from None
    if ws.subprotocol != SUBPROTOCOL:
        await ws.close(1002, "ocpp1.6 subprotocol required")
        raise ConnectError(f"CSMS did not agree on subprotocol {SUBPROTOCOL} (got {ws.subprotocol!r})")
    return ws


class Backoff:
    """Exponential backoff with jitter: min * factor**n, capped at max, times 1 +- jitter."""

    def __init__(self, minimum: float, factor: float, maximum: float, jitter: float,
                 rng: random.Random | None = None) -> None:
        self.minimum, self.factor, self.maximum, self.jitter = minimum, factor, maximum, jitter
        self.attempt = 0
        self.rng = rng or random.Random()

    def reset(self) -> None:
        self.attempt = 0

    def next_delay(self) -> float:
        base = min(self.maximum, self.minimum * self.factor ** self.attempt)
        self.attempt += 1
        return max(0.0, base * (1 + self.rng.uniform(-self.jitter, self.jitter)))


def _refusal_hint(status: int, settings: LinkSettings) -> str:
    """The likely cause of an HTTP refusal, for the log line (never the key itself)."""
    if status == 401:
        if settings.security_profile in (0, 3):
            return (f" (Unauthorized: security profile {settings.security_profile} sends no password; the CSMS "
                    "wants Basic auth: set security_profile = 1 or 2 and the password)")
        return " (Unauthorized: the CSMS rejected the AuthorizationKey: check the password for this charge point id)"
    if status == 404:
        return " (Not Found: check the csms_url path and the charge point id)"
    return ""
