"""SSEFramer.feed_block: for any cuts of a stream, the blocks are exactly the complete events so far
(CRLF read as LF), the rest waits, and a block is copied at most once on its way (issue 17)."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from relaygate.protocols.sse import SSEFramer

EVENT = st.builds(lambda body, crlf: (b"data: " + body + b"\n\n").replace(b"\n", b"\r\n") if crlf
                  else b"data: " + body + b"\n\n",
                  st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b" ")), st.booleans())


@settings(max_examples=500, deadline=None)
@given(events=st.lists(EVENT, max_size=8), cuts=st.lists(st.integers(0, 400), max_size=10),
       extra=st.binary(max_size=6))
def test_blocks_are_the_complete_events_for_any_cuts(events: list[bytes], cuts: list[int], extra: bytes) -> None:
    stream = b"".join(events) + extra
    points = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    framer = SSEFramer()
    out = []
    for a, b in pairwise(points):
        block = framer.feed_block(stream[a:b])
        assert isinstance(block, bytes)
        assert block == b"" or block.endswith(b"\n\n")
        out.append(block)
    normal = stream.replace(b"\r\n", b"\n")
    end = normal.rfind(b"\n\n") + 2 if b"\n\n" in normal else 0
    assert b"".join(out) == normal[:end]
    assert framer.rest() == normal[end:]


def test_a_terminator_split_across_two_reads_ends_the_event() -> None:
    framer = SSEFramer()
    assert framer.feed_block(b'data: {"a":1}\n') == b""
    assert framer.feed_block(b'\ndata: {"b"') == b'data: {"a":1}\n\n'
    assert framer.feed_block(b':2}\n\n') == b'data: {"b":2}\n\n'
