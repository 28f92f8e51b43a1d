"""Process logging: readable text lines by default, one JSON object per line with RELAYGATE_LOG_FORMAT=json.

Structured fields travel in ``extra={"fields": {...}}``; text lines append them as ``key=value``,
JSON lines as keys. Callers never pass secrets or prompts: the access log carries masked keys,
ids and figures only.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

_CONFIGURED: dict[str, str] = {}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            doc.update(fields)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{k}={_text(v)}" for k, v in fields.items() if v is not None)
        return line


def _text(value: Any) -> str:
    s = str(value)
    return orjson.dumps(s).decode() if (" " in s or not s) else s


def configure_logging(level: str = "info", fmt: str = "text") -> None:
    """Install one stderr handler on the root logger (idempotent per level and format)."""
    if _CONFIGURED.get("key") == f"{level}/{fmt}":
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt.strip().lower() == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_relaygate", False):
            root.removeHandler(old)
    handler._relaygate = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    _CONFIGURED["key"] = f"{level}/{fmt}"
