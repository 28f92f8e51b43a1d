"""Which client sent a request, from its User-Agent and tell-tale headers (patterns in docs/clients.md)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

# (client name, User-Agent pattern with the version as the last group); first match wins.
_UA_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("claude-code", re.compile(r"^claude-cli/(\S+)")),
    ("codex-cli", re.compile(r"^codex_[a-z_]+/(\S+)")),
    ("gemini-cli", re.compile(r"^GeminiCLI(?:-[a-z]+)?/([^/\s]+)")),
    ("qwen-code", re.compile(r"^QwenCode/(\S+)")),
    ("opencode", re.compile(r"^opencode/(\S+)")),
    ("openai-python", re.compile(r"^(?:Async)?OpenAI/Python (\S+)")),
    ("openai-node", re.compile(r"^(?:Async)?OpenAI/JS (\S+)")),
    ("anthropic-python", re.compile(r"^(?:Async)?Anthropic/Python (\S+)")),
    ("anthropic-node", re.compile(r"^(?:Async)?Anthropic/JS (\S+)")),
    ("cherry-studio", re.compile(r"CherryStudio/(\S+)", re.I)),
    ("lobechat", re.compile(r"LobeChat(?:/(\S+))?", re.I)),
    ("chatbox", re.compile(r"Chatbox(?:AI)?(?:/(\S+))?", re.I)),
    ("cursor", re.compile(r"Cursor(?:/(\S+))?", re.I)),
    ("curl", re.compile(r"^curl/(\S+)")),
    ("python-requests", re.compile(r"^python-requests/(\S+)")),
    ("python-httpx", re.compile(r"^python-httpx/(\S+)")),
    ("aiohttp", re.compile(r"aiohttp/(\S+)")),
    ("node-fetch", re.compile(r"^node(?:-fetch)?(?:/(\S+))?$")),
    ("go-http", re.compile(r"^Go-http-client/(\S+)")),
]


def detect_client(headers: Mapping[str, str]) -> tuple[str, str | None]:
    """(client name, version or None); 'unknown' when nothing matches. Cached per User-Agent."""
    ua = headers.get("user-agent", "")
    found = _from_user_agent(ua)
    if found[0] != "unknown":
        return found
    if headers.get("x-app") == "cli":
        return "claude-code", None
    if headers.get("originator", "").startswith("codex"):
        return "codex-cli", None
    return found


@functools.lru_cache(maxsize=4096)
def _from_user_agent(ua: str) -> tuple[str, str | None]:
    for name, pattern in _UA_PATTERNS:
        match = pattern.search(ua)
        if match:
            version = match.group(match.lastindex) if match.lastindex else None
            return name, (version[:32] if version else None)
    return "unknown", None
