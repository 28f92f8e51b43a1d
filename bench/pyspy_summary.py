"""Summarise py-spy's collapsed stacks (``record --format raw``, best with ``--threads``).

Usage: pyspy_summary.py FILE [N]. Prints the share of samples per thread, per package of the running
frame, and the top N functions by own time (the frame that was running) and by inclusive time.
Lines of one function are folded together. With uvloop the event loop itself is C code: its own time
shows up on the last Python frame below it (asyncio Runner.run) unless py-spy ran with --native.
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
MARKERS = ("site-packages/", "/src/", "lib/python3.11/")


def parse(frame: str) -> tuple[str, str]:
    """(display name, package) of one frame."""
    frame = frame.strip()
    m = FRAME.match(frame)
    if not m:
        return frame, "native/other"
    path = m["file"]
    for marker in MARKERS:
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    parts = path.split("/")
    if parts[0] == "relaygate" and len(parts) > 2:
        package = "/".join(parts[:2])
    elif len(parts) > 1:
        package = parts[0]
    else:
        package = "stdlib:" + parts[0].removesuffix(".py") if path.endswith(".py") else path
    return f"{m['func']} ({path})", package


def main() -> None:
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    thread_funcs: dict[str, Counter[str]] = defaultdict(Counter)
    total = 0
    with open(sys.argv[1]) as fh:
        for line in fh:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            raw = [f for f in stack.split(";") if f.strip()]
            thread = "?"
            if raw and raw[0].startswith("process "):
                raw = raw[1:]
            if raw and raw[0].startswith("thread "):
                thread, raw = raw[0], raw[1:]
            frames = [parse(f) for f in raw]
            total += n
            threads[thread] += n
            for f, _pkg in frames:
                thread_funcs[thread][f] += n
            if not frames:
                own["(no Python frame)"] += n
                packages["(no Python frame)"] += n
                continue
            own[frames[-1][0]] += n
            packages[frames[-1][1]] += n
            for f in {f for f, _ in frames}:
                incl[f] += n
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    pct = lambda n: f"{100 * n / total:5.1f}%"  # noqa: E731
    print(f"{total} samples")
    print("\nBy thread:")
    for thread, n in threads.most_common():
        hint = ", ".join(f for f, _ in thread_funcs[thread].most_common(40)
                         if "_connection_worker_thread" in f or "Runner.run" in f or "worker" in f.lower())[:90]
        print(f"  {pct(n)}  {thread}  {hint}")
    print("\nBy package of the running frame:")
    for pkg, n in packages.most_common(15):
        print(f"  {pct(n)}  {pkg}")
    print(f"\nTop {top} by own time (the frame that was running):")
    for f, n in own.most_common(top):
        print(f"  {pct(n)}  {f}")
    print(f"\nTop {top} by inclusive time (on the stack), outside the start-up frames:")
    shown = 0
    for f, n in incl.most_common():
        if any(s in f for s in ("typer/", "relaygate/cli/", "(relaygate)", "uvicorn/main.py", "uvicorn/server.py",
                                "uvicorn/_compat.py", "threading.py")):
            continue
        print(f"  {pct(n)}  {f}")
        shown += 1
        if shown >= top:
            break


if __name__ == "__main__":
    main()
