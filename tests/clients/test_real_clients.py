"""The real CLIs, unmodified, through relaygate: Claude Code, Codex CLI and Gemini CLI.

They are npm packages; `.ci/run` installs them into RELAYGATE_TEST_CLIENTS_DIR. Each is pointed at a
relaygate whose only channel is an OpenAI-protocol upstream, so every request is translated.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from relaygate.fakeupstream import FakeUpstream
from tests.harness import Running

CLIENTS = Path(os.environ.get("RELAYGATE_TEST_CLIENTS_DIR", "/nonexistent")) / "node_modules" / ".bin"
pytestmark = pytest.mark.skipif(not (CLIENTS / "claude").exists(), reason=(
    "real CLIs not installed: npm install @anthropic-ai/claude-code @openai/codex @google/gemini-cli in a folder "
    "and set RELAYGATE_TEST_CLIENTS_DIR to it (.ci/run does)"))


async def run(args: list[str], env: dict[str, str], home: Path) -> str:
    await asyncio.to_thread(home.mkdir, parents=True, exist_ok=True)
    full = {"PATH": os.environ["PATH"], "HOME": str(home), "DISABLE_TELEMETRY": "1", "NO_COLOR": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", **env}
    proc = await asyncio.create_subprocess_exec(*args, env=full, cwd=home, stdout=subprocess.PIPE,
                                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    return out.decode(errors="replace")


@pytest.fixture
async def served(gw: Running, fake: FakeUpstream) -> tuple[Running, str]:
    await gw.add_channel(fake, "openai-up", ["demo-chat"])
    secret, _ = await gw.add_key("cli-user")
    return gw, secret


async def test_claude_code(served: tuple[Running, str], tmp_path: Path) -> None:
    gw, key = served
    out = await run([str(CLIENTS / "claude"), "-p", "say hello", "--model", "demo-chat"],
                    {"ANTHROPIC_BASE_URL": gw.root, "ANTHROPIC_API_KEY": key}, tmp_path / "home")
    assert "Hello from the relaygate demo upstream" in out, out
    rows = await gw.usage_rows()
    assert {r["client"] for r in rows if r["entry_path"].startswith("/v1/messages")} == {"claude-code"}


async def test_codex_cli(served: tuple[Running, str], tmp_path: Path) -> None:
    gw, key = served
    provider = (f'model_providers.relaygate={{name="relaygate",base_url="{gw.base_url}",wire_api="responses",'
                'env_key="RELAYGATE_API_KEY",supports_websockets=false}')
    out = await run([str(CLIENTS / "codex"), "exec", "--skip-git-repo-check", "-c", "model_provider=relaygate",
                     "-c", provider, "-m", "demo-chat", "say hello"], {"RELAYGATE_API_KEY": key}, tmp_path / "home")
    assert "Hello from the relaygate demo upstream" in out, out
    rows = await gw.usage_rows()
    assert any(r["entry_path"] == "/v1/responses" and r["status"] == 200 and r["client"] == "codex-cli"
               for r in rows)


async def test_gemini_cli(served: tuple[Running, str], tmp_path: Path) -> None:
    gw, key = served
    home = tmp_path / "home"
    settings = home / ".gemini" / "settings.json"
    await asyncio.to_thread(settings.parent.mkdir, parents=True)
    await asyncio.to_thread(settings.write_text, '{"security":{"auth":{"selectedType":"gemini-api-key"}}}')
    out = await run([str(CLIENTS / "gemini"), "-p", "say hello", "-m", "demo-chat"],
                    {"GOOGLE_GEMINI_BASE_URL": gw.root, "GEMINI_API_KEY": key, "GEMINI_CLI_TRUST_WORKSPACE": "true"},
                    home)
    assert "Hello from the relaygate demo upstream" in out, out
    rows = await gw.usage_rows()
    assert any(":generateContent" in r["entry_path"] or ":streamGenerateContent" in r["entry_path"] for r in rows)


async def test_codex_builtin_provider_falls_back_from_websocket_at_once(served: tuple[Running, str],
                                                                       tmp_path: Path) -> None:
    """Codex's built-in provider re-pointed at relaygate tries the Responses WebSocket first; the 426
    answer makes it fall back to HTTP after one attempt instead of seven ("Reconnecting... 5/5")."""
    gw, key = served
    out = await run([str(CLIENTS / "codex"), "exec", "--skip-git-repo-check", "-c",
                     f'openai_base_url="{gw.base_url}"', "-m", "demo-chat", "say hello"],
                    {"CODEX_API_KEY": key}, tmp_path / "home")
    assert "Hello from the relaygate demo upstream" in out, out
    assert "Reconnecting" not in out, out
    assert out.count("failed to connect to Responses WebSocket") <= 1, out
