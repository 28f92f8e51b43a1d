"""Delivered means delivered in every dialect: a cut stream is charged for the text the caller received."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from relaygate.core.money import parse_amount
from relaygate.fakeupstream import FakeUpstream
from relaygate.protocols.usage import estimate_from_size
from relaygate.store import tables as t
from tests.faults.conftest import sse_events
from tests.harness import Running, plan

SAID = "tell me a fairly long story about the sea and the ships on it"


def request_for(caller: str) -> tuple[str, dict[str, Any]]:
    if caller == "openai":
        return "/v1/chat/completions", {"model": "m", "stream": True, "max_tokens": 100,
                                        "messages": [{"role": "user", "content": SAID}]}
    if caller == "anthropic":
        return "/v1/messages", {"model": "m", "stream": True, "max_tokens": 100,
                                "messages": [{"role": "user", "content": SAID}]}
    if caller == "responses":
        return "/v1/responses", {"model": "m", "stream": True, "input": SAID}
    return "/v1beta/models/m:streamGenerateContent?alt=sse", {"contents": [{"role": "user", "parts": [{"text": SAID}]}]}


def caller_text(caller: str, events: list[Any]) -> str:
    out = []
    for e in events:
        if not isinstance(e, dict):
            continue
        if caller == "openai":
            out += [c.get("delta", {}).get("content") or "" for c in e.get("choices") or ()]
        elif caller == "anthropic" and e.get("type") == "content_block_delta":
            out.append(e["delta"].get("text") or "")
        elif caller == "responses" and e.get("type") == "response.output_text.delta":
            out.append(e.get("delta") or "")
        elif caller == "gemini":
            for cand in e.get("candidates") or ():
                out += [p.get("text") or "" for p in (cand.get("content") or {}).get("parts") or ()]
    return "".join(out)


@pytest.mark.parametrize("upstream", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("caller", ["openai", "anthropic", "responses", "gemini"])
async def test_cut_stream_is_charged_for_what_the_caller_received(gw: Running, fake: FakeUpstream, caller: str,
                                                                  upstream: str) -> None:
    base = f"http://127.0.0.1:{fake.port}/v1beta" if upstream == "gemini" else fake.base_url
    await gw.gateway.routing.create_channel(name="up", protocol=upstream, base_url=base,
                                            secrets=["sk-upstream-dialect-0001"], models={"m": "up-m"})
    await gw.gateway.pricing.set_price("m", input_per_m="2", output_per_m="8")
    secret, _ = await gw.add_key("payer")
    await gw.gateway.ledger.record("payer", "topup", parse_amount("5"), "test credit", "tests")
    await gw.gateway.balance_sync.apply_credits()
    # gemini's fake sends 16-character pieces, the others one word an event
    await plan(fake, "up-m", {"kind": "reset_mid_stream", "after": 4 if upstream == "gemini" else 12})
    path, body = request_for(caller)
    headers = {"Authorization": f"Bearer {secret}", "anthropic-version": "2023-06-01"}
    async with aiohttp.ClientSession() as s:
        async with s.post(gw.root + path, json=body, headers=headers) as resp:
            assert resp.status == 200
            raw = await resp.read()
            rid = resp.headers["x-request-id"]
    text = caller_text(caller, sse_events(raw))
    assert len(text) > 20, raw  # several words arrived before the cut
    rec = await gw.usage_for(rid)
    assert rec["status"] == 200 and rec["error_code"] in {"upstream_stream_error", "upstream_stream_incomplete"}
    assert rec["estimated"] is True
    assert rec["completion_tokens"] == estimate_from_size(len(text), len(text.encode()))
    async with gw.gateway.engine.connect() as conn:
        rows = (await conn.execute(select(t.ledger_entries).where(t.ledger_entries.c.request_id == rid))).all()
    assert [r.kind for r in rows if r.kind == "settle"] == ["settle"]
    assert -sum(r.amount for r in rows) == rec["cost"] > 0 and sum(r.held for r in rows) == 0
