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
    """A cheap, conservative token estimate (about 4 characters or one CJK character per token)."""
    if not text:
        return 0
    cjk = sum(1 for ch in text if "\u3000" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af")
    return cjk + max(1, (len(text) - cjk + 3) // 4)


def estimate_from_size(chars: int, utf8_bytes: int) -> int:
    """Tokens of a text known by its sizes only: ASCII about 4 characters a token, a wide (CJK,
    3-byte) character one token. No loop over the characters: ``len(s)`` and ``len(s.encode())``."""
    if chars <= 0:
        return 0
    wide = min(max(utf8_bytes - chars, 0) // 2, chars)
    return wide + max(1, (chars - wide + 3) // 4) if chars > wide else wide
