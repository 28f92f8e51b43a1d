"""One database, found the same way by every command; no silent new empty database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relaygate.cli import main as cli_main
from relaygate.core.settings import Settings


def test_default_sqlite_lives_under_the_data_dir_whatever_the_cwd(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env({"RELAYGATE_DATA_DIR": "/srv/rg"})
    assert s.database_url == "sqlite+aiosqlite:////srv/rg/relaygate.db"
    assert s.sqlite_path() == Path("/srv/rg/relaygate.db")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert Settings.from_env({}).sqlite_path() == tmp_path / "xdg" / "relaygate" / "relaygate.db"
    rel = Settings.from_env({"RELAYGATE_DATA_DIR": "data"}).sqlite_path()
    assert rel == tmp_path / "data" / "relaygate.db"  # relative paths are made absolute once
    url = "postgresql+asyncpg://u:pw@db/x"
    assert Settings.from_env({"RELAYGATE_DATABASE_URL": url}).sqlite_path() is None


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("RELAYGATE_DATABASE_URL", "RELAYGATE_INIT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RELAYGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RELAYGATE_DEMO_UPSTREAM", "false")
    monkeypatch.setenv("COLUMNS", "200")
    cli_main._register()
    return tmp_path / "data" / "relaygate.db"


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_command_refuses_to_create_an_empty_database_and_names_the_path(
        clean_env: Path, monkeypatch: pytest.MonkeyPatch, lang: str) -> None:
    monkeypatch.setenv("RELAYGATE_LANG", lang)
    for args in (["channels", "list"], ["db", "upgrade"], ["keys", "list"], ["secrets", "status"]):
        result = CliRunner().invoke(cli_main.app, args)
        assert result.exit_code == 2, result.output
        assert str(clean_env) in result.output.replace("\n", "")
        assert ("--init" in result.output) and not clean_env.exists()
    assert ("新建" in result.output) == (lang == "zh-CN")


# a read command of every group that has one (and `secrets rotate`, which once made a key file and a database)
READS = (["owners", "list"], ["groups", "list"], ["models", "list"], ["logs", "search"], ["config", "export"],
         ["prices", "list"], ["alerts", "list"], ["stats"], ["users", "list"], ["codes", "list"],
         ["media", "prices", "list"], ["operators", "list"], ["admin-tokens", "list"], ["rollout", "status"],
         ["secrets", "rotate"], ["channels", "health"], ["balance", "check"])


def test_no_command_creates_a_database_by_accident(clean_env: Path) -> None:
    for args in READS:
        result = CliRunner().invoke(cli_main.app, args)
        assert result.exit_code == 2 and "--init" in result.output, (args, result.output)
        assert not clean_env.parent.exists(), args  # neither the database nor a secrets key file beside it
    # the real entry point: a refused changing command is not followed by an audit record that creates the file
    env = {**os.environ, "RELAYGATE_LANG": "en"}
    done = subprocess.run([sys.executable, "-m", "relaygate.cli", "keys", "create", "--name", "a", "--owner", "b"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "would create a new, empty one" in done.stdout.replace("\n", " "), done
    assert "audit" not in done.stderr and not clean_env.parent.exists()


def test_init_creates_it_and_then_every_command_finds_it_from_anywhere(
        clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert CliRunner().invoke(cli_main.app, ["--init", "db", "upgrade"]).exit_code == 0
    assert clean_env.exists()
    assert CliRunner().invoke(cli_main.app, ["groups", "add", "vip"]).exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(cli_main.app, ["groups", "list", "--json"])
    assert result.exit_code == 0 and "vip" in result.stdout
    assert not (elsewhere / "data").exists()


def test_serve_says_it_creates_a_new_database(clean_env: Path) -> None:
    """`serve` creates the database (first start) and says where; checked without binding a port."""
    env = {**os.environ, "RELAYGATE_PORT": "1", "RELAYGATE_HOST": "256.0.0.1", "RELAYGATE_LANG": "en"}
    done = subprocess.run([sys.executable, "-m", "relaygate.cli", "serve"], env=env, capture_output=True,
                          text=True, timeout=60)
    out = (done.stdout + done.stderr).replace("\n", "")
    assert f"No database at {clean_env} yet: creating a new one" in out
    assert clean_env.exists()


def test_the_fast_head_check_agrees_with_alembic() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from relaygate.store.db import MIGRATIONS, head_revision

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(cfg).get_current_head()


@pytest.mark.skipif(not os.environ.get("RELAYGATE_TEST_POSTGRES_URL"), reason="needs PostgreSQL")
def test_an_empty_server_database_is_refused_too(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from tests.dbreset import reset_database

    url = os.environ["RELAYGATE_TEST_POSTGRES_URL"]
    asyncio.run(reset_database(url))  # no relaygate tables
    monkeypatch.setenv("RELAYGATE_DATABASE_URL", url)
    monkeypatch.delenv("RELAYGATE_INIT", raising=False)
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.setenv("RELAYGATE_LANG", "en")
    env = dict(os.environ)
    for args in (["db", "upgrade"], ["channels", "list"]):
        done = subprocess.run([sys.executable, "-m", "relaygate.cli", *args], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 2 and "would create a new, empty one" in done.stdout.replace("\n", " "), done
    done = subprocess.run([sys.executable, "-m", "relaygate.cli", "--init", "db", "upgrade"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
