"""Images and audio through the official openai SDK: charged per unit delivered, bodies streamed."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import resource
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import openai
import pytest

from relaygate.core.money import parse_amount
from tests.harness import plan, running_gateway, start_fake
from tests.media.conftest import MEDIA_SETTINGS, MediaWorld, setup_world


def client(world: MediaWorld) -> openai.AsyncOpenAI:
    api = openai.AsyncOpenAI(base_url=world.gw.base_url, api_key=world.secret, max_retries=0)
    world.clients.append(api)
    return api


async def test_image_generation_is_charged_per_image_at_its_size_and_quality(world: MediaWorld) -> None:
    before = await world.available()
    resp = await client(world).images.generate(model="img-1", prompt="a lighthouse", n=2, size="1024x1024",
                                               quality="standard", response_format="b64_json")
    assert len(resp.data or []) == 2 and base64.b64decode(resp.data[0].b64_json or "")[:4] == b"\x89PNG"
    rows = await world.gw.usage_rows()
    assert rows[0]["status"] == 200 and rows[0]["cost"] == 2 * parse_amount("0.04")
    assert rows[0]["requested_model"] == "img-1" and rows[0]["detail"]["media"]["count"] == 2
    entries = await world.ledger()
    assert [(e.kind, e.amount) for e in entries][-1] == ("settle", -2 * parse_amount("0.04"))
    assert entries[-1].request_id == rows[0]["request_id"]
    assert await world.available() == before - 2 * parse_amount("0.04")
    assert await world.balanced()


async def test_other_sizes_take_the_models_fallback_price(world: MediaWorld) -> None:
    await client(world).images.generate(model="img-1", prompt="x", size="512x512")
    rows = await world.gw.usage_rows()
    assert rows[0]["cost"] == parse_amount("0.02")


async def test_upstream_failure_fails_over_and_a_total_failure_costs_nothing(world: MediaWorld) -> None:
    await plan(world.fake, "img-1", {"kind": "status", "status": 500}, {"kind": "status", "status": 503},
               {"kind": "status", "status": 502})
    before = await world.available()
    with pytest.raises(openai.InternalServerError):
        await client(world).images.generate(model="img-1", prompt="x")
    rows = await world.gw.usage_rows()
    assert rows[0]["status"] >= 500 and rows[0]["cost"] == 0
    assert await world.available() == before
    assert [e.kind for e in await world.ledger()] == ["topup"]


async def test_upstream_rejection_keeps_its_status_and_costs_nothing(world: MediaWorld) -> None:
    await plan(world.fake, "img-1", {"kind": "status", "status": 400,
                                     "body": {"error": {"message": "Your prompt was refused"}}})
    with pytest.raises(openai.BadRequestError) as info:
        await client(world).images.generate(model="img-1", prompt="x")
    assert "refused" in str(info.value)
    assert [e.kind for e in await world.ledger()] == ["topup"]


async def test_insufficient_balance_is_402_and_nothing_reaches_the_upstream(world: MediaWorld) -> None:
    poor, _ = await world.gw.add_key("poor")  # an owner with no balance
    api = openai.AsyncOpenAI(base_url=world.gw.base_url, api_key=poor, max_retries=0)
    world.clients.append(api)
    with pytest.raises(openai.APIStatusError) as info:
        await api.images.generate(model="img-1", prompt="x")
    assert info.value.status_code == 402 and "Insufficient balance" in str(info.value)
    assert not [r for r in world.fake.state.requests if r["path"].startswith("/v1/images")]


async def test_bad_input_is_400_in_openai_shape_and_not_charged(world: MediaWorld) -> None:
    async with aiohttp.ClientSession(headers=world.headers()) as s:
        for body in ({"prompt": "no model"}, {"model": "img-1", "prompt": "x", "n": "many"},
                     {"model": "img-1", "prompt": "x", "n": 50}, [1, 2]):
            async with s.post(f"{world.root}/v1/images/generations", json=body) as resp:
                assert resp.status == 400, body
                doc = await resp.json()
                assert doc["error"]["code"] == "bad_request" and doc["error"]["request_id"]
        async with s.post(f"{world.root}/v1/images/generations", data=b"{not json",
                          headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 400
        async with s.get(f"{world.root}/v1/images/generations") as resp:
            assert resp.status == 405 and resp.headers["Allow"] == "POST"
    assert [e.kind for e in await world.ledger()] == ["topup"]
    assert not [r for r in world.fake.state.requests if r["path"].startswith("/v1/images")]


async def test_speech_streams_bytes_and_is_charged_per_character(world: MediaWorld) -> None:
    text = "Hello from relaygate. " * 20
    async with client(world).audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input=text) as resp:
        audio = b"".join([chunk async for chunk in resp.iter_bytes()])
    assert len(audio) > 1000
    rows = await world.gw.usage_rows()
    expected = parse_amount("15") * len(text) // 1_000_000
    assert rows[0]["cost"] == expected == 6_600_000


async def test_transcription_is_charged_for_the_seconds_the_upstream_reports(world: MediaWorld) -> None:
    audio = b"\x00" * 160_000  # the fake reports size / 16000 = 10 s
    result = await client(world).audio.transcriptions.create(model="whisper-1", file=("a.mp3", audio, "audio/mpeg"))
    assert "160" in result.text
    rows = await world.gw.usage_rows()
    assert rows[0]["cost"] == 10 * parse_amount("0.0001") and rows[0]["estimated"] is False
    upload = world.fake.media.uploads[-1]
    assert upload["files"][0]["sha256"] == hashlib.sha256(audio).hexdigest()


async def test_image_edit_multipart_reaches_the_upstream_byte_for_byte(world: MediaWorld) -> None:
    image = bytes(range(256)) * 4000
    await client(world).images.edit(model="img-1", image=("in.png", image, "image/png"), prompt="add a moon")
    upload = world.fake.media.uploads[-1]
    assert upload["files"][0]["sha256"] == hashlib.sha256(image).hexdigest()
    assert upload["files"][0]["size"] == len(image)


async def _body(boundary: str, size: int) -> AsyncIterator[bytes]:
    yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
           f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.wav\"\r\n"
           "Content-Type: audio/wav\r\n\r\n").encode()
    block = b"\x01" * 1_048_576
    for _ in range(size // len(block)):
        yield block
        await asyncio.sleep(0)
    yield f"\r\n--{boundary}--\r\n".encode()


async def test_a_100_mb_upload_streams_through_with_flat_memory(world: MediaWorld) -> None:
    size = 100 * 1_048_576
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    boundary = "relaygate-test-boundary"
    async with aiohttp.ClientSession(headers=world.headers()) as s:
        async with s.post(f"{world.root}/v1/audio/transcriptions", data=_body(boundary, size),
                          headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}) as resp:
            assert resp.status == 200, await resp.text()
    upload = world.fake.media.uploads[-1]
    assert upload["files"][0]["size"] == size
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert grown_mib < 40, f"peak RSS grew {grown_mib:.0f} MiB for a 100 MiB upload"


async def test_an_upload_above_the_limit_is_413(world: MediaWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = world.gw.gateway.settings
    object.__setattr__(settings, "media_max_upload_bytes", 2_000_000)
    boundary = "b"
    async with aiohttp.ClientSession(headers=world.headers()) as s:
        async with s.post(f"{world.root}/v1/audio/transcriptions", data=_body(boundary, 4 * 1_048_576),
                          headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}) as resp:
            assert resp.status == 413
            assert (await resp.json())["error"]["code"] == "body_too_large"


async def test_every_media_path_answers_without_v1_too(world: MediaWorld) -> None:
    async with aiohttp.ClientSession(headers=world.headers()) as s:
        async with s.post(f"{world.root}/images/generations", json={"model": "img-1", "prompt": "x"}) as r:
            assert r.status == 200 and (await r.json())["data"]
        async with s.post(f"{world.root}/audio/speech", json={"model": "tts-1", "voice": "alloy",
                                                              "input": "hello"}) as r:
            assert r.status == 200 and r.content_type == "audio/mpeg" and await r.read()
        async with s.post(f"{world.root}/videos", json={"model": "sora-2", "prompt": "x"}) as r:
            video = await r.json()
        async with s.get(f"{world.root}/videos/{video['id']}") as r:
            assert r.status == 200 and (await r.json())["id"] == video["id"]
        async with s.get(f"{world.root}/videos") as r:
            assert video["id"] in [v["id"] for v in (await r.json())["data"]]


@pytest.fixture
async def db_world(backend_url: str, tmp_path: Path) -> AsyncIterator[MediaWorld]:
    """The media world on each database (SQLite; PostgreSQL and MariaDB when configured)."""
    fake = await start_fake()
    async with running_gateway(backend_url, data_dir=str(tmp_path), unpriced_models="refuse",
                               **MEDIA_SETTINGS) as gw:
        world = await setup_world(gw, fake)
        try:
            yield world
        finally:
            for api in world.clients:
                await api.close()


async def _token_priced(world: MediaWorld, price: str = "10") -> None:
    """gpt-4o-transcribe on the fake, priced per 1M output (transcript) tokens, as the migration imports it."""
    from relaygate.services.operate.media import MediaPricing

    await world.gw.add_channel(world.fake, "openai-transcribe", ["gpt-4o-transcribe"])
    view = await MediaPricing(world.gw.gateway.engine, "USD").set_price("gpt-4o-transcribe", "mtokens", price)
    assert (view["summary"], view["summary_zh"]) == (f"${price}.00 per 1M output tokens",
                                                     f"${price}.00 每百万输出 token")
    await world.gw.gateway.state.reload()
    assert world.gw.gateway.media is not None
    await world.gw.gateway.media.prices.load(world.gw.gateway.engine)


async def test_a_token_priced_transcription_is_charged_the_output_tokens_the_upstream_reports(
        db_world: MediaWorld) -> None:
    from relaygate.core.money import unit_cost

    world = db_world
    await _token_priced(world)
    before = await world.available()
    raw = await client(world).audio.transcriptions.with_raw_response.create(
        model="gpt-4o-transcribe", file=("a.mp3", b"\x00" * 160_000, "audio/mpeg"))
    result = raw.parse()
    assert result.usage is not None and result.usage.type == "tokens"
    tokens = result.usage.output_tokens  # the fake's count (its bytes / 3), not relaygate's estimate
    assert tokens == len(result.text.encode()) // 3 == 21
    row = await world.gw.usage_for(raw.headers["x-request-id"])
    cost = unit_cost(parse_amount("10"), tokens, 1_000_000)
    assert (row["cost"], row["estimated"]) == (cost, False) and cost == 210_000
    assert row["detail"]["media"] == {"unit": "mtokens", "variant": "*", "count": tokens}
    settle = [e for e in await world.ledger() if e.kind == "settle"]
    assert [(e.amount, e.request_id) for e in settle] == [(-cost, raw.headers["x-request-id"])]
    assert before - await world.available() == cost and await world.balanced()  # the hold is gone


async def test_a_bare_text_transcript_is_charged_an_estimate_of_its_tokens(world: MediaWorld) -> None:
    from relaygate.core.money import unit_cost
    from relaygate.protocols.usage import estimate_tokens

    await _token_priced(world)
    text = "你好，relaygate。" * 50  # CJK and ASCII: no usage in a text answer, so estimated from its sizes
    await plan(world.fake, "gpt-4o-transcribe", {"kind": "ok", "text": text})
    answer = await client(world).audio.transcriptions.create(
        model="gpt-4o-transcribe", file=("a.mp3", b"\x00" * 160_000, "audio/mpeg"), response_format="text")
    assert answer.strip() == text
    rows = await world.gw.usage_rows()
    tokens = estimate_tokens(text)
    assert tokens == (650 + 3) // 4 + 400 // 2  # 650 characters, 200 of them 3-byte: 400 extra bytes
    assert (rows[0]["cost"], rows[0]["estimated"]) == (unit_cost(parse_amount("10"), tokens, 1_000_000), True)
    assert rows[0]["detail"]["media"]["count"] == tokens and await world.balanced()


async def test_a_token_priced_transcription_is_never_charged_above_its_hold(db_world: MediaWorld) -> None:
    from relaygate.core.money import unit_cost
    from relaygate.services.media.prices import HOLD_MIN_TOKENS

    world = db_world
    await _token_priced(world)
    await plan(world.fake, "gpt-4o-transcribe", {"kind": "ok", "output_tokens": 10**9})
    await client(world).audio.transcriptions.create(model="gpt-4o-transcribe",
                                                    file=("a.wav", b"RIFF0000WAVE", "audio/wav"))
    rows = await world.gw.usage_rows()
    held = unit_cost(parse_amount("10"), HOLD_MIN_TOKENS, 1_000_000)  # 12 bytes: the per-call floor of the hold
    assert rows[0]["cost"] == held and rows[0]["detail"]["media"]["count"] == HOLD_MIN_TOKENS
    assert await world.balanced()


def test_output_tokens_show_in_statements_in_both_languages() -> None:
    from relaygate.services.operate.statements import units_text

    assert units_text({"mtokens": 21}, "en") == "21 output token(s)"
    assert units_text({"mtokens": 21}, "zh-CN") == "21 个输出 token"
