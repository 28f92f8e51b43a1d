"""Render bench/large.sh's key=value results as Markdown: req/s, ratios to the floor, latency, CPU, Redis."""

from __future__ import annotations

import re
import sys

VARIANTS = [("direct", "direct to nginx"), ("floor", "floor (bare Python)"), ("memory", "relaygate"),
            ("redis", "relaygate + Redis"), ("pg1", "PostgreSQL + Redis, 1 worker"),
            ("pg2", "PostgreSQL + Redis, 2 workers")]
SCENARIOS = [("small", "small body, non-stream"), ("stream", "small body, 20-chunk stream"),
             ("chat200k", "200 KB chat completions"), ("claude200k_pass", "200 KB Messages, pass-through"),
             ("claude200k_xlate", "200 KB Messages, translated"), ("big1m", "1 MB answer, non-stream"),
             ("bigstream1m", "1 MB answer, streamed"), ("agent_pass", "Claude Code turn, pass-through"),
             ("agent_xlate", "Claude Code turn, to OpenAI"), ("codex", "Codex /v1/responses turn")]


def main() -> None:
    raw: dict[str, str] = {}
    for line in open(sys.argv[1], encoding="utf-8"):
        if "=" in line:
            k, _, v = line.rstrip("\n").partition("=")
            raw[k] = v

    def field(key: str, name: str) -> float | None:
        m = re.search(rf"\b{name}=([0-9.]+)", raw.get(key + ".result", ""))
        return float(m.group(1)) if m else None

    def ok(key: str) -> bool:
        return "errors=0 non2xx=0" in raw.get(key + ".result", "")

    present = [(v, label) for v, label in VARIANTS if any(k.startswith(v + ".") for k in raw)]
    out = [f"Run of {raw.get('date')} on {raw.get('machine')}, commit `{raw.get('commit')}`; wrk -t1 "
           f"-c{raw.get('conns')} -d{raw.get('duration')}; load average before: {raw.get('loadavg')}.", ""]
    out.append("| scenario (req/s @32) | " + " | ".join(label for _, label in present) + " | relaygate / floor |")
    out.append("|---|" + "---:|" * (len(present) + 1))
    for s, label in SCENARIOS:
        cells = []
        for v, _ in present:
            rps = field(f"{v}.{s}.c32", "rps")
            cells.append("—" if rps is None else (f"{rps:,.0f}" if ok(f"{v}.{s}.c32") else f"failed ({rps:,.0f})"))
        floor, mine = field(f"floor.{s}.c32", "rps"), field(f"memory.{s}.c32", "rps")
        ratio = f"{100 * mine / floor:.0f}%" if floor and mine else "—"
        out.append(f"| {label} | " + " | ".join(cells) + f" | {ratio} |")
    out += ["", "| at 1 connection: p50 ms (added to direct) | " + " | ".join(label for _, label in present) + " |",
            "|---|" + "---:|" * len(present)]
    for s, label in SCENARIOS:
        if f"direct.{s}.c1.result" not in raw and f"memory.{s}.c1.result" not in raw:
            continue
        base = field(f"direct.{s}.c1", "p50_ms")
        cells = []
        for v, _ in present:
            p50 = field(f"{v}.{s}.c1", "p50_ms")
            if p50 is None:
                cells.append("—")
            elif base is None or v == "direct":
                cells.append(f"{p50:.2f}")
            else:
                cells.append(f"{p50:.2f} (+{p50 - base:.2f})")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    ttfb_rows = [(s, label) for s, label in SCENARIOS if any(f"{v}.{s}.ttfb" in raw for v, _ in present)]
    if ttfb_rows:
        out += ["", "| time to first byte, p50 ms at 1 connection (added to direct) | " +
                " | ".join(label for _, label in present) + " |", "|---|" + "---:|" * len(present)]
        for s, label in ttfb_rows:
            base = _ttfb(raw.get(f"direct.{s}.ttfb", ""))
            cells = []
            for v, _ in present:
                t = _ttfb(raw.get(f"{v}.{s}.ttfb", ""))
                cells.append("—" if t is None else f"{t:.2f}" if base is None or v == "direct"
                             else f"{t:.2f} (+{t - base:.2f})")
            out.append(f"| {label} | " + " | ".join(cells) + " |")
    out += ["", "| CPU µs per request @32 (utime+stime / requests) | " +
            " | ".join(label for v, label in present if v != "direct") + " |",
            "|---|" + "---:|" * len([v for v, _ in present if v != "direct"])]
    for s, label in SCENARIOS:
        cells = [raw.get(f"{v}.{s}.c32.cpu_us", "—") for v, _ in present if v != "direct"]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out += ["", "| Redis round trips (script calls) per request, @32 · @1; in brackets the commands Redis "
            "ran per request, those inside the scripts included | redis | pg1 | pg2 |", "|---|---:|---:|---:|"]
    for s, label in SCENARIOS:
        cells = []
        for v in ("redis", "pg1", "pg2"):
            parts = []
            for c in ("c32", "c1"):
                n = int(raw.get(f"{v}.{s}.{c}.requests", "0") or 0)
                if n and f"{v}.{s}.{c}.redis_scripts" in raw:
                    parts.append(f"{int(raw[f'{v}.{s}.{c}.redis_scripts']) / n:.2f} "
                                 f"({int(raw[f'{v}.{s}.{c}.redis_cmds']) / n:.0f})")
            cells.append(" · ".join(parts) or "—")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    rss = [f"{label}: {raw[v + '.rss_mb']} MB" for v, label in present if v + ".rss_mb" in raw]
    out += ["", "Peak RSS over all scenarios (VmHWM, workers included): " + "; ".join(rss) + "."]
    m, r = field("memory.small.c32", "rps"), field("redis.small.c32", "rps")
    if m and r:
        out.append(f"Redis vs memory counters, small bodies @32: {100 * r / m:.0f}%.")
    p1, p2 = field("pg1.small.c32", "rps"), field("pg2.small.c32", "rps")
    if p1 and p2:
        out.append(f"--workers 2 vs 1 on PostgreSQL + Redis, small bodies @32, both on core 1: {p2 / p1:.2f}x.")
    print("\n".join(out))


def _ttfb(cell: str) -> float | None:
    m = re.search(r"ttfb_p50_ms=([0-9.]+)", cell)
    return float(m.group(1)) if m else None


if __name__ == "__main__":
    main()
