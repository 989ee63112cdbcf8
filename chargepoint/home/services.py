"""The runtime services of the home integrations, in start order (``Runtime.service_factories``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chargepoint.config import Config
from chargepoint.home.hub import HomeHub
from chargepoint.home.metrics import Metrics


def home_service_factories(config: Config) -> list[Callable[[Any], Any]]:
    factories: list[Callable[[Any], Any]] = [HomeHub, Metrics]
    if config.mqtt.host:
        from chargepoint.home.mqtt_bridge import MqttBridge

        factories.append(MqttBridge)
    return factories
