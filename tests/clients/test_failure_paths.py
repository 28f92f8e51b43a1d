"""What the person at the real client sees when a request cannot succeed, and how fast the client stops.

Claude Code, Codex CLI and Gemini CLI (the npm packages `.ci/run` installs) are pointed at relaygate
and hit the four failures users meet most: a wrong key, a model the key may not use, an owner with no
balance, and an upstream that is down. Each must print relaygate's own message (not a retry loop, not
"529 Overloaded", not the channel's address) and stop within 10 seconds.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from relaygate.fakeupstream import FakeUpstream
from relaygate.store import tables as t
from tests.clients.test_real_clients import CLIENTS
from tests.harness import Running, free_socket

pytestmark = pytest.mark.skipif(not (CLIENTS / "claude").exists(), reason=(
    "real CLIs not installed: npm install @anthropic-ai/claude-code @openai/codex @google/gemini-cli in a folder "
    "and set RELAYGATE_TEST_CLIENTS_DIR to it (.ci/run does)"))

LIMIT = 10.0  # seconds the person waits before the client gives up and says why
NAMES = {"claude": "claude-code", "codex": "codex-cli", "gemini": "gemini-cli"}  # as usage records name them


async def run_client(client: str, gw: Running, key: str, model: str, home: Path) -> tuple[str, float]:
    """Run one CLI headless; return its output and the seconds from its first request to its exit.

    Killed after 120 s: node start-up alone can take tens of seconds when the shared 2-core machine is
    loaded; what is asserted is the time after the first request."""
    await asyncio.to_thread(home.mkdir, parents=True, exist_ok=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "DISABLE_TELEMETRY": "1", "NO_COLOR": "1",
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
    if client == "claude":
        args = [str(CLIENTS / "claude"), "-p", "say hello", "--model", model]
        env |= {"ANTHROPIC_BASE_URL": gw.root, "ANTHROPIC_API_KEY": key}
    elif client == "codex":
        provider = (f'model_providers.relaygate={{name="relaygate",base_url="{gw.base_url}",'
                    'wire_api="responses",env_key="RELAYGATE_API_KEY",supports_websockets=false}')
        args = [str(CLIENTS / "codex"), "exec", "--skip-git-repo-check", "-c", "model_provider=relaygate",
                "-c", provider, "-m", model, "say hello"]
        env |= {"RELAYGATE_API_KEY": key}
    else:
        settings = home / ".gemini" / "settings.json"
        await asyncio.to_thread(settings.parent.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(settings.write_text, '{"security":{"auth":{"selectedType":"gemini-api-key"}}}')
        args = [str(CLIENTS / "gemini"), "-p", "say hello", "-m", model]
        env |= {"GOOGLE_GEMINI_BASE_URL": gw.root, "GEMINI_API_KEY": key, "GEMINI_CLI_TRUST_WORKSPACE": "true"}
    proc = await asyncio.create_subprocess_exec(*args, env=env, cwd=home, stdout=subprocess.PIPE,
                                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
        out += b"\n[killed after 120 s]"
    ended = time.time()
    # from the client's first request to its exit: the CLIs' own start-up (node, up to ~8 s on a busy
    # 2-core machine for Gemini CLI) is not what the person waits for after pressing enter
    await gw.gateway.usage.flush()
    async with gw.gateway.engine.connect() as conn:
        first_ms = (await conn.execute(select(func.min(t.usage_records.c.ts)).where(
            t.usage_records.c.client == NAMES[client]))).scalar()
    first = (first_ms or ended * 1000) / 1000
    return out.decode(errors="replace"), ended - first


async def scenario(name: str, gw: Running, fake: FakeUpstream) -> tuple[str, str, str]:
    """Set up one failure; return (key, model, a phrase of relaygate's message the person must see)."""
    if name == "wrong_key":
        await gw.add_channel(fake, "up", ["demo-chat"])
        return "sk-relaygate-this-key-does-not-exist-0000", "demo-chat", "is not known to this gateway"
    if name == "model_not_allowed":
        await gw.add_channel(fake, "up", ["demo-chat", "other-model"])
        secret, _ = await gw.add_key("limited", allowed_models=["other-model"])
        return secret, "demo-chat", "may not use model 'demo-chat'"
    if name == "zero_balance":
        await gw.add_channel(fake, "up", ["demo-chat"])
        await gw.gateway.pricing.set_price("demo-chat", input_per_m="2", output_per_m="8")
        secret, _ = await gw.add_key("broke")
        return secret, "demo-chat", "Top up"
    assert name == "upstream_down"
    sock = free_socket()  # a port nobody listens on: connection refused
    port = sock.getsockname()[1]
    sock.close()
    await gw.gateway.routing.create_channel(name="down", base_url=f"http://127.0.0.1:{port}/v1",
                                            secrets=["sk-upstream-test-secret-0001"], models=["demo-chat"])
    await gw.gateway.state.reload()
    secret, _ = await gw.add_key("user")
    return secret, "demo-chat", f"upstream|{port}"


@pytest.mark.parametrize("name", ["wrong_key", "model_not_allowed", "zero_balance", "upstream_down"])
async def test_clients_show_relaygates_message_and_stop(name: str, gw: Running, fake: FakeUpstream,
                                                        tmp_path: Path) -> None:
    """The three CLIs at once against one gateway (they wait on the network, not the CPU, after start-up)."""
    key, model, phrase = await scenario(name, gw, fake)
    runs = await asyncio.gather(*(run_client(c, gw, key, model, tmp_path / c) for c in NAMES))
    for client, (out, seconds) in zip(NAMES, runs, strict=True):
        check(client, name, phrase, out, seconds)
        print(f"{name} {client}: stopped {seconds:.1f} s after its first request")


def check(client: str, name: str, phrase: str, out: str, seconds: float) -> None:
    phrase, _, port = phrase.partition("|")
    assert phrase in out, f"{client}: {out}"
    assert "request id: " in out, out  # relaygate's own text, not the client's paraphrase
    assert "Overloaded" not in out, out
    assert "Failed to authenticate" not in out or name == "wrong_key", out  # Claude Code's 401/403 prefix
    if port:
        assert port not in out and not re.search(r"\('127\.0\.0\.1', \d+\)", out), out  # no channel address
    assert seconds < LIMIT, f"{client} took {seconds:.1f} s from its first request to giving up:\n{out}"
