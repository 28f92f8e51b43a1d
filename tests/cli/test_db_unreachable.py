"""A PostgreSQL/MariaDB database the CLI cannot use is one clear line (en and zh-CN), exit code 2, no traceback.

Real servers: a database name that does not exist, a port nothing listens on, a user or password the server
refuses. The URL is named with its password masked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from relaygate.cli import main as cli_main
from tests.harness import MYSQL_URL, PG_URL, free_socket

needs_pg = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (RELAYGATE_TEST_POSTGRES_URL)")
needs_mysql = pytest.mark.skipif(not MYSQL_URL, reason="needs MariaDB (RELAYGATE_TEST_MYSQL_URL)")
PASSWORD = "s3cret-pw-81"
COMMANDS = (["keys", "list"], ["db", "upgrade"], ["secrets", "status"], ["channels", "health"])


def closed_port() -> int:
    sock = free_socket()
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def variant(url: str, **parts: object) -> str:
    return make_url(url).set(**parts).render_as_string(hide_password=False)


def run(url: str, lang: str, args: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("RELAYGATE_DATABASE_URL", url)
    monkeypatch.setenv("RELAYGATE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RELAYGATE_LANG", lang)
    monkeypatch.setenv("COLUMNS", "400")
    cli_main._register()
    result = CliRunner().invoke(cli_main.app, args)
    assert result.exit_code == 2, (args, result.output, result.exception)
    out = result.output.strip()
    assert "\n" not in out and "Traceback" not in out, out
    assert PASSWORD not in out and ("***" in out) == (PASSWORD in url), out
    assert not (tmp_path / "secrets.key").exists()  # nothing written beside a database it never reached
    return out


def cases() -> list[object]:
    port = closed_port()
    pg = PG_URL or "postgresql+asyncpg://postgres@127.0.0.1:5432/x"
    my = MYSQL_URL or "mysql+aiomysql://root@127.0.0.1:3306/x"
    return [
        pytest.param(variant(pg, password=PASSWORD, database=f"{make_url(pg).database}_absent"), "absent",
                     ("does not exist", "createdb"), ("不存在数据库", "createdb"), marks=needs_pg, id="pg-absent"),
        pytest.param(variant(pg, password=PASSWORD, port=port), "refused", ("Cannot connect", str(port)),
                     ("无法连接", str(port)), id="pg-closed-port"),
        pytest.param(variant(pg, username="relaygate_nobody", password=PASSWORD), "auth",
                     ("refused the user name or password",), ("拒绝了用户名或密码",), marks=needs_pg, id="pg-no-user"),
        pytest.param(variant(my, database=f"{make_url(my).database}_absent"), "absent",  # a password: refused first
                     ("does not exist", "CREATE DATABASE"), ("不存在数据库", "CREATE DATABASE"), marks=needs_mysql,
                     id="mysql-absent"),
        pytest.param(variant(my, password=PASSWORD, port=port), "refused", ("Cannot connect",), ("无法连接",),
                     id="mysql-closed-port"),
        pytest.param(variant(my, password=PASSWORD), "auth", ("refused the user name or password", "Access denied"),
                     ("拒绝了用户名或密码",), marks=needs_mysql, id="mysql-wrong-password"),
    ]


@pytest.mark.parametrize(("url", "kind", "en", "zh"), cases())
def test_an_unusable_server_database_is_one_line_in_both_languages(
        url: str, kind: str, en: tuple[str, ...], zh: tuple[str, ...], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    masked = make_url(url).render_as_string(hide_password=True)
    for args in COMMANDS:
        out = run(url, "en", args, monkeypatch, tmp_path)
        assert masked in out and "RELAYGATE_DATABASE_URL" in out, out
        assert all(word in out for word in en), out
    out = run(url, "zh-CN", ["keys", "list"], monkeypatch, tmp_path)
    assert masked in out and all(word in out for word in zh), out
    assert "Cannot" not in out and "database" not in out.replace(masked, ""), out


def test_serve_and_a_changing_command_say_one_line_as_a_process(tmp_path: Path) -> None:
    """The installed entry point: no traceback on stderr, and no second line from the audit hook."""
    url = f"postgresql+asyncpg://postgres:{PASSWORD}@127.0.0.1:{closed_port()}/relaygate"
    env = {**os.environ, "RELAYGATE_DATABASE_URL": url, "RELAYGATE_DATA_DIR": str(tmp_path),
           "RELAYGATE_LANG": "en", "RELAYGATE_DEMO_UPSTREAM": "false"}
    for args in (["serve", "--port", str(closed_port())], ["keys", "create", "--name", "k", "--owner", "o"]):
        done = subprocess.run([sys.executable, "-m", "relaygate.cli", *args], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Cannot connect to the database server at "), lines
        assert PASSWORD not in lines[0]
