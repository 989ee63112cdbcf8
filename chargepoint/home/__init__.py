"""At home: the SmartEVSE-compatible REST API, MQTT with Home Assistant discovery, the live status
page, Prometheus metrics and the local API's authentication (docs/HOME.md)."""
