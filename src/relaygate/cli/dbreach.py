"""A database server the CLI cannot use, said in one line: which URL (password masked), what is wrong, what to do.

PostgreSQL and MariaDB fail in three ways an operator meets first: the database does not exist, nothing
listens at the host and port, or the user name or password is refused. Each becomes one sentence in the
reader's language instead of a driver traceback; anything else is left to propagate.
"""

from __future__ import annotations

import socket

from relaygate.core.settings import Settings

# SQLSTATEs (PostgreSQL) and error numbers (MySQL/MariaDB) by what the operator has to fix
_MISSING_STATES = {"3D000"}  # invalid_catalog_name
_AUTH_STATES = {"28P01", "28000"}  # invalid_password, invalid_authorization_specification
_MISSING_CODES = {1049}  # ER_BAD_DB_ERROR
_AUTH_CODES = {1044, 1045, 1698}  # access denied to the database / for the user
_REFUSED_CODES = {2002, 2003, 2005, 2006, 2013}  # cannot connect, unknown host, gone away, lost


def masked_url(url: str) -> str:
    """The database URL with its password shown as ***."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.rpartition("@")[2]


def kind_of(exc: BaseException) -> str | None:
    """'absent' | 'auth' | 'refused' for a failure to reach the database, None for anything else."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        state = getattr(current, "sqlstate", None)
        if state in _MISSING_STATES:
            return "absent"
        if state in _AUTH_STATES:
            return "auth"
        args = getattr(current, "args", ())
        code = args[0] if args and isinstance(args[0], int) else None
        if type(current).__module__.startswith("pymysql") and code is not None:
            if code in _MISSING_CODES:
                return "absent"
            if code in _AUTH_CODES:
                return "auth"
            if code in _REFUSED_CODES:
                return "refused"
        if isinstance(current, (ConnectionError, socket.gaierror, TimeoutError)):
            return "refused"
        if isinstance(current, OSError) and current.errno is not None:
            return "refused"
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return None


def explain(exc: BaseException, settings: Settings) -> str | None:
    """The one line for the CLI, or None when ``exc`` is not a failure to reach the database."""
    if settings.database_url.startswith("sqlite"):
        return None
    kind = kind_of(exc)
    if kind is None:
        return None
    from sqlalchemy.engine import make_url

    from relaygate.cli.text import say

    try:
        name = make_url(settings.database_url).database or ""
    except Exception:
        name = ""
    create = f"createdb {name}" if settings.database_url.startswith("postgres") else f"CREATE DATABASE {name}"
    return say(settings, f"db.{kind}", url=masked_url(settings.database_url), name=name, create=create,
               reason=_reason(exc))


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    args: tuple[object, ...] = tuple(getattr(orig, "args", ()))
    text = str(args[1]) if len(args) > 1 and isinstance(args[0], int) else str(orig)
    return (text.splitlines() or [type(orig).__name__])[0][:200]
