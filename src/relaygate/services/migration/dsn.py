"""Source addresses: One API / New API DSNs (SQLite path, MySQL, PostgreSQL) to read-only async engines."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from relaygate.core.errors import InvalidInput

# One API's MySQL form: user:pass@tcp(host:port)/db?charset=utf8mb4&parseTime=True&loc=Local
_GO_MYSQL = re.compile(r"^(?P<user>[^:@/]*)(?::(?P<password>.*))?@(?P<proto>tcp|unix)\((?P<addr>[^)]*)\)"
                       r"/(?P<db>[^?]*)(?:\?(?P<query>.*))?$")
_GO_ONLY = {"parsetime", "loc", "timeout", "readtimeout", "writetimeout", "allownativepasswords", "tls",
            "collation", "multistatements", "interpolateparams", "_busy_timeout", "_pragma", "cache", "mode"}
PASSWORD_ENV = "RELAYGATE_SOURCE_PASSWORD"


def _bad(dsn: str, why: str) -> InvalidInput:
    return InvalidInput(f"Cannot read the source address '{mask_dsn(dsn)}': {why}",
                        f"无法识别源数据库地址 '{mask_dsn(dsn)}'：{why}")


def _query(raw: str | None) -> dict[str, str]:
    return {k: v for k, v in parse_qsl(raw or "") if k.lower() not in _GO_ONLY}


def to_url(dsn: str) -> URL:
    """The SQLAlchemy async URL for a source DSN in any form One API or New API accepts.

    SQLite: a file path (``/data/one-api.db``, with or without New API's ``?_busy_timeout=…``) or
    ``sqlite:///path``; MySQL: ``mysql://user:pass@host:3306/db`` or One API's
    ``user:pass@tcp(host:3306)/db``; PostgreSQL: ``postgres://`` or ``postgresql://``.
    SQLite files are opened read-only (``mode=ro``).
    """
    dsn = expand(dsn.strip())
    if not dsn:
        raise _bad(dsn, "it is empty")
    go = _GO_MYSQL.match(dsn)
    if go:
        host, port = go["addr"], None
        query = _query(go["query"])
        if go["proto"] == "unix":
            query["unix_socket"] = host
            host = "localhost"
        elif ":" in host:
            host, _, port_text = host.rpartition(":")
            port = int(port_text) if port_text.isdigit() else None
        return URL.create("mysql+aiomysql", username=go["user"] or None, password=go["password"],
                          host=host or "127.0.0.1", port=port, database=go["db"] or None, query=query)
    if "://" in dsn:
        scheme = dsn.split("://", 1)[0].lower()
        base = scheme.split("+", 1)[0]
        if base == "sqlite":
            return sqlite_url(make_url(dsn.replace(f"{scheme}://", "sqlite://", 1)).database or "")
        try:
            url = make_url(dsn.replace(f"{scheme}://", "driver://", 1))
        except Exception as exc:  # sqlalchemy raises ArgumentError for a malformed URL
            raise _bad(dsn, str(exc)) from exc
        query = {k: v for k, v in url.query.items() if k.lower() not in _GO_ONLY and isinstance(v, str)}
        if base in ("mysql", "mariadb"):
            return url.set(drivername="mysql+aiomysql", query=query)
        if base in ("postgres", "postgresql"):
            mode = query.pop("sslmode", None)
            if mode and mode != "disable":
                query["ssl"] = mode
            return url.set(drivername="postgresql+asyncpg", query=query)
        raise _bad(dsn, f"unknown scheme '{scheme}' (use a SQLite path, mysql:// or postgresql://)")
    path = dsn.split("?", 1)[0]
    if path.startswith("local"):  # New API treats SQL_DSN=local… as its SQLite file
        path = "one-api.db"
    return sqlite_url(path)


def sqlite_url(path: str) -> URL:
    file = Path(path).expanduser()
    if not file.is_file():
        raise _bad(str(path), "no such SQLite file")
    uri = f"file:{quote(str(file.resolve()))}?mode=ro"
    return URL.create("sqlite+aiosqlite", database=uri, query={"uri": "true"})


def expand(dsn: str) -> str:
    """``${VAR}`` references in a DSN (plans keep passwords out of the file this way)."""
    return re.sub(r"\$\{([A-Z0-9_]+)\}", lambda m: os.environ.get(m.group(1), ""), dsn)


def mask_dsn(dsn: str) -> str:
    """The DSN with its password replaced by ***, for reports and errors."""
    go = _GO_MYSQL.match(dsn.strip())
    if go and go["password"]:
        return dsn.replace(f":{go['password']}@", ":***@", 1)
    return re.sub(r"(://[^:/@]*):([^@]*)@", r"\1:***@", dsn)


def plan_dsn(dsn: str) -> str:
    """The DSN as written into a plan file: a password becomes ``${RELAYGATE_SOURCE_PASSWORD}``."""
    go = _GO_MYSQL.match(dsn.strip())
    if go and go["password"] and "${" not in go["password"]:
        return dsn.replace(f":{go['password']}@", f":${{{PASSWORD_ENV}}}@", 1)
    return re.sub(r"(://[^:/@]*):([^@$][^@]*)@", rf"\1:${{{PASSWORD_ENV}}}@", dsn)


def backend(url: URL) -> str:
    return url.get_backend_name()


def open_engine(dsn: str) -> AsyncEngine:
    """A read-only engine on the source: SQLite mode=ro, PostgreSQL and MySQL read-only sessions."""
    url = to_url(dsn)
    name = backend(url)
    kwargs: dict[str, Any] = {"pool_pre_ping": name != "sqlite"}
    if name == "postgresql":
        kwargs["connect_args"] = {"server_settings": {"default_transaction_read_only": "on",
                                                      "application_name": "relaygate-migrate"}}
    engine = create_async_engine(url, **kwargs)
    if name in ("mysql", "mariadb"):
        @event.listens_for(engine.sync_engine, "connect")
        def _read_only(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("SET SESSION TRANSACTION READ ONLY")
            cur.close()
    return engine
