"""The generated text in relayed SSE bytes, measured with C-level scans, without decoding each event.

A pass-through stream is relayed as the upstream wrote it; what the gateway must know of its middle is
only how much text the caller was sent (issue 12: a cut stream is charged for it). ``TextCounter``
finds the string values of a dialect's text fields in a block of complete events with one regular
expression over the whole block (no Python loop over events or characters) and measures them:
UTF-8 bytes as relayed, characters after JSON unescaping (one ``orjson`` call on the joined values,
so ``\\uXXXX`` escapes count as the characters they stand for). Any JSON spacing is read.

What counts, per dialect (the string values of these keys wherever they occur in an event):

- OpenAI chat and completions: content, reasoning_content, reasoning, refusal, text, and a tool call's
  arguments and name (as ``protocols/openai.delivered_size`` counts a parsed chunk);
- Anthropic Messages: text, thinking, partial_json (tool input), name (a tool_use block's);
- OpenAI Responses: delta (output text, refusals, reasoning, tool-call arguments as they stream).

Gemini's tool calls carry their arguments as JSON objects, not strings: its streams are read event by
event instead (services/gateway/translate.py).
"""

from __future__ import annotations

import re

import orjson

TEXT_KEYS: dict[str, tuple[bytes, ...]] = {
    "openai": (b"content", b"reasoning_content", b"reasoning", b"refusal", b"text", b"arguments", b"name"),
    "anthropic": (b"text", b"thinking", b"partial_json", b"name"),
    "responses": (b"delta",),
}


class TextCounter:
    """(characters, UTF-8 bytes) of the text fields' values in a block of complete SSE events."""

    __slots__ = ("_key", "_values")

    SAMPLE = 4096  # bytes looked at first, to pick the way through the block
    DENSE = 4  # values in the sample from which one regular-expression pass is the cheaper way

    def __init__(self, keys: tuple[bytes, ...]) -> None:
        key = b'"(?:' + b"|".join(re.escape(k) for k in keys) + rb')"\s*:\s*"'
        self._key = re.compile(key)  # up to the opening quote of a value
        self._values = re.compile(key + b'([^"]*)"')  # a value, up to the next quote

    def count(self, block: bytes, start: int = 0, end: int | None = None) -> tuple[int, int]:
        """Of ``block[start:end]`` (no copy is made)."""
        end = len(block) if end is None else end
        if end <= start:
            return 0, 0
        escapes = block.find(b"\\", start, end) >= 0
        sample = min(end, start + self.SAMPLE)
        if end == sample or len(self._key.findall(block, start, sample)) >= self.DENSE:
            # many short values (one word an event): one C-level pass over the block
            found = self._values.findall(block, start, end)
            if escapes and any(v.endswith(b"\\") for v in found):  # a value with a quote in it
                found = [block[a:b] for a, b in self._walk(block, start, end)]
        else:
            # long values: find each one's start, then its end quote with memchr (no scan of the text
            # by the regular-expression engine, which reads it a character at a time)
            spans = self._walk(block, start, end)
            if not escapes and block.isascii():
                size = sum(b - a for a, b in spans)
                return size, size
            found = [block[a:b] for a, b in spans]
        if not found:
            return 0, 0
        raw = b"".join(found)
        if not escapes:
            if raw.isascii():
                return len(raw), len(raw)
            text = raw.decode("utf-8", "replace")
            return len(text), len(text.encode())
        try:
            text = orjson.loads(b'"' + raw + b'"')
        except orjson.JSONDecodeError:  # a bad escape in one value: measure the values one by one
            return _one_by_one(found)
        return len(text), len(text.encode("utf-8", "surrogatepass"))

    def _walk(self, block: bytes, start: int, end: int) -> list[tuple[int, int]]:
        """Where every value is, escaped quotes inside it included: a loop per value, not per character."""
        found: list[tuple[int, int]] = []
        search, find = self._key.search, block.find
        pos = start
        while (m := search(block, pos, end)) is not None:
            first = close = m.end()
            while True:
                close = find(b'"', close, end)
                if close < 0:
                    return found
                i = close - 1
                while i >= first and block[i] == 92:  # the backslashes right before the quote
                    i -= 1
                if (close - 1 - i) % 2 == 0:  # an even run (none, or escaped backslashes): the end
                    break
                close += 1
            found.append((first, close))
            pos = close + 1
        return found


def _one_by_one(found: list[bytes]) -> tuple[int, int]:
    chars = size = 0
    for value in found:
        try:
            text = orjson.loads(b'"' + value + b'"')
        except orjson.JSONDecodeError:
            continue  # not a string a JSON parser would read: the caller got nothing readable from it
        chars += len(text)
        size += len(text.encode("utf-8", "surrogatepass"))
    return chars, size


COUNTERS = {dialect: TextCounter(keys) for dialect, keys in TEXT_KEYS.items()}
