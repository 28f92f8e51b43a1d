"""Scale: 20k users, 100k tokens and 1M log rows, inspected and imported by the real CLI in bounded memory.

Opt-in (it builds a 230 MB source first): RELAYGATE_SCALE_TESTS=1 pytest tests/migration/test_scale.py -s
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.migration.bigsource import build_big

pytestmark = pytest.mark.skipif(not os.environ.get("RELAYGATE_SCALE_TESTS"),
                                reason="scale test: set RELAYGATE_SCALE_TESTS=1 to run it (about two minutes)")
MEMORY_BOUND_MB = 400  # the whole process, interpreter and libraries included


def cli(*args: str, env: dict[str, str]) -> tuple[str, float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "relaygate.cli", "migrate", *args], env=env, check=True,
                          capture_output=True, text=True)
    return done.stdout, time.monotonic() - started


async def test_big_source_in_bounded_memory(tmp_path: Path) -> None:
    await build_big(f"sqlite+aiosqlite:///{tmp_path}/one-api.db", f"sqlite+aiosqlite:///{tmp_path}/logs.db")
    env = {**os.environ, "RELAYGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/relaygate.db",
           "RELAYGATE_DEMO_UPSTREAM": "false", "RELAYGATE_LANG": "en"}
    src = ["--source", str(tmp_path / "one-api.db"), "--logs-source", str(tmp_path / "logs.db")]
    out, inspect_s = cli("inspect", *src, "--format", "json", env=env)
    inv = json.loads(out)
    assert inv["tokens"]["total"] == 100_000 and inv["logs"]["rows"] == 1_000_000
    cli("plan", *src, "-o", str(tmp_path / "plan.yaml"), env=env)
    out, import_s = cli("import", "--plan", str(tmp_path / "plan.yaml"), "--apply", "--json", env=env)
    report = json.loads(out)
    assert report["changes"]["keys"]["create"] == 100_000 and report["changes"]["owners"]["create"] == 20_000
    out, again_s = cli("import", "--plan", str(tmp_path / "plan.yaml"), "--apply", "--json", env=env)
    assert json.loads(out)["changes"]["keys"]["unchanged"] == 100_000
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\ninspect {inspect_s:.1f} s, import {import_s:.1f} s, again {again_s:.1f} s, peak RSS {peak_mb:.0f} MB;"
          f" steps: {report['steps']}")
    assert peak_mb < MEMORY_BOUND_MB
