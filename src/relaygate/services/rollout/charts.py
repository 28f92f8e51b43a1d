"""SVG charts for the rollout report, written directly (no plotting library): rates, residual traffic, owners.

SVG is text: no matplotlib and its numeric stack to install (the first ``./scripts/run`` stays
quick), the files diff and scale, and any browser or Markdown viewer shows them.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from relaygate.services.rollout.model import REPORT_CLASSES

# The report's files keep English chart text and class codes; the console draws the same charts in its language.
LABELS: dict[str, tuple[str, str]] = {
    "before": ("before ({n} req)", "切换前（{n} 个请求）"),
    "after": ("after latest switch ({n} req)", "最近一次切换后（{n} 个请求）"),
    "all": ("all native periods ({n} req)", "所有原生服务期（{n} 个请求）"),
    "panel": ("{name} ({state}, {n} rollback(s))", "{name}（{state}，回滚 {n} 次）"),
    "error rate": ("error rate", "错误率"), "requests": ("requests", "请求数"),
    "per_day": ("Requests per day by route", "每日请求（按路由）"),
    "native": ("native", "原生"), "legacy": ("legacy (old entry)", "旧入口转发"),
    "direct": ("old entry directly (logs)", "直连旧入口（旧日志）"),
    "owners": ("Owners per batch (green: served natively)", "各批次负责人占比（绿色：已原生服务）"),
    "switched": ("; switched overall {pct:.1f}%", "；总体已切换 {pct:.1f}%"),
    "owner_axis": ("% of imported owners", "占导入负责人的百分比"),
    "timeout": ("timeout", "超时"), "model_not_found": ("model n/f", "模型不存在"),
}


def _l(lang: str, key: str, **values: object) -> str:
    en, zh = LABELS[key]
    return (zh if lang.startswith("zh") else en).format(**values)


COLORS = {"before": "#8da0cb", "after": "#fc8d62", "all": "#fdbf6f", "native": "#66c2a5", "legacy": "#e78ac3",
          "direct": "#a6d854"}
FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'


def _doc(width: float, height: float, parts: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" {FONT} font-size="11">\n'
            f'<rect width="100%" height="100%" fill="white"/>\n' + "\n".join(parts) + "\n</svg>\n")


def _text(x: float, y: float, s: str, size: int = 11, anchor: str = "start", extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{extra}>'
            f"{escape(str(s))}</text>")


def _rect(x: float, y: float, w: float, h: float, color: str, title: str = "") -> str:
    tip = f"<title>{escape(title)}</title>" if title else ""
    return (f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" '
            f'fill="{color}">{tip}</rect>')


def _axis(x0: float, y0: float, w: float, h: float, top: float, label: str, ticks: int = 4,
          unit: str = "") -> list[str]:
    """Horizontal grid lines with values, from 0 (at y0 + h) to ``top`` (at y0)."""
    out = [f'<line x1="{x0}" y1="{y0 + h}" x2="{x0 + w}" y2="{y0 + h}" stroke="#333"/>']
    for i in range(ticks + 1):
        v = top * i / ticks
        y = y0 + h - h * i / ticks
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(_text(x0 - 4, y + 4, f"{v:.3g}{unit}", 9, "end"))
    out.append(_text(x0 - 36, y0 + h / 2, label, 10, "middle",
                     f' transform="rotate(-90 {x0 - 36:.1f} {y0 + h / 2:.1f})"'))
    return out


def _legend(x: float, y: float, items: list[tuple[str, str]]) -> list[str]:
    out = []
    for i, (color, label) in enumerate(items):
        out.append(_rect(x, y + i * 14 - 8, 10, 10, color))
        out.append(_text(x + 14, y + i * 14, label, 9))
    return out


def error_rates(report: dict[str, Any], path: Path) -> Path | None:
    return _write(error_rates_svg(report), path)


def error_rates_svg(report: dict[str, Any], lang: str = "en", states: dict[str, str] | None = None) -> str | None:
    """Per switched batch, the rate of each error class before (legacy baseline) and after the switch."""
    batches = [b for b in report["batches"] if b.get("after")]
    if not batches:
        return None
    classes = (*REPORT_CLASSES, "403", "5xx")
    width, panel = 860.0, 260.0
    left, plot_w, plot_h = 70.0, 560.0, 170.0
    parts: list[str] = []
    for n, b in enumerate(batches):
        top_y = n * panel + 30
        series = (("before", b["before"], _l(lang, "before", n=b["before"]["requests"])),
                  ("after", b["after"], _l(lang, "after", n=b["after"]["requests"])),
                  ("all", b["after_all_switches"], _l(lang, "all", n=b["after_all_switches"]["requests"])))
        values = [[100 * data["rates"][c] for c in classes] for _, data, _ in series]
        top = max(1.0, max(max(v) for v in values) * 1.25)
        state = (states or {}).get(b["state"], b["state"])
        parts.append(_text(left, top_y - 10, _l(lang, "panel", name=b["name"], state=state, n=b["rollbacks"]), 12))
        parts += _axis(left, top_y, plot_w, plot_h, top, _l(lang, "error rate"), unit="%")  # every tick says it is a %
        slot = plot_w / len(classes)
        bar = slot * 0.27
        for ci, cls in enumerate(classes):
            cx = left + slot * ci + slot / 2
            for si, (key, _, label) in enumerate(series):
                v = values[si][ci]
                h = plot_h * v / top
                parts.append(_rect(cx + (si - 1.5) * bar, top_y + plot_h - h, bar, h, COLORS[key],
                                   f"{label}: {_l(lang, cls) if cls in LABELS else cls} {v:.2f}%"))
            parts.append(_text(cx, top_y + plot_h + 14, _l(lang, cls) if cls in LABELS else cls, 9, "middle"))
        parts += _legend(left + plot_w + 16, top_y + 10, [(COLORS[k], label) for k, _, label in series])
    return _doc(width, panel * len(batches) + 10, parts)


def residual_traffic(report: dict[str, Any], path: Path) -> Path | None:
    return _write(residual_traffic_svg(report), path)


def residual_traffic_svg(report: dict[str, Any], lang: str = "en") -> str | None:
    """Requests per day by route: what still reaches the old entry through relaygate."""
    per_day = report["residual"]["per_day"]
    if not per_day:
        return None
    days = list(per_day)
    native = [per_day[d].get("native", 0) for d in days]
    legacy = [per_day[d].get("legacy", 0) for d in days]
    direct = [per_day[d].get("direct", 0) for d in days]  # switched owners' callers on the old URL (old logs)
    left, top_y, plot_w, plot_h = 70.0, 36.0, 620.0, 190.0
    top = max(1.0, max(n + g + d for n, g, d in zip(native, legacy, direct, strict=True)) * 1.1)
    parts = [_text(left, 20, _l(lang, "per_day"), 12)]
    parts += _axis(left, top_y, plot_w, plot_h, top, _l(lang, "requests"))
    slot = plot_w / len(days)
    for i, day in enumerate(days):
        x = left + slot * i + slot * 0.15
        hn, hl = plot_h * native[i] / top, plot_h * legacy[i] / top
        parts.append(_rect(x, top_y + plot_h - hn, slot * 0.7, hn, COLORS["native"],
                           f"{day}: {native[i]} {_l(lang, 'native')}"))
        parts.append(_rect(x, top_y + plot_h - hn - hl, slot * 0.7, hl, COLORS["legacy"],
                           f"{day}: {legacy[i]} {_l(lang, 'legacy')}"))
        if direct[i]:
            hd = plot_h * direct[i] / top
            parts.append(_rect(x, top_y + plot_h - hn - hl - hd, slot * 0.7, hd, COLORS["direct"],
                               f"{day}: {direct[i]} straight to the old entry"))
        cx, cy = x + slot * 0.35, top_y + plot_h + 10
        parts.append(_text(cx, cy, day, 8, "end", f' transform="rotate(-45 {cx:.1f} {cy:.1f})"'))
    parts += _legend(left + plot_w + 14, top_y + 10, [(COLORS["native"], _l(lang, "native")),
                                                       (COLORS["legacy"], _l(lang, "legacy"))]
                     + ([(COLORS["direct"], _l(lang, "direct"))] if any(direct) else []))
    return _doc(860, top_y + plot_h + 70, parts)


def owner_share(report: dict[str, Any], path: Path) -> Path | None:
    return _write(owner_share_svg(report), path)


def owner_share_svg(report: dict[str, Any], lang: str = "en", states: dict[str, str] | None = None) -> str | None:
    """Share of imported owners per batch, coloured by whether they are served natively yet."""
    batches = report["batches"]
    if not batches:
        return None
    left, top_y, plot_w, row = 170.0, 36.0, 560.0, 24.0
    switched = report["legacy"].get("owner_share_switched")
    title = _l(lang, "owners")
    if switched is not None:
        title += _l(lang, "switched", pct=100 * switched)
    parts = [_text(20, 20, title, 12)]
    for i, b in enumerate(batches):
        share = 100 * b["owner_share"]
        y = top_y + i * row
        color = COLORS["native"] if b["state"] in ("switched", "observing", "completed") else COLORS["legacy"]
        parts.append(_text(left - 8, y + row * 0.6, b["name"], 10, "end"))
        w = plot_w * min(share, 110) / 110
        parts.append(_rect(left, y + 3, w, row - 6, color, f"{b['name']}: {share:.1f}%"))
        state = (states or {}).get(b["state"], b["state"])
        parts.append(_text(left + w + 5, y + row * 0.6, f"{share:.1f}% {state}", 9))
    bottom = top_y + len(batches) * row
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{left + plot_w}" y2="{bottom}" stroke="#333"/>')
    for pct in (0, 25, 50, 75, 100):
        x = left + plot_w * pct / 110
        parts.append(_text(x, bottom + 14, str(pct), 9, "middle"))
    parts.append(_text(left + plot_w / 2, bottom + 30, _l(lang, "owner_axis"), 10, "middle"))
    return _doc(860, bottom + 44, parts)


def _write(svg: str | None, path: Path) -> Path | None:
    if svg is None:
        return None
    path.write_text(svg, encoding="utf-8")
    return path


def draw_all(report: dict[str, Any], folder: Path) -> dict[str, str]:
    """Draw every chart into ``folder``; returns name -> file name (relative, for the Markdown)."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, str] = {}
    for name, fn in (("error_rates", error_rates), ("residual_traffic", residual_traffic),
                     ("owner_share", owner_share)):
        path = fn(report, folder / f"{name}.svg")
        if path is not None:
            out[name] = path.name
    return out
