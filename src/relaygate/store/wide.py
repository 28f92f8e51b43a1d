"""Wide integers: money amounts of any size, kept exactly on SQLite, PostgreSQL and MariaDB/MySQL.

Old systems hold quotas up to 2^63 units (and a float column can hold more), which is about 10^22
nanos: beyond BIGINT. ``WideInt`` is NUMERIC(60, 0) on PostgreSQL and MariaDB (exact arithmetic and
exact SUM there). SQLite has no such type: the column is declared BLOB (no affinity, so nothing is
converted), values within int64 are stored as INTEGER (fast, as before) and larger ones as their
decimal TEXT. SQLite's own ``sum()`` and ``+`` would turn those into floats, so sums and increments
of wide columns go through ``wide_sum`` and ``wide_add``, which compile to the exact functions
``wsum`` / ``wadd`` registered on every SQLite connection (``store/db.py``) and to plain ``SUM`` /
``+`` elsewhere. Values always come back as Python ints.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
PRECISION = 60  # decimal digits: 2^63 quota units at one quota per nano-unit is 19 digits; room to spare


def as_int(value: Any) -> int:
    """An int from what a driver returns for a wide column: int, Decimal, decimal text (or bytes)."""
    if isinstance(value, int):
        return value
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"wide integer column holds a fraction: {value!r}")
        return int(value)
    if isinstance(value, Decimal):
        return int(value)
    return int(str(value).strip())


def sqlite_value(value: int) -> int | str:
    """How SQLite stores a wide value: INTEGER within int64, decimal TEXT beyond."""
    return value if INT64_MIN <= value <= INT64_MAX else str(value)


class _SqliteWide(UserDefinedType[Any]):
    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "BLOB"  # no affinity: INTEGER stays INTEGER, TEXT stays TEXT (an INT or NUMERIC column would
        # turn a 23-digit text into a lossy REAL)


class WideInt(TypeDecorator[int]):
    """An integer of any magnitude (money in nanos, old-system quotas), exact on every database."""

    impl = Numeric(PRECISION, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SqliteWide())
        return dialect.type_descriptor(Numeric(PRECISION, 0))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        number = as_int(value)
        return sqlite_value(number) if dialect.name == "sqlite" else number

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else as_int(value)

    @property
    def python_type(self) -> type[int]:
        return int


class wide_sum(FunctionElement[int]):
    """SUM of a wide column (or an expression of one), exact on every database."""

    type = WideInt()
    name = "wide_sum"
    inherit_cache = True


@compiles(wide_sum)
def _sum_default(element: wide_sum, compiler: SQLCompiler, **kw: Any) -> str:
    return f"SUM({compiler.process(element.clauses, **kw)})"


@compiles(wide_sum, "sqlite")
def _sum_sqlite(element: wide_sum, compiler: SQLCompiler, **kw: Any) -> str:
    return f"wsum({compiler.process(element.clauses, **kw)})"


class wide_add(FunctionElement[int]):
    """``a + b`` for wide values (``balance = wide_add(balance, amount)``), exact on every database."""

    type = WideInt()
    name = "wide_add"
    inherit_cache = True


@compiles(wide_add)
def _add_default(element: wide_add, compiler: SQLCompiler, **kw: Any) -> str:
    a, b = list(element.clauses)
    return f"({compiler.process(a, **kw)} + {compiler.process(b, **kw)})"


@compiles(wide_add, "sqlite")
def _add_sqlite(element: wide_add, compiler: SQLCompiler, **kw: Any) -> str:
    return f"wadd({compiler.process(element.clauses, **kw)})"


# --- the SQLite side: exact functions over INTEGER-or-TEXT values ---

def _number(value: Any) -> int:
    return 0 if value is None else as_int(value)


class WideSum:
    """sqlite3 aggregate ``wsum``: an exact sum; NULL for no rows, like SUM."""

    def __init__(self) -> None:
        self.total = 0
        self.seen = False

    def step(self, value: Any) -> None:
        if value is not None:
            self.total += as_int(value)
            self.seen = True

    def finalize(self) -> int | str | None:
        return sqlite_value(self.total) if self.seen else None


def wadd(a: Any, b: Any) -> int | str | None:
    if a is None and b is None:
        return None
    return sqlite_value(_number(a) + _number(b))


def register_sqlite(dbapi_conn: Any) -> None:
    """Register ``wsum`` and ``wadd`` on a new SQLite connection (SQLAlchemy's aiosqlite adapter).

    aiosqlite offers ``create_function`` but not ``create_aggregate``; both are made on the sqlite3
    connection in aiosqlite's own thread (the only thread allowed to touch it)."""
    driver = getattr(dbapi_conn, "_connection", None)  # the aiosqlite.Connection behind the adapter
    raw = getattr(driver, "_conn", None)
    run = getattr(driver, "_execute", None)
    if raw is None or run is None:  # a plain sqlite3 connection (sync engine)
        dbapi_conn.create_aggregate("wsum", 1, WideSum)
        dbapi_conn.create_function("wadd", 2, wadd, deterministic=True)
        return
    from sqlalchemy.util.concurrency import await_

    await_(run(raw.create_aggregate, "wsum", 1, WideSum))
    await_(run(raw.create_function, "wadd", 2, wadd, deterministic=True))


def dumps(obj: Any, indent: bool = False) -> str:
    """JSON text of ``obj`` (orjson, fast) that also carries integers beyond 64 bits, which orjson refuses:
    a wide balance stays a JSON number, exactly (the standard library writes any int)."""
    import orjson

    try:
        return orjson.dumps(obj, option=orjson.OPT_INDENT_2 if indent else 0).decode()
    except orjson.JSONEncodeError:
        import json

        return json.dumps(obj, indent=2 if indent else None, ensure_ascii=False, default=str)
