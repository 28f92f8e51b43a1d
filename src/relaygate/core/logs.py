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
# set by configure_logging: the access log then writes its lines itself (see LineWriter)
ACCESS: dict[str, LineWriter] = {}


class LineWriter:
    """Access lines written without the logging module: ~10x cheaper per line, same text and fields.

    Lines are collected and written by one ``write`` every ``interval`` seconds (or at 64 KiB), on the
    event loop; a line is never split. Used only when relaygate configured logging itself (serve);
    otherwise the access log goes through ``logging`` like everything else.
    """

    def __init__(self, fmt: str, stream: Any = None, interval: float = 0.2) -> None:
        self.json = fmt.strip().lower() == "json"
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self._lines: list[bytes] = []
        self._size = 0
        self._second = -1
        self._stamp = ""
        self._scheduled: Any = None

    def _ts(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S" if self.json else "%Y-%m-%d %H:%M:%S",
                                        time.gmtime(second) if self.json else time.localtime(second))
        ms = int((now - second) * 1000)
        return f"{self._stamp}.{ms:03d}Z" if self.json else f"{self._stamp},{ms:03d}"

    def write(self, fields: dict[str, Any]) -> None:
        now = time.time()
        if self.json:  # orjson writes the fields; the fixed head is spliced in front of them as bytes
            body = orjson.dumps(fields, default=str, option=orjson.OPT_APPEND_NEWLINE)
            rest = _JSON_HEAD + body[1:] if len(body) > 3 else _JSON_HEAD[:-1] + b"}\n"
            line = b'{"ts":"' + self._ts(now).encode() + rest
        else:
            line = (f"{self._ts(now)} INFO relaygate.access access " + _pairs(fields) + "\n").encode()
        self._lines.append(line)
        self._size += len(line)
        if self._size >= 65536:
            self.flush()
        elif self._scheduled is None:
            try:
                import asyncio

                self._scheduled = asyncio.get_running_loop().call_later(self.interval, self.flush)
            except RuntimeError:  # no loop (a script): write at once
                self.flush()

    def flush(self) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        if self._lines:
            data, self._lines, self._size = b"".join(self._lines), [], 0
            stream = self.stream
            try:
                buffer = getattr(stream, "buffer", None)
                if buffer is not None:  # stderr: the bytes as they are, after whatever its text layer holds
                    stream.flush()
                    buffer.write(data)
                    buffer.flush()
                else:
                    stream.write(data.decode())
                    stream.flush()
            except (OSError, ValueError):
                pass  # a closed stderr must not fail requests


_JSON_HEAD = b'","level":"info","logger":"relaygate.access","msg":"access",'


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
            line += " " + _pairs(fields)
        return line


def _pairs(fields: dict[str, Any]) -> str:
    """``key=value`` for each field that is set; a value with a space or a control character (a caller's
    model name or client header could carry a newline), or an empty one, is JSON-quoted: one event, one line."""
    parts = []
    for k, v in fields.items():
        if v is None:
            continue
        c = v.__class__
        if c is int or (c is str and v and " " not in v and v.isprintable()):
            parts.append(f"{k}={v}")
        else:
            parts.append(f"{k}={_text(v)}")
    return " ".join(parts)


def _text(value: Any) -> str:
    s = value if value.__class__ is str else str(value)
    return orjson.dumps(s).decode() if (" " in s or not s or not s.isprintable()) else s


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
    previous = ACCESS.pop("writer", None)
    if previous is not None:
        previous.flush()
    ACCESS["writer"] = LineWriter(fmt)
