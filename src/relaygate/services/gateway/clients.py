"""Which client sent a request, from its User-Agent and tell-tale headers (patterns in docs/clients.md).

Apps built on an SDK (LobeChat's server runs the OpenAI Node SDK; Cherry Studio may) carry the SDK's
User-Agent, so a generic match is refined by the headers the app adds itself: ``X-Title`` /
``HTTP-Referer`` (Cherry Studio, LobeHub), ``x-app: cli`` (Claude Code), ``originator`` (Codex CLI).
Cursor sends its bring-your-own-key calls from its own servers; it is recognised by a ``Cursor``
token in the User-Agent or ``x-cursor-*`` headers, a heuristic (no published pattern).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

# (client name, User-Agent pattern with the version as the last group); first match wins.
_UA_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("claude-code", re.compile(r"^claude-cli/(\S+)")),
    ("codex-cli", re.compile(r"^codex_[a-z_]+/(\S+)")),
    ("gemini-cli", re.compile(r"^GeminiCLI(?:-[a-z0-9-]+)?/([^/\s]+)")),
    ("qwen-code", re.compile(r"^QwenCode/(\S+)")),
    ("opencode", re.compile(r"^opencode/(\S+)")),
    ("openai-python", re.compile(r"^(?:Async)?OpenAI/Python (\S+)")),
    ("openai-node", re.compile(r"^(?:Async)?OpenAI/JS (\S+)")),
    ("anthropic-python", re.compile(r"^(?:Async)?Anthropic/Python (\S+)")),
    ("anthropic-node", re.compile(r"^(?:Async)?Anthropic/JS (\S+)")),
    ("cherry-studio", re.compile(r"CherryStudio/(\S+)", re.I)),
    ("lobechat", re.compile(r"Lobe(?:Chat|Hub)(?:/(\S+))?", re.I)),
    ("chatbox", re.compile(r"Chatbox(?:AI)?(?:/(\S+))?", re.I)),
    ("cursor", re.compile(r"Cursor(?:/(\S+))?", re.I)),
    ("curl", re.compile(r"^curl/(\S+)")),
    ("python-requests", re.compile(r"^python-requests/(\S+)")),
    ("python-httpx", re.compile(r"^python-httpx/(\S+)")),
    ("aiohttp", re.compile(r"aiohttp/(\S+)")),
    ("node-fetch", re.compile(r"^node(?:-fetch)?(?:/(\S+))?$")),
    ("go-http", re.compile(r"^Go-http-client/(\S+)")),
]


# User-Agents that name a library, not the app using it: headers may say which app it is
_GENERIC = frozenset({"unknown", "openai-python", "openai-node", "anthropic-python", "anthropic-node",
                      "node-fetch", "aiohttp", "python-httpx", "python-requests", "go-http"})
# (header, lower-case substring of its value, client)
_HEADER_HINTS = (("x-title", "cherry studio", "cherry-studio"), ("http-referer", "cherry-ai.com", "cherry-studio"),
                 ("x-title", "lobehub", "lobechat"), ("x-title", "lobe chat", "lobechat"),
                 ("http-referer", "lobehub.com", "lobechat"), ("x-title", "chatbox", "chatbox"),
                 ("http-referer", "chatboxai.app", "chatbox"))


def detect_client(headers: Mapping[str, str]) -> tuple[str, str | None]:
    """(client name, version or None); 'unknown' when nothing matches. Cached per User-Agent."""
    ua = headers.get("user-agent", "")
    found = _from_user_agent(ua)
    if found[0] not in _GENERIC:
        return found
    if headers.get("x-app") == "cli":
        return "claude-code", None
    if headers.get("originator", "").startswith("codex"):
        return "codex-cli", None
    if "x-title" in headers or "http-referer" in headers:  # most requests carry neither: no walk of the hints
        for name, needle, client in _HEADER_HINTS:
            value = headers.get(name)
            if value and needle in value.lower():
                return client, None
    if found[0] == "unknown" and any(name.startswith("x-cursor-") for name in headers):
        return "cursor", None
    return found


@functools.lru_cache(maxsize=4096)
def _from_user_agent(ua: str) -> tuple[str, str | None]:
    for name, pattern in _UA_PATTERNS:
        match = pattern.search(ua)
        if match:
            version = match.group(match.lastindex) if match.lastindex else None
            return name, (version[:32] if version else None)
    return "unknown", None
