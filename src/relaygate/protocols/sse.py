"""Server-sent events framing: split a byte stream into whole events without buffering past them."""

from __future__ import annotations


class SSEFramer:
    """Feed raw chunks as they arrive; get back every complete event (terminator included)."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        data = self._buf + chunk if self._buf else chunk
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        events = []
        start = 0
        while True:
            end = data.find(b"\n\n", start)
            if end < 0:
                break
            events.append(data[start:end + 2])
            start = end + 2
        self._buf = data[start:]
        return events

    def feed_block(self, chunk: bytes) -> bytes:
        """The complete events so far as one block (no copy when the chunk ends on an event's end).

        With an unfinished event waiting, the block is built in one copy (the waiting bytes and the
        chunk up to its last event's end), not by joining the whole chunk and then cutting it: a
        large answer read in big chunks is copied once per byte here, not twice."""
        buf = self._buf
        if buf and b"\r" not in chunk and not buf.endswith(b"\r"):
            end = chunk.rfind(b"\n\n") + 2
            if end == 1:  # no event ends inside the chunk; one may end across the two
                if not (buf.endswith(b"\n") and chunk.startswith(b"\n")):
                    self._buf = buf + chunk
                    return b""
                end = 1
            self._buf = chunk[end:]
            return b"".join((buf, memoryview(chunk)[:end])) if end < len(chunk) else buf + chunk
        data = buf + chunk if buf else chunk
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        end = data.rfind(b"\n\n") + 2
        if end == 1:  # no complete event yet
            self._buf = data
            return b""
        if end == len(data):
            self._buf = b""
            return data
        self._buf = data[end:]
        return data[:end]

    def rest(self) -> bytes:
        """Bytes of an unfinished event left when the stream ended."""
        rest, self._buf = self._buf, b""
        return rest


def event_data(event: bytes) -> bytes | None:
    """The joined ``data:`` payload of one event, or None for comments and keep-alives."""
    if event.startswith(b"data:") and b"\ndata:" not in event:
        return event[5:].strip()
    parts = []
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            parts.append(line[5:].lstrip(b" "))
    return b"\n".join(parts).strip() if parts else None


def events_of(block: bytes) -> list[bytes]:
    """The events of a block of complete events (terminators dropped; empty ones skipped)."""
    return [e for e in block.split(b"\n\n") if e]

