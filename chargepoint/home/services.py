"""The runtime services of the home integrations, in start order (``Runtime.service_factories``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chargepoint.config import Config
from chargepoint.home.hub import HomeHub
from chargepoint.home.metrics import Metrics


def home_service_factories(config: Config) -> list[Callable[[Any], Any]]:
    """None without a reader: with the local HTTP API off and no MQTT broker nobody can see the home
    tools (REST, status page, /metrics, MQTT), and the hub's chart sampler would only cost CPU."""
    if not config.http.listen and not config.mqtt.host:
        return []
    factories: list[Callable[[Any], Any]] = [HomeHub, Metrics]
    if config.mqtt.host:
        from chargepoint.home.mqtt_bridge import MqttBridge

        factories.append(MqttBridge)
    return factories
