"""Per-charge-point CSMS latencies at the end of a run: JSON (summary + samples) or CSV (one row per sample)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from chargepoint.fleet.member import Member


def latency_rows(members: Iterable[Member]) -> list[dict[str, Any]]:
    return [{"id": m.cp_id, "group": m.spec.group, **m.latency.summary(),
             "samples": [{"action": a, "ms": round(ms, 3)} for a, ms in m.latency.items()]} for m in members]


def export_latencies(members: Iterable[Member], path: str | Path, summary: dict[str, Any] | None = None) -> Path:
    """Write ``path`` as JSON (``.json``) or CSV (anything else: id, group, action, ms)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    rows = latency_rows(members)
    if p.suffix == ".json":
        p.write_text(json.dumps({"summary": summary or {}, "chargepoints": rows}, indent=1))
        return p
    with p.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "group", "action", "ms"])
        for row in rows:
            for sample in row["samples"]:
                writer.writerow([row["id"], row["group"], sample["action"], sample["ms"]])
    return p
