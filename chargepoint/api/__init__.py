"""The charge point's local HTTP API (aiohttp)."""

from chargepoint.api.app import LocalApi, create_app

__all__ = ["LocalApi", "create_app"]
