"""With RELAYGATE_LANG=zh-CN the CLI speaks Simplified Chinese, including service errors."""

from __future__ import annotations

import pytest

from .conftest import Invoke


def test_chinese_output(cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYGATE_LANG", "zh-CN")
    assert "分组 'default' 已保存；模型：全部。" in cli("groups", "add", "default").output
    cli("owners", "add", "alice")
    created = cli("keys", "create", "--name", "ci", "--owner", "alice").output
    assert "密钥已创建" in created
    assert "它不会再次显示" in created
    missing = cli("keys", "create", "--name", "ci", "--owner", "alice", "--group", "nope", ok=False)
    assert missing.exit_code == 2
    assert "错误：分组" in missing.output
    assert "不存在" in missing.output
    past = cli("keys", "create", "--name", "x", "--owner", "alice", "--expires", "2001-01-01", ok=False)
    assert "已经过去" in past.output
    assert "没有匹配的使用记录。" in cli("logs", "search").output
    assert "没有需要变更的内容。" in cli("config", "apply", "-", input="version: 1\n").output
    assert "找不到分组 'team-x'" in cli("groups", "delete", "team-x", ok=False).output
    cli("groups", "add", "team-x")
    assert "已删除分组 team-x。" in cli("groups", "delete", "team-x").output
