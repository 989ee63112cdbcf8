"""A small JSON document on disk (the energy settings, the RFID card list): read leniently, written
atomically (temp file + rename)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("store")


class JsonStore:
    """One JSON object in ``path``; ``what`` names it in the log (``<what>_unreadable``)."""

    def __init__(self, path: Path, what: str = "energy_settings") -> None:
        self.path = Path(path)
        self.what = what

    def load(self) -> dict[str, Any]:
        """The object, or {} when the file is missing or unreadable (logged)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            log.warning(f"{self.what}_unreadable", path=str(self.path), error=str(exc))
            return {}
        if not isinstance(data, dict):
            log.warning(f"{self.what}_unreadable", path=str(self.path), error="not a JSON object")
            return {}
        return data

    def save(self, values: Mapping[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(dict(values), indent=2, sort_keys=True), encoding="utf-8")
        tmp.replace(self.path)
