"""Model resolution, permissions and client detection on a built snapshot; no I/O."""

from __future__ import annotations

import time

import pytest

from relaygate.core.domain import ChannelRecord, GroupRecord, KeyRecord, ModelRecord
from relaygate.core.errors import GatewayError
from relaygate.services.gateway.catalog import Snapshot
from relaygate.services.gateway.clients import detect_client
from relaygate.services.gateway.health import HealthBoard
from relaygate.store.repo import StateRows


def channel(cid: int, models: dict[str, str], groups: frozenset[str] | None = None, enabled: bool = True,
            priority: int = 0) -> ChannelRecord:
    return ChannelRecord(cid, f"c{cid}", "openai", "http://x/v1", ("s",), models, groups, priority, 1, enabled,
                         None, 1.0, 1.0, 1.0)


def key(group: str = "default", allowed: frozenset[str] | None = None) -> KeyRecord:
    return KeyRecord("key_1", "h", "sk-…", "k", "own", group, "production", True, None, None, allowed, None)


SNAP = Snapshot.build(StateRows(
    keys=[], owners=[], groups=[GroupRecord("default", None), GroupRecord("cheap", frozenset({"mini"}))],
    channels=[channel(1, {"mini": "gpt-4o-mini", "big": "gpt-4o"}, priority=5),
              channel(2, {"mini": "m2"}, groups=frozenset({"cheap"})), channel(3, {"gone": "g"}, enabled=False)],
    models=[ModelRecord("mini", ("mini-old",), "active", None),
            ModelRecord("retired", (), "unsupported", "mini")]))


def test_resolve_alias_unsupported_and_suggestions() -> None:
    assert SNAP.resolve("mini-old") == "mini"
    with pytest.raises(GatewayError) as info:
        SNAP.resolve("retired")
    assert info.value.code == "model_unsupported" and "'mini'" in str(info.value)
    with pytest.raises(GatewayError) as info:
        SNAP.resolve("minii")
    assert info.value.code == "model_not_found" and "'mini'" in str(info.value)


def test_candidates_respect_groups_and_priority() -> None:
    assert [r.channel.id for r in SNAP.candidates("mini", "default")] == [1]
    assert [r.channel.id for r in SNAP.candidates("mini", "cheap")] == [1, 2]
    assert SNAP.candidates("gone", "default") == []


def test_allowed_models_and_check() -> None:
    assert SNAP.allowed_models(key()) == ["big", "mini"]
    assert SNAP.allowed_models(key("cheap")) == ["mini"]
    assert SNAP.allowed_models(key(allowed=frozenset({"big"}))) == ["big"]
    with pytest.raises(GatewayError) as info:
        SNAP.check_allowed(key("cheap"), "big", "big")
    assert info.value.status == 403 and "mini" in str(info.value)


@pytest.mark.parametrize(("ua", "headers", "expected"), [
    ("claude-cli/2.1.197 (external, cli)", {}, ("claude-code", "2.1.197")),
    ("codex_exec/0.169.0 (Debian 12; x86_64)", {}, ("codex-cli", "0.169.0")),
    ("OpenAI/Python 3.54.0", {}, ("openai-python", "3.54.0")),
    ("AsyncOpenAI/Python 3.54.0", {}, ("openai-python", "3.54.0")),
    ("OpenAI/JS 6.49.0", {}, ("openai-node", "6.49.0")),
    ("Anthropic/Python 2.12.0", {}, ("anthropic-python", "2.12.0")),
    ("GeminiCLI/0.61.0/gemini-2.5-pro (linux; x64)", {}, ("gemini-cli", "0.61.0")),
    ("GeminiCLI-nightly/0.62.0/x (linux)", {}, ("gemini-cli", "0.62.0")),
    ("QwenCode/0.15.10 (linux; x64)", {}, ("qwen-code", "0.15.10")),
    ("opencode/1.18.33 ai-sdk/provider-utils/3.0.0", {}, ("opencode", "1.18.33")),
    ("curl/8.5.0", {}, ("curl", "8.5.0")),
    ("Mozilla/5.0 CherryStudio/1.5.3 Chrome/130", {}, ("cherry-studio", "1.5.3")),
    ("", {"originator": "codex_exec"}, ("codex-cli", None)),
    ("something/1.0", {}, ("unknown", None)),
])
def test_client_detection(ua: str, headers: dict[str, str], expected: tuple[str, str | None]) -> None:
    assert detect_client({"user-agent": ua, **headers}) == expected


def test_health_board_cools_after_threshold_and_recovers() -> None:
    board = HealthBoard(failure_threshold=2, cooldown_seconds=0.05, cooldown_max_seconds=10)
    board.failure(1, "x")
    assert board.is_available(1)
    board.failure(1, "y")
    assert not board.is_available(1) and board.get(1).reason == "y"
    time.sleep(0.06)
    assert board.due_for_probe() == [1]
    board.probe_failed(1, "still down")  # doubles: 0.1 s (a window a busy machine does not miss)
    assert board.get(1).cooldown_seconds == 0.1 and board.due_for_probe() == []
    board.success(1)
    assert board.is_available(1) and board.take_dirty()[0][1].state == "healthy"


def test_a_cooling_channel_is_probed_every_few_seconds_not_once_per_cooldown() -> None:
    board = HealthBoard(failure_threshold=1, cooldown_seconds=300, cooldown_max_seconds=600,
                        recovery_probe_seconds=0.05)
    board.failure(1, "down")
    assert board.due_for_probe() == []
    time.sleep(0.06)
    assert board.due_for_probe() == [1]  # long before the 300 s cool-down ends
    board.probe_failed(1, "still down")
    assert board.get(1).cooldown_seconds == 600 and board.due_for_probe() == []
    time.sleep(0.06)
    assert board.due_for_probe() == [1]
