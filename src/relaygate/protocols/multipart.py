"""Reading a multipart/form-data body as it streams past: the small text fields and a fingerprint of
each file (SHA-256, size, type), never the file bytes themselves. Sans-I/O: feed it chunks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

MAX_FIELD_BYTES = 65_536  # a text field longer than this is cut (prompts are read, not stored)


class BadForm(ValueError):
    """The body is not the multipart/form-data its Content-Type says."""


class TooLarge(ValueError):
    """Kept files exceed their limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"files larger than {limit} bytes in all")
        self.limit = limit


@dataclass(slots=True)
class FilePart:
    name: str
    filename: str
    content_type: str
    size: int = 0
    sha256: str = ""

    def fingerprint(self) -> dict[str, Any]:
        return {"field": self.name, "sha256": self.sha256, "size": self.size, "type": self.content_type}


@dataclass(slots=True)
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    text: bytearray = field(default_factory=bytearray)
    data: bytearray = field(default_factory=bytearray)
    digest: Any = None
    file: FilePart | None = None


def boundary_of(content_type: str) -> bytes:
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data" or not params.get(b"boundary"):
        raise BadForm("Content-Type must be multipart/form-data with a boundary")
    return params[b"boundary"]


class FormScan:
    """Feed the body's chunks; ``fields`` and ``files`` fill in as parts complete."""

    def __init__(self, content_type: str, keep_files: int = 0) -> None:
        self.fields: dict[str, str] = {}
        self.files: list[FilePart] = []
        self.keep_files = keep_files  # > 0: also keep each file's bytes, up to this many in all
        self.kept: dict[str, bytes] = {}
        self._kept_size = 0
        self._part = _Part()
        self._hname = bytearray()
        self._hvalue = bytearray()
        self._done = False
        self._parser = MultipartParser(boundary_of(content_type), {
            "on_part_begin": self._begin, "on_part_data": self._data, "on_part_end": self._end,
            "on_header_field": self._hfield, "on_header_value": self._hval, "on_header_end": self._hend,
            "on_headers_finished": self._headers_done, "on_end": self._finish})

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except TooLarge:
            raise
        except Exception as exc:  # the parser's own error classes: malformed input
            raise BadForm(f"the multipart body is malformed ({exc})") from exc

    def close(self) -> None:
        if not self._done:
            raise BadForm("the multipart body ended before its closing boundary")

    # --- parser callbacks ---------------------------------------------------------------------

    def _begin(self) -> None:
        self._part = _Part()

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def _hval(self, data: bytes, start: int, end: int) -> None:
        self._hvalue += data[start:end]

    def _hend(self) -> None:
        self._part.headers[self._hname.decode("latin-1").lower()] = self._hvalue.decode("latin-1")
        self._hname, self._hvalue = bytearray(), bytearray()

    def _headers_done(self) -> None:
        part = self._part
        _, params = parse_options_header(part.headers.get("content-disposition", ""))
        part.name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        if filename is not None:
            part.filename = filename.decode("utf-8", "replace")
            part.digest = hashlib.sha256()
            part.file = FilePart(part.name, part.filename, part.headers.get("content-type", "application/octet-stream"))

    def _data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        if part.file is not None:
            part.digest.update(memoryview(data)[start:end])
            part.file.size += end - start
            if self.keep_files:
                self._kept_size += end - start
                if self._kept_size > self.keep_files:
                    raise TooLarge(self.keep_files)
                part.data += data[start:end]
        elif len(part.text) < MAX_FIELD_BYTES:
            part.text += data[start:min(end, start + MAX_FIELD_BYTES - len(part.text))]

    def _end(self) -> None:
        part = self._part
        if part.file is not None:
            part.file.sha256 = part.digest.hexdigest()
            self.files.append(part.file)
            if self.keep_files:
                self.kept[part.name] = bytes(part.data)
        elif part.name:
            self.fields[part.name] = part.text.decode("utf-8", "replace")

    def _finish(self) -> None:
        self._done = True
