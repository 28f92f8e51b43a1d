"""Lenient reading of source values: JSON that may be NULL, empty or invalid, lists, padded strings."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any


def text(value: Any) -> str:
    """A source string, never None: bytes decoded (SQLite BLOBs), CHAR blank-padding removed (PostgreSQL)."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value).decode("utf-8", "replace")
    return str(value).rstrip(" ")


def json_value(raw: Any) -> tuple[Any, str | None]:
    """(value, problem): NULL, '' and whitespace are (None, None); invalid JSON is (None, 'invalid JSON …').

    Numbers are read as Decimal, so a ratio of 0.075 stays exactly 0.075.
    """
    if isinstance(raw, dict | list):
        return raw, None
    body = text(raw).strip()
    if not body:
        return None, None
    try:
        return json.loads(body, parse_float=Decimal, parse_int=Decimal), None
    except (ValueError, RecursionError) as exc:
        return None, f"invalid JSON ({str(exc)[:60]}): {body[:60]!r}"


def json_object(raw: Any) -> tuple[dict[str, Any], str | None]:
    """A JSON object or {} with the reason it could not be read; '{}' and '' are both empty."""
    value, problem = json_value(raw)
    if problem:
        return {}, problem
    if value is None:
        return {}, None
    if not isinstance(value, dict):
        return {}, f"expected a JSON object, found {type(value).__name__}"
    return value, None


def items(raw: Any, separators: str = ",") -> list[str]:
    """'a, b,,c' -> ['a', 'b', 'c'] split on any of ``separators``; order kept, duplicates dropped."""
    body = text(raw)
    for sep in separators[1:]:
        body = body.replace(sep, separators[0])
    out: list[str] = []
    for part in body.split(separators[0]):
        part = part.strip()
        if part and part not in out:
            out.append(part)
    return out


def integer(value: Any, default: int = 0) -> int:
    """Read as a 64-bit integer: ints, numeric strings, Decimals; anything else is ``default``."""
    if value is None or isinstance(value, bool):
        return default if value is None else int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():  # SQLite keeps 2^63 and beyond as REAL: take it exactly
        return int(value)
    try:
        return int(Decimal(text(value).strip()))
    except (InvalidOperation, ValueError):
        return default


def flag(value: Any) -> bool:
    """Booleans as MySQL tinyint, PostgreSQL boolean, SQLite numeric, or the strings 'true'/'1'."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal):
        return value != 0
    return text(value).strip().lower() in {"1", "true", "t", "yes", "on"}


def decimal(value: Any) -> Decimal | None:
    """An exact decimal from a JSON number, an option string or an int; None when it is not a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(text(value).strip() if not isinstance(value, int | float) else str(value))
    except InvalidOperation:
        return None


def plain(value: Decimal) -> str:
    """'0.0750' -> '0.075', '2E+1' -> '20': a decimal as people write it."""
    normal = value.normalize()
    text_value = f"{normal:f}"
    return text_value


def ratio_map(raw: Any) -> tuple[dict[str, Decimal], str | None]:
    """A JSON map of model or group -> number (ratios, prices); non-numbers are dropped with a note."""
    obj, problem = json_object(raw)
    out: dict[str, Decimal] = {}
    bad = []
    for key, value in obj.items():
        number = decimal(value)
        if number is None:
            bad.append(str(key))
        else:
            out[str(key)] = number
    if bad and not problem:
        problem = f"non-numeric values ignored for: {', '.join(bad[:5])}"
    return out, problem
