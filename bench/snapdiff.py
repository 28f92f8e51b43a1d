"""Compare two tracemalloc snapshots (bench/variant_serve.py tracemalloc=DIR): what grew, by allocation site.

Usage: snapdiff.py BEFORE.pickle AFTER.pickle [LABEL]
"""

from __future__ import annotations

import sys
import tracemalloc


def main() -> None:
    before = tracemalloc.Snapshot.load(sys.argv[1])
    after = tracemalloc.Snapshot.load(sys.argv[2])
    label = sys.argv[3] if len(sys.argv) > 3 else "after"
    skip = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>")]
    before, after = before.filter_traces(skip), after.filter_traces(skip)
    total = sum(s.size for s in after.statistics("filename")) - sum(s.size for s in before.statistics("filename"))
    print(f"== {label}: traced Python memory grew {total / 1024:,.0f} KB")
    for stat in after.compare_to(before, "lineno")[:18]:
        frame = stat.traceback[0]
        where = f"{frame.filename.split('site-packages/')[-1]}:{frame.lineno}"
        print(f"{stat.size_diff / 1024:9,.0f} KB {stat.count_diff:+8d} blocks  {where}")
    print("-- by the relaygate frame nearest each allocation:")
    sizes: dict[str, list[int]] = {}
    for stat in after.compare_to(before, "traceback"):
        where = next((f"{f.filename.split('src/')[-1]}:{f.lineno}" for f in stat.traceback
                      if "/relaygate/" in f.filename), "(outside relaygate)")
        entry = sizes.setdefault(where, [0, 0])
        entry[0] += stat.size_diff
        entry[1] += stat.count_diff
    for where, (size, count) in sorted(sizes.items(), key=lambda kv: -kv[1][0])[:14]:
        print(f"{size / 1024:9,.0f} KB {count:+8d} blocks  {where}")


if __name__ == "__main__":
    main()
