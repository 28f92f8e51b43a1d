"""Client detection against every row of the observed-clients table (shared docs/clients.md) and the GUI apps."""

from __future__ import annotations

import pytest

from relaygate.services.gateway.clients import detect_client
from relaygate.services.notices.clients import CLIENTS, EMAIL_CLIENTS, spec_for_detected

# (User-Agent as observed, extra headers, expected); one block per row of docs/clients.md
OBSERVED = [
    # Claude Code CLI 2.1.197: ^claude-cli/(\S+) \(external, ([a-z-]+)\); also x-app: cli
    ("claude-cli/2.1.197 (external, cli)", {"x-app": "cli"}, ("claude-code", "2.1.197")),
    ("claude-cli/2.1.197 (external, sdk-ts)", {}, ("claude-code", "2.1.197")),
    ("", {"x-app": "cli", "x-claude-code-session-id": "s1"}, ("claude-code", None)),
    # Codex CLI 0.169.0: ^codex_[a-z_]+/(\S+) \(; originator: codex_exec
    ("codex_exec/0.169.0 (Ubuntu 24.4.0; x86_64) xterm-256color", {"originator": "codex_exec"},
     ("codex-cli", "0.169.0")),
    ("codex_cli_rs/0.169.0 (Mac OS 15.1.0; arm64)", {}, ("codex-cli", "0.169.0")),
    ("", {"originator": "codex_cli_rs"}, ("codex-cli", None)),
    # openai Python 3.54 / Node 6.49: ^OpenAI/(Python|JS) (\S+), x-stainless-*
    ("OpenAI/Python 3.54.0", {"x-stainless-lang": "python"}, ("openai-python", "3.54.0")),
    ("AsyncOpenAI/Python 3.54.0", {}, ("openai-python", "3.54.0")),
    ("OpenAI/JS 6.49.0", {"x-stainless-lang": "js"}, ("openai-node", "6.49.0")),
    # anthropic Python 2.12 / Node 1.12: ^Anthropic/(Python|JS) (\S+)
    ("Anthropic/Python 2.12.0", {}, ("anthropic-python", "2.12.0")),
    ("AsyncAnthropic/Python 2.12.0", {}, ("anthropic-python", "2.12.0")),
    ("Anthropic/JS 1.12.0", {}, ("anthropic-node", "1.12.0")),
    # Gemini CLI 0.61.0: ^GeminiCLI(-[a-z]+)?/(\S+)/
    ("GeminiCLI/0.61.0/gemini-2.5-pro (linux; x64)", {"x-goog-api-key": "k"}, ("gemini-cli", "0.61.0")),
    ("GeminiCLI-nightly/0.62.0/gemini-2.5-flash (darwin; arm64)", {}, ("gemini-cli", "0.62.0")),
    # Qwen Code 0.15.10: ^QwenCode/(\S+)
    ("QwenCode/0.15.10 (linux; x64)", {}, ("qwen-code", "0.15.10")),
    # opencode 1.18.33: ^opencode/(\S+) ai-sdk/
    ("opencode/1.18.33 ai-sdk/provider-utils/3.0.10 runtime/bun/1.3.0", {}, ("opencode", "1.18.33")),
    # llm 0.36: same as the openai Python SDK
    ("OpenAI/Python 3.54.0", {}, ("openai-python", "3.54.0")),
    # curl and unknown
    ("curl/8.5.0", {}, ("curl", "8.5.0")),
    ("", {}, ("unknown", None)),
    ("SomethingElse/1.0", {}, ("unknown", None)),
]

# GUI apps: Electron User-Agents carry the app's name; apps on an SDK are told apart by their own headers
APPS = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) CherryStudio/1.9.6 "
     "Chrome/138.0.0.0 Electron/37.2.3 Safari/537.36", {}, ("cherry-studio", "1.9.6")),
    ("CherryStudio/1.9.6", {"x-title": "Cherry Studio"}, ("cherry-studio", "1.9.6")),
    ("OpenAI/JS 5.12.2", {"x-title": "Cherry Studio", "http-referer": "https://cherry-ai.com"},
     ("cherry-studio", None)),
    ("OpenAI/JS 5.12.2", {"x-title": "LobeHub", "http-referer": "https://lobehub.com"}, ("lobechat", None)),
    ("OpenAI/JS 4.104.0", {"x-title": "Lobe Chat"}, ("lobechat", None)),
    ("Mozilla/5.0 (Macintosh) LobeHub/1.96.0 Chrome/134", {}, ("lobechat", "1.96.0")),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chatbox/1.15.1 "
     "Chrome/134.0.0.0 Electron/35.1.2 Safari/537.36", {}, ("chatbox", "1.15.1")),
    ("Cursor/1.7.2", {}, ("cursor", "1.7.2")),
    ("", {"x-cursor-checksum": "abc"}, ("cursor", None)),
]


@pytest.mark.parametrize(("ua", "headers", "expected"), OBSERVED + APPS,
                         ids=[f"{exp[0]}:{ua[:40] or sorted(h)}" for ua, h, exp in OBSERVED + APPS])
def test_client_detection(ua: str, headers: dict[str, str], expected: tuple[str, str | None]) -> None:
    assert detect_client({"user-agent": ua, **headers} if ua else headers) == expected


def test_every_email_client_and_every_detected_cli_maps_to_a_spec() -> None:
    assert [c.id for c in EMAIL_CLIENTS] == ["cursor", "cherry-studio", "lobechat", "chatbox", "claude-code",
                                             "codex-cli", "python-sdk", "node-sdk", "openai-media", "kling-http"]
    detected = {exp[0] for _, _, exp in OBSERVED + APPS} - {"curl", "unknown"}
    for name in detected:
        assert spec_for_detected(name) is not None, name
    assert len({c.id for c in CLIENTS}) == len(CLIENTS)
