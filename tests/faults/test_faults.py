"""The fault suite: every way an upstream or a client fails, against real sockets and two channels.

For each fault it checks what the client got, the usage record, the ledger and channel health.
Faults before the first byte fail over to the backup (the primary's failure counted, the request
charged once, for the backup's answer), and when every channel fails that way the caller gets the
error and nothing is charged or left held; faults after it cut the stream and charge what was delivered.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
import pytest

from relaygate.core.money import Price, parse_amount
from relaygate.protocols.usage import estimate_from_size
from tests.faults.conftest import MODEL, Rig, delivered_text, sse_events, wait_for
from tests.harness import plan

PRICE = Price(parse_amount("2"), parse_amount("8"))


def chat(stream: bool = False, text: str = "hello there") -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], "max_tokens": 200, "stream": stream}


def charged(rows: list[Any]) -> int:
    """What the ledger charged (settles) and whether anything is still held."""
    assert sum(r.held for r in rows) == 0, [(r.kind, r.held) for r in rows]
    return -sum(r.amount for r in rows if r.kind == "settle")


BEFORE_FIRST_BYTE = [
    pytest.param({"kind": "stall", "seconds": 3}, "timeout", id="stall-before-headers"),
    pytest.param({"kind": "reset"}, "network_error", id="reset"),
    pytest.param({"kind": "status", "status": 503}, "http_503", id="5xx"),
    pytest.param({"kind": "status", "status": 429}, "http_429", id="429"),
    pytest.param({"kind": "status", "status": 401}, "http_401", id="401"),
    pytest.param({"kind": "garbage"}, "invalid_response", id="invalid-json"),
    pytest.param({"kind": "status", "status": 200, "body": {"error": {"message": "quota exceeded upstream " * 20}}},
                 "invalid_response", id="error-object-200"),
]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(("behavior", "kind"), BEFORE_FIRST_BYTE)
async def test_failure_before_the_first_byte_fails_over(rig: Rig, behavior: dict[str, Any], kind: str,
                                                        stream: bool) -> None:
    await plan(rig.primary, MODEL, behavior)
    status, raw, rid = await rig.post(chat(stream))
    assert status == 200, raw
    if stream:
        events = sse_events(raw)
        assert events[-1] == "[DONE]" and "Hello from the" in delivered_text(events)
        assert not any(isinstance(e, dict) and "error" in e for e in events)
    else:
        assert "Hello from the" in orjson.loads(raw)["choices"][0]["message"]["content"]
    assert len(rig.primary.state.requests) == 1 and len(rig.backup.state.requests) == 1
    rec = await rig.record(rid)
    assert rec["status"] == 200 and rec["error_code"] is None and rec["attempts"] == 2
    assert rec["channel_id"] == rig.backup_id and rec["estimated"] is False
    assert rec["detail"]["attempts"][0]["error"] == kind
    assert rec["cost"] == PRICE.token_cost(rec["prompt_tokens"], rec["completion_tokens"]) > 0
    assert charged(await rig.ledger(rid)) == rec["cost"]  # charged once: the backup's answer
    assert rig.health(rig.primary_id).consecutive_failures == 1
    assert rig.health(rig.backup_id).consecutive_failures == 0


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_garbage_from_every_channel_is_502_upstream_invalid_response(rig: Rig, stream: bool) -> None:
    await plan(rig.primary, MODEL, {"kind": "garbage"})
    await plan(rig.backup, MODEL, {"kind": "garbage"})
    status, raw, rid = await rig.post(chat(stream))
    assert status == 502
    err = orjson.loads(raw)["error"]
    assert err["code"] == "upstream_invalid_response" and "not valid" in err["message"]
    rec = await rig.record(rid)
    assert rec["status"] == 502 and rec["error_code"] == "upstream_invalid_response" and rec["attempts"] == 2
    assert rec["cost"] == 0 and charged(await rig.ledger(rid)) == 0
    assert rig.health(rig.primary_id).consecutive_failures == 1
    assert rig.health(rig.backup_id).consecutive_failures == 1


ALL_FAIL = [  # every channel fails the same way: the caller's answer, and what the record names
    pytest.param({"kind": "stall", "seconds": 3}, 504, "upstream_timeout", id="stall-before-headers"),
    pytest.param({"kind": "reset"}, 502, "upstream_error", id="reset"),
    pytest.param({"kind": "status", "status": 503}, 502, "upstream_error", id="5xx"),
    pytest.param({"kind": "status", "status": 429}, 502, "upstream_error", id="429"),
    pytest.param({"kind": "status", "status": 401}, 502, "upstream_error", id="401"),
]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(("behavior", "status", "code"), ALL_FAIL)
async def test_every_channel_failing_answers_the_error_and_charges_nothing(
        rig: Rig, behavior: dict[str, Any], status: int, code: str, stream: bool) -> None:
    await plan(rig.primary, MODEL, behavior)
    await plan(rig.backup, MODEL, behavior)
    got, raw, rid = await rig.post(chat(stream))
    assert got == status, raw
    assert orjson.loads(raw)["error"]["code"] == code  # an error in the caller's dialect, never a stream
    assert len(rig.primary.state.requests) == 1 and len(rig.backup.state.requests) == 1
    rec = await rig.record(rid)
    assert rec["status"] == status and rec["error_code"] == code and rec["attempts"] == 2
    assert rec["cost"] == 0 and rec["completion_tokens"] == 0
    rows = await rig.ledger(rid)
    assert charged(rows) == 0 and not [r for r in rows if r.kind == "settle"]  # nothing charged, nothing held
    assert rig.health(rig.primary_id).consecutive_failures == 1
    assert rig.health(rig.backup_id).consecutive_failures == 1


async def _check_cut(rig: Rig, raw: bytes, rid: str, code: str, status: int = 200) -> dict[str, Any]:
    """A stream cut after its first byte: charged for the text the client received, marked estimated."""
    events = sse_events(raw) if raw else []
    text = delivered_text(events)
    rec = await rig.record(rid)
    assert rec["status"] == status and rec["error_code"] == code, rec
    assert rec["estimated"] is True and rec["attempts"] == 1 and rec["channel_id"] == rig.primary_id
    assert rec["completion_tokens"] == estimate_from_size(len(text), len(text.encode())) > 0
    assert rec["cost"] == PRICE.token_cost(rec["prompt_tokens"], rec["completion_tokens"]) > 0
    assert charged(await rig.ledger(rid)) == rec["cost"]
    assert not rig.backup.state.requests  # no failover once the client has bytes
    return rec


async def test_half_stream_charges_what_was_delivered(rig: Rig) -> None:
    await plan(rig.primary, MODEL, {"kind": "reset_mid_stream", "after": 4})
    status, raw, rid = await rig.post(chat(True))
    assert status == 200
    events = sse_events(raw)
    assert events[-1] == "[DONE]" and events[-2]["error"]["code"] in {"upstream_stream_error",
                                                                      "upstream_stream_incomplete"}
    rec = await _check_cut(rig, raw, rid, events[-2]["error"]["code"])
    assert rec["completion_tokens"] == (len(delivered_text(events)) + 3) // 4  # ASCII: 4 characters a token
    assert rig.health(rig.primary_id).consecutive_failures == 1  # a cut stream counts against the channel


async def test_stall_mid_stream_charges_what_was_delivered(rig: Rig) -> None:
    await plan(rig.primary, MODEL, {"kind": "stall_after_first", "seconds": 5, "after": 3})
    status, raw, rid = await rig.post(chat(True, "tell me something long please"))
    assert status == 200
    events = sse_events(raw)
    assert events[-2]["error"]["code"] == "upstream_timeout" and events[-1] == "[DONE]"
    await _check_cut(rig, raw, rid, "upstream_timeout")
    assert rig.health(rig.primary_id).consecutive_failures == 1


async def test_error_event_mid_stream_is_not_billed_as_output(rig: Rig) -> None:
    await plan(rig.primary, MODEL, {"kind": "error_mid_stream", "after": 3})
    status, raw, rid = await rig.post(chat(True))
    assert status == 200
    events = sse_events(raw)
    assert any(isinstance(e, dict) and "error" in e for e in events)
    text = delivered_text(events)
    rec = await rig.record(rid)
    # the upstream's long error message is not output: only the two content chunks before it count
    assert rec["completion_tokens"] == estimate_from_size(len(text), len(text.encode())) < 10
    assert rec["estimated"] is True and charged(await rig.ledger(rid)) == rec["cost"]
    assert rec["error_code"] == "upstream_stream_incomplete" and rec["status"] == 200
    assert rig.health(rig.primary_id).consecutive_failures == 1  # a stream that ends in an error is a failure


async def test_client_drop_is_499_and_charged_for_what_it_received(rig: Rig) -> None:
    await plan(rig.primary, MODEL, {"kind": "slow", "seconds": 0.3})
    got = b""
    async with aiohttp.ClientSession() as s:
        resp = await s.post(rig.gw.base_url + "/chat/completions", json=chat(True, "a long story please"),
                            headers=rig.headers)
        rid = resp.headers["x-request-id"]
        while delivered_text(sse_events(got[: got.rfind(b"\n\n") + 2])).count(" ") < 2:
            got += await resp.content.readany()
        resp.close()  # hang up mid-stream
    raw = got[: got.rfind(b"\n\n") + 2]
    await wait_for(lambda: _has_record(rig, rid))
    await _check_cut(rig, raw, rid, "client_disconnected", status=499)
    await wait_for(lambda: _cancelled(rig))
    assert rig.health(rig.primary_id).consecutive_failures == 0  # the caller left: not the channel's fault


@pytest.mark.parametrize("text", ['say "quoted" and \\ back slash', "你好，世界 naïve café 日本語"],
                         ids=["escapes", "cjk"])
async def test_spaced_and_escaped_events_are_counted(rig: Rig, text: str) -> None:
    """Upstreams that write `"content": "…"` with spaces and \\uXXXX escapes are counted like compact ones."""
    await plan(rig.primary, MODEL, {"kind": "reset_mid_stream", "after": 15, "spaced": True})
    status, raw, rid = await rig.post(chat(True, text))
    assert status == 200 and b'"content": "' in raw  # relayed as the upstream wrote it
    events = sse_events(raw)
    assert text.split()[0] in delivered_text(events)
    await _check_cut(rig, raw, rid, events[-2]["error"]["code"])


async def test_spaced_usage_chunk_is_read(rig: Rig) -> None:
    await plan(rig.primary, MODEL, {"kind": "spaced"})
    status, raw, rid = await rig.post(chat(True, "hello"))
    assert status == 200 and b'"usage": {' not in raw  # the injected usage chunk stays hidden
    rec = await rig.record(rid)
    assert rec["estimated"] is False and rec["completion_tokens"] > 0
    assert charged(await rig.ledger(rid)) == rec["cost"] > 0


async def _has_record(rig: Rig, rid: str) -> bool:
    return any(r["request_id"] == rid for r in await rig.gw.usage_rows())


async def _cancelled(rig: Rig) -> bool:
    await asyncio.sleep(0)
    return rig.primary.state.cancelled_streams == 1
