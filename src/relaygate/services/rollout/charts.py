"""PNG charts for the rollout report, drawn headless with matplotlib (Agg): rates, residual traffic, owners."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from relaygate.services.rollout.model import REPORT_CLASSES

# Chart text stays in English and class codes: the container has no CJK font, and a chart with
# missing glyphs is worse than one in English. The Markdown around each chart is translated.
COLORS = {"before": "#8da0cb", "after": "#fc8d62", "all": "#fdbf6f", "native": "#66c2a5", "legacy": "#e78ac3"}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def error_rates(report: dict[str, Any], path: Path) -> Path | None:
    """Per switched batch, the rate of each error class before (legacy baseline) and after the switch."""
    batches = [b for b in report["batches"] if b.get("after")]
    if not batches:
        return None
    plt = _plt()
    classes = (*REPORT_CLASSES, "403", "5xx")
    fig, axes = plt.subplots(len(batches), 1, figsize=(8.5, 2.8 * len(batches)), squeeze=False)
    width = 0.27
    for ax, b in zip(axes[:, 0], batches, strict=True):
        xs = list(range(len(classes)))
        series = (("before", b["before"], f"before ({b['before']['requests']} req)"),
                  ("after", b["after"], f"after latest switch ({b['after']['requests']} req)"),
                  ("all", b["after_all_switches"], f"all native periods ({b['after_all_switches']['requests']} req)"))
        top = 0.0
        for i, (key, data, label) in enumerate(series):
            values = [100 * data["rates"][c] for c in classes]
            top = max(top, *values)
            ax.bar([x + (i - 1) * width for x in xs], values, width, label=label, color=COLORS[key])
        ax.set_ylim(0, max(1.0, top * 1.25))
        ax.set_xticks(xs, [c.replace("model_not_found", "model n/f") for c in classes])
        ax.set_ylabel("% of requests")
        ax.set_title(f"{b['name']} ({b['state']}, {b['rollbacks']} rollback(s))", fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def residual_traffic(report: dict[str, Any], path: Path) -> Path | None:
    """Requests per day by route: what still reaches the old entry through relaygate."""
    per_day = report["residual"]["per_day"]
    if not per_day:
        return None
    plt = _plt()
    days = list(per_day)
    native = [per_day[d].get("native", 0) for d in days]
    legacy = [per_day[d].get("legacy", 0) for d in days]
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar(days, native, label="native", color=COLORS["native"])
    ax.bar(days, legacy, bottom=native, label="legacy (old entry)", color=COLORS["legacy"])
    ax.set_ylabel("requests")
    ax.set_title("Requests per day by route", fontsize=10)
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def owner_share(report: dict[str, Any], path: Path) -> Path | None:
    """Share of imported owners per batch, coloured by whether they are served natively yet."""
    batches = report["batches"]
    if not batches:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(batches) + 1.2))
    names = [b["name"] for b in batches]
    shares = [100 * b["owner_share"] for b in batches]
    colors = [COLORS["native"] if b["state"] in ("switched", "observing", "completed") else COLORS["legacy"]
              for b in batches]
    ax.barh(names, shares, color=colors)
    for y, (share, b) in enumerate(zip(shares, batches, strict=True)):
        ax.text(share + 0.5, y, f"{share:.1f}% {b['state']}", va="center", fontsize=8)
    switched = report["legacy"].get("owner_share_switched")
    title = "Owners per batch (green: served natively)"
    if switched is not None:
        title += f"; switched overall {100 * switched:.1f}%"
    ax.set_title(title, fontsize=10)
    ax.set_xlim(0, 110)
    ax.set_xlabel("% of imported owners")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def draw_all(report: dict[str, Any], folder: Path) -> dict[str, str]:
    """Draw every chart into ``folder``; returns name -> file name (relative, for the Markdown)."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, str] = {}
    for name, fn in (("error_rates", error_rates), ("residual_traffic", residual_traffic),
                     ("owner_share", owner_share)):
        path = fn(report, folder / f"{name}.png")
        if path is not None:
            out[name] = path.name
    return out
