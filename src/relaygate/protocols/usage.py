"""Token usage as the gateway counts it, whatever dialect reported it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    def __post_init__(self) -> None:
        if not self.total_tokens:
            self.total_tokens = self.prompt_tokens + self.completion_tokens


def estimate_tokens(text: str) -> int:
    """A cheap, conservative token estimate from the text's sizes, never a walk over its characters.

    About four characters a token for ASCII; every byte a non-ASCII character takes beyond its first
    counts half a token more, so CJK text (three UTF-8 bytes a character, about one token each) is
    counted at 1.25 tokens a character. Both sizes are C-level operations.
    """
    if not text:
        return 0
    chars = len(text)
    if text.isascii():
        return (chars + 3) // 4
    extra = len(text.encode("utf-8", "surrogatepass")) - chars
    return (chars + 3) // 4 + (extra + 1) // 2


def estimate_prompt_bytes(body_len: int) -> int:
    """The prompt estimate the gateway holds money and tokens on: the body's size, about four bytes a
    token. It counts everything the model reads (system prompt, tools, the conversation) and some
    JSON it does not, so it errs high; the upstream's real count replaces it when the answer ends."""
    return max(body_len // 4, 1)


def estimate_from_size(chars: int, utf8_bytes: int) -> int:
    """Tokens of a text known by its sizes only: ASCII about 4 characters a token, a wide (CJK,
    3-byte) character one token. No loop over the characters: ``len(s)`` and ``len(s.encode())``."""
    if chars <= 0:
        return 0
    wide = min(max(utf8_bytes - chars, 0) // 2, chars)
    return wide + max(1, (chars - wide + 3) // 4) if chars > wide else wide
