"""The test command finds local servers by itself and says, per server, what it found or why it skips it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tests import servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def impostor() -> Iterator[int]:
    """A port that answers TCP but is no database: accepts, then hangs up."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(sock.getsockname()[1])
    stop.set()
    thread.join()
    sock.close()


def test_found_from_the_variable_skipped_with_the_reason_or_found_on_its_port(
        impostor: int, monkeypatch: pytest.MonkeyPatch) -> None:
    nothing = _free_port()
    monkeypatch.setattr(servers, "SERVICES", (
        ("PostgreSQL", "T_PG", impostor, f"postgresql+asyncpg://postgres@127.0.0.1:{impostor}/relaygate_test"),
        ("MariaDB", "T_MY", nothing, f"mysql+aiomysql://root@127.0.0.1:{nothing}/relaygate_test"),
        ("Redis", "T_RD", 6379, "redis://127.0.0.1:6379/15"),
    ))
    env = {"T_RD": "redis://elsewhere:6379/3"}
    found = {f.name: f for f in servers.detect(env)}
    assert found["Redis"].how == "from $T_RD" and found["Redis"].url == "redis://elsewhere:6379/3"
    assert found["MariaDB"].url is None and "T_MY" not in env
    assert found["MariaDB"].how == f"skipped: nothing answers on 127.0.0.1:{nothing} (start it, or set $T_MY)"
    assert found["PostgreSQL"].url is None and "T_PG" not in env
    assert found["PostgreSQL"].how.startswith(f"skipped: 127.0.0.1:{impostor} answers but refused us (")
    assert found["PostgreSQL"].how.endswith("; set $T_PG")
    off = {f.name: f.how for f in servers.detect({"RELAYGATE_TEST_NO_DETECT": "1"})}
    assert off["MariaDB"] == "skipped: RELAYGATE_TEST_NO_DETECT is set and $T_MY is not"


def test_the_summary_names_each_server() -> None:
    """pytest's closing summary has a 'database and cache servers' section with one line per server."""
    from tests import conftest

    lines: list[str] = []

    class Reporter:
        def section(self, title: str) -> None:
            lines.append(f"== {title}")

        def write_line(self, line: str) -> None:
            lines.append(line)

    conftest.pytest_terminal_summary(Reporter())  # type: ignore[arg-type]
    assert lines[0] == "== database and cache servers"
    assert [line.split()[0] for line in lines[1:]] == ["PostgreSQL", "MariaDB", "Redis"]
    assert all(" from $" in line or " found on " in line or " skipped: " in line for line in lines[1:])
