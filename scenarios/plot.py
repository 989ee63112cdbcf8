"""``--plot FILE.png|svg``: offered current, actual current, the smart-charging limit and power over time.

matplotlib is an optional extra (``pip install 'smartevse-chargepoint[plot]'``); without it
:class:`PlotUnavailable` says so.
"""

from __future__ import annotations

from pathlib import Path

from scenarios.runner import RunResult, Sample

FORMATS = (".png", ".svg")


class PlotUnavailable(RuntimeError):
    pass


def _steps(samples: list[Sample], end: float, value: str) -> tuple[list[float], list[float]]:
    """Step-wise series (each value holds until the next sample); None limits drawn as gaps."""
    xs: list[float] = []
    ys: list[float] = []
    for s in samples:
        xs.append(s.t)
        v = getattr(s, value)
        ys.append(float("nan") if v is None else v)
    if xs:
        xs.append(end)
        ys.append(ys[-1])
    return xs, ys


def plot_run(run: RunResult, path: str | Path) -> Path:
    p = Path(path)
    if p.suffix.lower() not in FORMATS:
        raise ValueError(f"--plot {p}: the file must end in .png or .svg")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable(
            "plotting needs matplotlib: pip install 'smartevse-chargepoint[plot]' (or pip install matplotlib)"
        ) from None
    end = max(run.virtual_s, run.scenario.duration)
    connectors = sorted({s.connector for s in run.samples}) or [1]
    hours = end >= 3 * 3600
    scale = 3600.0 if hours else 1.0
    fig, axes = plt.subplots(len(connectors), 1, figsize=(10, 3.6 * len(connectors)), squeeze=False)
    for ax, n in zip(axes[:, 0], connectors, strict=True):
        samples = [s for s in run.samples if s.connector == n]
        for value, label, style in (("offered_a", "offered (A)", "-"), ("actual_a", "actual (A)", "-"),
                                    ("limit_a", "smart-charging limit (A)", "--")):
            xs, ys = _steps(samples, end, value)
            ax.step([x / scale for x in xs], ys, where="post", linestyle=style, label=label)
        ax.set_ylabel("A per phase")
        ax.set_title(f"{run.scenario.name} - connector {n}")
        ax.grid(True, alpha=0.3)
        power = ax.twinx()
        xs, ys = _steps(samples, end, "power_w")
        power.step([x / scale for x in xs], [y / 1000.0 for y in ys], where="post", color="tab:red", alpha=0.5,
                   label="power (kW)")
        power.set_ylabel("kW")
        lines, labels = ax.get_legend_handles_labels()
        l2, lb2 = power.get_legend_handles_labels()
        ax.legend(lines + l2, labels + lb2, loc="upper right", fontsize="small")
        ax.set_xlabel("hours" if hours else "seconds")
    fig.tight_layout()
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p)
    plt.close(fig)
    return p
