"""Redaction: strip anything shaped like a secret from text that may reach logs or callers."""

from __future__ import annotations

import re

_PATTERNS = [
    re.compile(r"\b(sk|rga|pk|rk|ak)-[A-Za-z0-9_\-]{8,}"),  # sk-..., sk-proj-..., sk-ant-...
    re.compile(r"\brg[irv]_[A-Za-z0-9_\-]{16,}"),  # the portal's invite, reset and verification tokens
    re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"),  # Google API keys
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{12,}"),
    re.compile(r"(?i)(api[_-]?key[\"'=:\s]+)[A-Za-z0-9._\-]{12,}"),
    re.compile(r"\b[A-Za-z0-9]{40,}\b"),  # long opaque tokens (One API keys are 48 chars)
]


def _mask(match: re.Match[str]) -> str:
    text = match.group(0)
    if match.re.groups and match.group(1):
        return match.group(1) + "[redacted]"
    return text[:4] + "…[redacted]"


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(_mask, text)
    return text
