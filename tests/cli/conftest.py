"""Fixtures for the CLI tests: a fresh SQLite database per test and a runner for `relaygate`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from relaygate.cli import main as cli_main

Invoke = Callable[..., Result]
JsonRun = Callable[..., Any]


@pytest.fixture
def db_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "t.db"
    monkeypatch.setenv("RELAYGATE_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("RELAYGATE_DEMO_UPSTREAM", "false")
    monkeypatch.setenv("RELAYGATE_LANG", "en")
    monkeypatch.setenv("COLUMNS", "200")  # Rich tables: same width whatever terminal runs the tests
    return path


@pytest.fixture
def cli(db_file: Path) -> Invoke:
    """``cli("keys", "list", ok=True)``: run a command; by default assert it exited 0."""
    cli_main._register()
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True, input: str | None = None) -> Result:
        result = runner.invoke(cli_main.app, list(args), input=input)
        if ok:
            assert result.exit_code == 0, (args, result.output, result.exception)
        return result

    return invoke


@pytest.fixture
def cli_json(cli: Invoke) -> JsonRun:
    def run(*args: str) -> Any:
        return json.loads(cli(*args, "--json").stdout)

    return run


@pytest.fixture
def sync_db(cli: Invoke, db_file: Path) -> Iterator[Engine]:
    """A synchronous engine on the same file (schema created by a first CLI call) to seed rows."""
    cli("groups", "list")
    engine = create_engine(f"sqlite:///{db_file}")
    yield engine
    engine.dispose()
