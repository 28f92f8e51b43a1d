"""A transcript's output tokens, for transcriptions priced per 1M output tokens (``mtokens``).

The upstream's ``usage.output_tokens`` when it reports them (OpenAI's gpt-4o-*transcribe); else an
estimate from the transcript's sizes (protocols/usage.py ``estimate_tokens``: no per-character loop),
marked estimated. A JSON answer's transcript is its ``text``; a bare answer (``text``, ``srt``, ``vtt``)
is counted whole, cue numbers and timestamps included, so it errs high.
"""

from __future__ import annotations

from typing import Any

from relaygate.protocols.usage import estimate_tokens


def output_tokens(doc: Any, raw: bytes) -> tuple[int, bool]:
    """(tokens, estimated) of a transcription answer: ``doc`` is ``raw`` parsed ({} when it is not JSON)."""
    if isinstance(doc, dict):
        usage = doc.get("usage")
        reported = usage.get("output_tokens") if isinstance(usage, dict) else None
        if isinstance(reported, int) and not isinstance(reported, bool) and reported >= 0:
            return reported, False
        text = doc.get("text")
        if isinstance(text, str):
            return estimate_tokens(text), True
        if doc:
            return 0, True  # JSON without a transcript: nothing was transcribed
    return estimate_tokens(raw.decode("utf-8", "replace")), True
