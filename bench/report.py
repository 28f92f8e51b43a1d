"""Render one benchmark run (the key=value file bench/run.sh writes) as Markdown.

Usage: report.py RESULTS_FILE OUT_MD [DOCS_MD]
Prints the table to stdout, writes the full report (date, machine, commit, targets) to OUT_MD, and,
when DOCS_MD is given, replaces the block between the markers below in that file with the report.
"""

from __future__ import annotations

import sys
from pathlib import Path

START = "<!-- bench:latest:start -->"
END = "<!-- bench:latest:end -->"

ROWS = (("direct", "direct to nginx mock (no gateway)"),
        ("floor", "floor: bare Python pass-through (bench/floor.py)"),
        ("relaygate", "relaygate (1 worker)"),
        ("relaygate_nobill", "relaygate, billing and limits off"),
        ("litellm", "LiteLLM proxy 1.108.11 (master key only, no DB)"))

TARGETS = {"rps": 3000.0, "sps": 1000.0, "added_p50": 1.0, "rss_mb": 150.0}


def load(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def num(r: dict[str, str], key: str) -> float | None:
    try:
        return float(r[key])
    except (KeyError, ValueError):
        return None


def ok(r: dict[str, str], gw: str, run: str) -> bool:
    return r.get(f"{gw}.{run}.status") == "ok"


def cell(r: dict[str, str], gw: str, run: str, fmt: str) -> str:
    """A measured value, or 'failed (why)' when that wrk run had errors / non-2xx / did not run."""
    status = r.get(f"{gw}.{run}.status")
    if status is None:
        return "—"
    if status != "ok":
        return f"failed ({status})"
    return fmt


def row(r: dict[str, str], gw: str, label: str) -> str:
    skipped = r.get(f"{gw}.skipped")
    if skipped:
        return f"| {label} | not measured ({skipped}) | | | | |"
    rps = num(r, f"{gw}.plain32.rps")
    sps = num(r, f"{gw}.stream32.rps")
    p50, p99 = num(r, f"{gw}.plain32.p50"), num(r, f"{gw}.plain32.p99")
    c_rps = cell(r, gw, "plain32", f"{rps:,.0f}" if rps is not None else "")
    c_sps = cell(r, gw, "stream32", f"{sps:,.0f}" if sps is not None else "")
    c_lat = cell(r, gw, "plain32", f"{p50:.2f} / {p99:.2f}" if p50 is not None and p99 is not None else "")
    if gw == "direct":
        c_added = "0 (baseline: {:.3f} / {:.3f})".format(num(r, "direct.plain1.p50") or 0,
                                                          num(r, "direct.plain1.p99") or 0) \
            if ok(r, gw, "plain1") else cell(r, gw, "plain1", "")
        c_rss = "— (nginx)"
    else:
        added = added_latency(r, gw)
        c_added = cell(r, gw, "plain1", f"{added[0]:.3f} / {added[1]:.3f}" if added else "")
        if added is None and ok(r, gw, "plain1"):
            c_added = "failed (direct baseline failed)"
        rss = num(r, f"{gw}.rss_mb")
        c_rss = f"{rss:.0f}" if rss is not None else "—"
    return f"| {label} | {c_rps} | {c_sps} | {c_lat} | {c_added} | {c_rss} |"


def added_latency(r: dict[str, str], gw: str) -> tuple[float, float] | None:
    if not (ok(r, gw, "plain1") and ok(r, "direct", "plain1")):
        return None
    return (num(r, f"{gw}.plain1.p50") - num(r, "direct.plain1.p50"),  # type: ignore[operator]
            num(r, f"{gw}.plain1.p99") - num(r, "direct.plain1.p99"))  # type: ignore[operator]


def present(r: dict[str, str], gw: str) -> bool:
    return gw in ("direct", "relaygate", "litellm") or any(k.startswith(gw + ".") for k in r)


def table(r: dict[str, str]) -> str:
    head = ("| gateway | non-stream req/s | streams/s | p50/p99 ms @32 | added p50/p99 ms @1 | peak RSS MB |\n"
            "|---|---:|---:|---:|---:|---:|")
    return "\n".join([head] + [row(r, gw, label) for gw, label in ROWS if present(r, gw)])


def verdicts(r: dict[str, str]) -> list[tuple[str, str, str]]:
    """(target, measured, met?) for relaygate."""
    gw = "relaygate"
    out = []
    rps = num(r, f"{gw}.plain32.rps") if ok(r, gw, "plain32") else None
    out.append(("≥ 3,000 non-stream req/s @32", f"{rps:,.0f}" if rps is not None else "failed",
                _met(rps is not None and rps >= TARGETS["rps"])))
    sps = num(r, f"{gw}.stream32.rps") if ok(r, gw, "stream32") else None
    out.append(("≥ 1,000 streams/s @32", f"{sps:,.0f}" if sps is not None else "failed",
                _met(sps is not None and sps >= TARGETS["sps"])))
    added = added_latency(r, gw)
    out.append(("≤ 1 ms added p50 @1", f"{added[0]:.3f} ms" if added else "failed",
                _met(added is not None and added[0] <= TARGETS["added_p50"])))
    rss = num(r, f"{gw}.rss_mb")
    out.append(("peak RSS < 150 MB", f"{rss:.0f} MB" if rss is not None else "not read",
                _met(rss is not None and rss < TARGETS["rss_mb"])))
    return out


def _met(yes: bool) -> str:
    return "met" if yes else "**missed**"


def translation_table(r: dict[str, str]) -> str:
    """Anthropic callers: pass-through to an Anthropic upstream vs translated to an OpenAI upstream."""
    if not (ok(r, "relaygate", "anth_pass32") and ok(r, "relaygate", "anth_xlate32")):
        return ""
    passed, xlated = num(r, "relaygate.anth_pass32.rps"), num(r, "relaygate.anth_xlate32.rps")
    assert passed is not None and xlated is not None
    cost = 1 - xlated / passed
    lines = ["| Anthropic caller (/v1/messages, non-stream @32) | req/s | p50/p99 ms |", "|---|---:|---:|"]
    for run, label in (("anth_pass32", "to an Anthropic upstream (bytes pass through)"),
                       ("anth_xlate32", "to an OpenAI upstream (translated both ways)")):
        rps, p50, p99 = (num(r, f"relaygate.{run}.{k}") for k in ("rps", "p50", "p99"))
        lines.append(f"| {label} | {rps:,.0f} | {p50:.2f} / {p99:.2f} |")
    verdict = "met" if cost <= 0.30 else "**missed**"
    lines += ["", f"Translation costs {cost:.1%} of pass-through throughput (target: at most 30%): {verdict}."]
    return "\n".join(lines)


def report(r: dict[str, str]) -> str:
    lines = [
        f"Run of {r.get('date', '?')} on {r.get('machine', '?')}, relaygate commit `{r.get('commit', '?')}`.",
        f"wrk {r.get('wrk_args', '')}; load average before the run: {r.get('loadavg', '?')}.",
        "",
        table(r),
        "",
        translation_table(r),
        "",
        f"relaygate ran with: {r.get('relaygate.features', '?')}; SQLite in a temp dir; one uvicorn "
        "worker pinned to core 1.",
        "",
        "Targets for relaygate (one uvicorn worker on one core):",
        "",
        "| target | measured | |",
        "|---|---:|---|",
    ]
    lines += [f"| {t} | {m} | {v} |" for t, m, v in verdicts(r)]
    met = [t for t, _, v in verdicts(r) if v == "met"]
    missed = [t for t, _, v in verdicts(r) if v != "met"]
    lines += ["", f"Met: {', '.join(met) or 'none'}. Missed: {', '.join(missed) or 'none'}."]
    for gw, label in ROWS:
        if f"{gw}.usage_rows" not in r:
            continue
        ledger = r.get(f"{gw}.ledger_rows", "-")
        ledger_text = f", {ledger} ledger entries" if ledger not in ("-", "") else ""
        lines += ["", f"{label}: usage records after a graceful stop (SIGTERM): {r[f'{gw}.usage_rows']} rows"
                  f"{ledger_text} (status counts: {r.get(f'{gw}.usage_by_status', '?')}) for "
                  f"{r.get(f'{gw}.wrk_requests', '?')} requests reported by wrk and the prechecks "
                  f"({r.get(f'{gw}.usage_check', '?')})."]
    cond = conditions(r)
    if cond:
        lines += ["", "Core 1 (the gateway's core) during each counted run, as a share of its time: the "
                  "gateway's own CPU / other processes'. Others above 10% mean the machine was shared "
                  "and that row reads low.", "", *cond]
    for gw, _ in ROWS:
        for key in sorted(k for k in r if k.startswith(f"{gw}.") and k.endswith(".note")):
            lines.append(f"- {gw}: {r[key]}")
    ratios = []
    for gw in ("relaygate", "relaygate_nobill", "litellm"):
        if ok(r, gw, "plain32") and ok(r, "direct", "plain32"):
            ratios.append(f"{gw} non-stream = {num(r, f'{gw}.plain32.rps') / num(r, 'direct.plain32.rps'):.1%}"  # type: ignore[operator]
                          " of direct")
    for run, what in (("plain32", "non-stream"), ("stream32", "streams")):
        if ok(r, "relaygate", run) and ok(r, "floor", run):
            ratios.append(f"relaygate {what} = {num(r, f'relaygate.{run}.rps') / num(r, f'floor.{run}.rps'):.1%}"  # type: ignore[operator]
                          " of the floor (targets: 55% non-stream, 60% streams)")
    if ok(r, "relaygate", "plain32") and ok(r, "litellm", "plain32"):
        ratios.append(f"relaygate / LiteLLM non-stream = "
                      f"{num(r, 'relaygate.plain32.rps') / num(r, 'litellm.plain32.rps'):.1f}x")  # type: ignore[operator]
    if ok(r, "relaygate", "stream32") and ok(r, "litellm", "stream32"):
        ratios.append(f"streams = "
                      f"{num(r, 'relaygate.stream32.rps') / num(r, 'litellm.stream32.rps'):.1f}x")  # type: ignore[operator]
    if ratios:
        lines += ["", "Ratios in this run: " + "; ".join(ratios) + "."]
    return "\n".join(lines) + "\n"


RUNS = (("plain32", "non-stream @32"), ("stream32", "streams @32"), ("plain1", "non-stream @1"))


def conditions(r: dict[str, str]) -> list[str]:
    out = []
    for gw, _ in ROWS:
        parts = []
        for run, label in RUNS:
            g, o = num(r, f"{gw}.{run}.core1_gateway_pct"), num(r, f"{gw}.{run}.core1_other_pct")
            if g is None or o is None:
                continue
            flag = " **contended**" if o > 10 else ""
            parts.append(f"{label} {g:.0f}% / {o:.0f}%{flag}" if gw != "direct" else f"{label} others {o:.0f}%{flag}")
        if parts and gw != "direct":
            out.append(f"- {gw}: " + "; ".join(parts))
    return out


def main() -> None:
    r = load(sys.argv[1])
    body = report(r)
    print(table(r))
    print()
    print(translation_table(r))
    print()
    print("\n".join(f"{t}: {m} -> {v.strip('*')}" for t, m, v in verdicts(r)))
    out = Path(sys.argv[2])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("# relaygate benchmark: latest run\n\n" + body)
    if len(sys.argv) > 3:
        docs = Path(sys.argv[3])
        text = docs.read_text()
        if START in text and END in text:
            pre, rest = text.split(START, 1)
            _, post = rest.split(END, 1)
            docs.write_text(f"{pre}{START}\n{body}{END}{post}")
        else:
            print(f"(markers not found in {docs}; not updated)", file=sys.stderr)


if __name__ == "__main__":
    main()
