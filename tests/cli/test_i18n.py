"""zh-CN everywhere a person reads in the CLI: every command's help, the framework's words, every error.

A text fails when, after removing what is code (options, commands, variables, quoted values, URLs,
identifiers), an English word is left that is not on the small allow-list below.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from relaygate.cli import i18n
from relaygate.cli import main as cli_main
from relaygate.cli.text import MESSAGES
from relaygate.core.errors import CATALOGUE, GatewayError

# product and protocol names, formats, units, and the literal values an operator types
ALLOWED = {
    "relaygate", "openai", "anthropic", "gemini", "azure", "deepseek", "moonshot", "qwen", "zhipu", "siliconflow",
    "openrouter", "groq", "mistral", "xai", "together", "ollama", "vllm", "one", "new", "api", "oneapi", "newapi",
    "claude", "codex", "cursor", "sdk", "cli", "sqlite", "postgresql", "mysql", "mariadb", "redis", "yaml", "json",
    "csv", "md", "html", "png", "svg", "url", "urls", "uri", "http", "https", "utc", "iso", "cidr", "cidrs", "ip",
    "webhook", "faq", "sse", "tokens", "token", "rpm", "tpm", "ms", "id", "ids", "ctrl", "stdin", "stdout",
    "person", "team", "service", "production", "testing", "personal", "high", "cost", "total", "daily", "monthly",
    "none", "never", "docs", "screenshots", "macros", "other", "legacy", "reject", "en", "zh", "cn", "lang",
    "pipeline", "ci", "internal", "tests", "scripts", "users", "pct", "topup", "adjustment", "abcd", "wxyz", "sk",
    "req", "key", "oa", "na", "quota", "concurrency", "all", "free", "max", "bool", "text", "integer",
    "float", "path", "old", "db", "user", "pass", "host", "tcp", "example", "com", "v1", "public", "upstream",
    "ago", "report", "plan", "lt", "gt", "true", "false", "english", "base", "markdown", "timeout",
    "bcrypt", "scrypt", "root", "admin", "support", "viewer", "kling", "vertex", "unix",
}
CODE = re.compile(
    r"https?://\S+|--[\w-]+|(?<![A-Za-z])\$?[A-Z][A-Z0-9_]{1,}\b|`[^`]*`|'[^']*'|\"[^\"]*\"|<[^>]*>|\{[^}]*\}|\[[^\]]*\]"
    r"|\b\w+(?:[._/:@=+-]\w+)+\b|\b\d+\w*\b")
WORD = re.compile(r"[A-Za-z]{2,}")


def english_words(text: str, commands: set[str]) -> set[str]:
    stripped = CODE.sub(" ", text)
    return {w for w in WORD.findall(stripped) if w.lower() not in ALLOWED and w not in commands}


def tree() -> tuple[list[list[str]], set[str]]:
    """Every command path, and every command name (names are code: they are what one types)."""
    cli_main._register()
    root = typer.main.get_command(cli_main.app)
    paths: list[list[str]] = []
    names: set[str] = set()

    def walk(cmd: Any, path: list[str]) -> None:
        paths.append(path)
        names.update(p.name for p in cmd.params if p.name)  # argument placeholders are code too
        for name, sub in getattr(cmd, "commands", {}).items():
            names.add(name)
            walk(sub, [*path, name])

    walk(root, [])
    return paths, names


@pytest.fixture
def zh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYGATE_LANG", "zh-CN")
    monkeypatch.setenv("COLUMNS", "1000")  # no line breaks inside words
    monkeypatch.setenv("RELAYGATE_INIT", "true")


def test_every_help_text_has_a_translation() -> None:
    tree()
    root = typer.main.get_command(cli_main.app)
    missing: list[str] = []

    def walk(cmd: Any, path: str) -> None:
        texts = [cmd.help, cmd.short_help, *(getattr(p, "help", None) for p in cmd.params)]
        missing.extend(f"{path}: {t!r}" for t in texts if t and t.strip() not in i18n.help_catalog())
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(root, "relaygate")
    assert not missing, ("add these to src/relaygate/locale/cli-help.zh-CN.json:\n" + "\n".join(missing))


def test_every_commands_help_renders_in_chinese(zh: None) -> None:
    paths, names = tree()
    runner = CliRunner()
    bad: dict[str, set[str]] = {}
    for path in paths:
        result = runner.invoke(cli_main.app, [*path, "--help"], prog_name="relaygate")
        assert result.exit_code == 0, (path, result.output)
        assert "用法" in result.output and ("选项" in result.output)
        words = english_words(result.output, names)
        if words:
            bad[" ".join(path) or "(root)"] = words
    assert not bad, bad
    assert len(paths) > 60  # the whole tree was walked


def test_the_root_lists_lazy_groups_with_their_real_help() -> None:
    """The root's --help names each group without importing it: its text must match the group's own."""
    import importlib

    for name, (_, target, short) in cli_main.LAZY.items():
        module, _, attr = target.partition(":")
        assert getattr(importlib.import_module(module), attr).info.help == short, name


def test_framework_errors_in_chinese(zh: None) -> None:
    _, names = tree()
    runner = CliRunner()
    cases = {
        ("keys", "lst"): "没有命令",
        ("keys", "create"): "缺少选项",
        ("keys", "list", "--nope"): "没有选项",
        ("logs", "search", "--limit", "many"): "的值无效",
        ("balance", "show"): "缺少参数",
    }
    for args, expected in cases.items():
        result = runner.invoke(cli_main.app, list(args), prog_name="relaygate")
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.output and "错误" in result.output, (args, result.output)
        assert not english_words(result.output, names), (args, result.output)


def test_every_cli_message_and_error_code_reads_in_chinese() -> None:
    _, names = tree()
    bad = {key: english_words(zh.format_map(_Any()), names) for key, (_, zh) in MESSAGES.items()}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, bad
    errors = {code: english_words(GatewayError(code).message("zh-CN"), names) for code in CATALOGUE}
    errors = {k: v for k, v in errors.items() if v}
    assert not errors, errors


def test_stats_table_reads_in_chinese(zh: None, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYGATE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("RELAYGATE_DATABASE_URL", raising=False)
    result = CliRunner().invoke(cli_main.app, ["stats"])
    assert result.exit_code == 0, result.output
    assert "日期" in result.output and "错误数" in result.output and "按类别" in result.output
    assert not english_words(result.output, tree()[1]), result.output


def test_english_stays_english(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYGATE_LANG", "zh-CN")
    CliRunner().invoke(cli_main.app, ["keys", "--help"])
    monkeypatch.setenv("RELAYGATE_LANG", "en")
    out = CliRunner().invoke(cli_main.app, ["keys", "--help"]).output
    assert "Usage:" in out and "Caller API keys" in out and "用法" not in out


def test_every_cli_modules_own_messages_read_in_chinese() -> None:
    """Each command module's (English, Chinese) table: codes, media, migrate, operators, rollout, support, users…"""
    import importlib
    import pkgutil

    import relaygate.cli

    _, names = tree()
    bad: dict[str, set[str]] = {}
    tables = 0
    for info in pkgutil.iter_modules(relaygate.cli.__path__):
        if info.name == "__main__":
            continue
        module = importlib.import_module(f"relaygate.cli.{info.name}")
        for attr, table in vars(module).items():
            if not (isinstance(table, dict) and table and all(
                    isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, str) for x in v)
                    for v in table.values())):
                continue
            tables += 1
            for key, (_, zh) in table.items():
                words = english_words(zh.format_map(_Any()), names)
                if words:
                    bad[f"{info.name}.{attr}[{key}]"] = words
    assert tables >= 8 and not bad, bad


class _Any(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "X"


def test_every_registered_group_is_reachable_lazily() -> None:
    """`relaygate` (main) loads groups from LAZY; a group only resources.register knows would be missing."""
    cli_main._register()
    registered = {g.name for g in cli_main.app.registered_groups} - {"db"}
    assert registered == set(cli_main.LAZY), registered ^ set(cli_main.LAZY)
