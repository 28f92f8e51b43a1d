"""The plan: mapping classes and risks, channel type mapping and base URLs, groups, units, YAML round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaygate.core.errors import InvalidInput
from relaygate.providers import protocols
from relaygate.services.migration.plan import load_plan, save_plan
from tests.migration.conftest import make_backend
from tests.migration.helpers import source_and_plan


async def test_oneapi_plan(tmp_path: Path) -> None:
    backend = await make_backend("sqlite", tmp_path)
    _, plan = await source_and_plan(backend, "oneapi", "http://upstream.test")
    models = {m["old_name"]: m for m in plan["models"]}
    assert {n: models[n]["class"] for n in ("gpt-4o", "gpt-4o-mini", "text-embedding-3-small", "my-finetune",
                                            "doubao-pro-32k", "dall-e-3", "claude-3-haiku-20240307", "gpt-4")} == {
        "gpt-4o": "same", "gpt-4o-mini": "same", "text-embedding-3-small": "same", "my-finetune": "substitute",
        "doubao-pro-32k": "substitute", "dall-e-3": "same", "claude-3-haiku-20240307": "unsupported",
        "gpt-4": "unsupported"}  # gpt-4 only ran on Azure, whose adapter relaygate lacks
    # media models: their own endpoint, One API's per-unit charge carried (ratio 20 × size ratio × 1000 quota)
    dalle = models["dall-e-3"]["media_price"]
    assert (dalle["unit"], dalle["endpoint"]) == ("image", "/v1/images/generations")
    assert dalle["amounts"] == {"*": "0.04", "1024x1792": "0.08", "1792x1024": "0.08", "1024x1024/hd": "0.08",
                                "1024x1792/hd": "0.12", "1792x1024/hd": "0.12"}
    tts = models["tts-1"]["media_price"]  # One API's built-in ratio 7.5 per input byte: $15 per 1M characters
    assert (tts["unit"], tts["amounts"], tts["endpoint"]) == ("mchars", {"*": "15"}, "/v1/audio/speech")
    whisper = models["whisper-1"]["media_price"]  # One API charged the transcript's tokens as quota, no ratio:
    assert (whisper["unit"], whisper["amounts"], whisper["source_quota"]) == (  # 1 quota a token, QuotaPerUnit
        "mtokens", {"*": "2"}, {"*": "1000000"})  # 500,000: $2 per 1M output tokens
    assert "transcript's token count" in whisper["basis"] and "no model or group ratio" in whisper["basis"]
    assert whisper["endpoint"] == "/v1/audio/transcriptions"
    assert "no per-unit price carried" not in models["whisper-1"].get("risk", "")
    assert models["text-embedding-3-small"]["tasks"] == ["embeddings"]
    assert "differently per channel" in models["gpt-4o"]["risk"]  # gpt-4o(3) priced Azure apart
    assert models["gpt-4o"]["price"] == {"basis": "ratio", "billed_as": "gpt-4o", "source_key": "gpt-4o",
                                         "model_ratio": "2.5", "completion_ratio": "4", "input_per_m": "5",
                                         "output_per_m": "20"}
    assert models["doubao-pro-32k"]["price"]["basis"] == "implicit" and "ratio 30" in models["doubao-pro-32k"]["risk"]
    assert models["my-finetune"]["upstream"] == "ft:qwen2.5-72b:acme:42"
    assert models["my-finetune"]["price"]["input_per_m"] == "6"  # One API billed the mapped name's ratio (3)
    chans = {c["id"]: c for c in plan["channels"]}
    assert chans[1]["base_url"] == "http://upstream.test/v1" and chans[1]["enabled"]
    assert chans[5]["base_url"] == "https://api.deepseek.com/v1" and chans[5]["enabled"]  # OA 36 = DeepSeek
    assert chans[6]["base_url"] == "http://10.0.0.5:8000/v1"  # OpenAICompatible: used as stored
    assert chans[9]["base_url"] == "https://ark.cn-beijing.volces.com/api/v3"
    assert chans[11]["base_url"] == "https://api.groq.com/openai/v1"
    assert chans[3]["protocol"] == "openai" and not chans[3]["enabled"] and "'anthropic' adapter" in chans[3][
        "disabled_reason"]
    assert "auto-disabled by One API" in chans[4]["disabled_reason"] and "429" in chans[4]["disabled_reason"]
    assert chans[7]["enabled"] and any("ignored it" in n for n in chans[7]["notes"])  # OA ignores bad mapping
    assert chans[8]["disabled_reason"] == "disabled by hand in One API"
    assert {c["weight"] for c in plan["channels"]} == {1}  # One API never read weight
    assert any("v1beta/openai" in n for n in chans[4]["notes"])  # the OpenAI-style alternative is offered
    groups = {g["source"]: g for g in plan["groups"]}
    assert groups["vip"]["multiplier"] == "0.8" and groups["svip"]["multiplier"] == "0.5"
    assert plan["units"]["examples"][2] == {"quota": -250_001, "amount": "-0.500002"}
    path = tmp_path / "plan.yaml"
    save_plan(plan, path)
    assert load_plan(path) == plan
    path.write_text(path.read_text().replace("\n  class: same\n", "\n  class: maybe\n", 1))
    with pytest.raises(InvalidInput, match="class must be"):
        load_plan(path)


async def test_newapi_plan(tmp_path: Path) -> None:
    backend = await make_backend("sqlite", tmp_path)
    _, plan = await source_and_plan(backend, "newapi", "http://upstream.test")
    models = {m["old_name"]: m for m in plan["models"]}
    assert models["gpt-4o"]["class"] == "same" and models["gpt-4o"]["upstream"] == "gpt-4o-2024-11-20"
    assert models["gpt-4.1"]["upstream"] == "gpt-4o-2024-11-20"  # New API follows mapping chains
    assert models["gpt-4.1"]["class"] == "substitute"
    assert models["gpt-4o"]["price"]["cached_input_per_m"] == "1.25"  # CacheRatio 0.5
    assert models["gpt-4o"]["price"]["billed_as"] == "gpt-4o"  # New API bills the requested name
    assert models["suno_music"]["class"] == "unsupported" and models["suno_music"]["price"]["per_request"] == "0.1"
    assert models["kling-v1"]["class"] == "unsupported"  # a video model whose channel needs the kling adapter
    _, full = await source_and_plan(backend, "newapi", "http://upstream.test", protocols=protocols())
    kling = {m["old_name"]: m for m in full["models"]}["kling-v1"]  # with it: New API's ModelPrice per task
    assert (kling["class"], kling["media_price"]["unit"], kling["media_price"]["amounts"]) == ("same", "call",
                                                                                                {"*": "0.35"})
    dalle = models["dall-e-3"]["media_price"]  # ModelPrice per image × New API's dall-e size/quality ratios
    assert dalle["amounts"]["*"] == "0.04" and dalle["amounts"]["256x256"] == "0.016"
    assert dalle["amounts"]["1024x1792/hd"] == "0.12" and models["dall-e-3"]["class"] == "same"
    assert models["tts-1"]["media_price"] == {"unit": "call", "amounts": {"*": "0.015"}, "endpoint": "/v1/audio/speech",
                                               "basis": "New API ModelPrice $0.015 per call",
                                               "source_quota": {"*": "7500"}}
    assert models["whisper-1"]["media_price"]["source_refused"]  # no price, no ratio: New API refused it
    # a tts* model priced by ratio: New API charged its input characters × model ratio (15): $30 per 1M
    hd = models["tts-1-hd"]["media_price"]
    assert (hd["unit"], hd["amounts"], hd["source_quota"]) == ("mchars", {"*": "30"}, {"*": "15000000"})
    assert "per input character" in hd["basis"]
    # a transcription priced by ratio was charged by tokens at its ratio (1.25): per 1M output tokens here
    tr = models["gpt-4o-transcribe"]["media_price"]
    assert (tr["unit"], tr["amounts"], tr["source_quota"]) == ("mtokens", {"*": "2.5"}, {"*": "1250000"})
    assert "model ratio 1.25" in tr["basis"] and "output" in tr["basis"]
    chans = {c["id"]: c for c in plan["channels"]}
    assert chans[2]["base_url"] == "https://api.deepseek.com/v1" and chans[2]["type_name"] == "DeepSeek"
    assert not chans[7]["enabled"] and "New API failed every request" in chans[7]["disabled_reason"]
    assert chans[7]["base_url"] == "https://llm.internal.example/v1"  # the full Custom URL trimmed
    assert "credit balance is too low" in chans[3]["disabled_reason"]
    assert chans[1]["weight"] == 10 and any("1 of 3 keys" in n for n in chans[1]["notes"])
    assert any(g["source"] == "auto" for g in plan["groups"])


async def test_channels_for_the_adapters_relaygate_has(tmp_path: Path) -> None:
    """With anthropic, gemini and azure providers present, those channels import enabled and callable."""
    from relaygate.services.migration.plan import build_plan
    from relaygate.services.migration.source import Source
    from tests.migration.helpers import USD

    backend = await make_backend("sqlite", tmp_path)
    await source_and_plan(backend, "oneapi")
    src = await Source.open(backend.src_dsn, backend.logs_dsn)
    try:
        plan = await build_plan(src, USD, ["anthropic", "azure", "gemini", "openai"])
    finally:
        await src.close()
    chans = {c["id"]: c for c in plan["channels"]}
    azure, claude, gemini = chans[2], chans[3], chans[4]
    assert (azure["protocol"], azure["base_url"], azure["enabled"]) == ("azure", "https://east.openai.azure.com", True)
    assert azure["options"] == {"api_version": "2024-02-15-preview"} and azure["models"]["gpt-4"] == "gpt-4o"
    assert (claude["protocol"], claude["base_url"], claude["enabled"]) == ("anthropic", "https://api.anthropic.com/v1",
                                                                          True)
    assert gemini["protocol"] == "gemini" and gemini["base_url"] == "https://generativelanguage.googleapis.com/v1beta"
    assert not gemini["enabled"] and gemini["disabled_reason"].startswith("auto-disabled")
    models = {m["old_name"]: m for m in plan["models"]}
    assert models["gpt-4"]["class"] == "substitute" and models["claude-3-haiku-20240307"]["class"] == "same"
    assert chans[8]["protocol"] == "openai" and any("'aws' adapter" in n for n in chans[8]["notes"])


def test_media_tasks_are_what_the_media_protocols_serve() -> None:
    """The planner decides from providers.MEDIA_TASKS without loading the media modules: it must agree."""
    from relaygate.providers import MEDIA_TASKS, load_media

    sync, tasks = load_media()
    found: dict[str, set[str]] = {}
    for name, media in sync.items():
        found.setdefault(name, set()).update(op.split(".")[0] for op in media.operations)
    for name, proto in tasks.items():
        found.setdefault(name, set()).add(proto.kind)
    assert {name: set(kinds) for name, kinds in MEDIA_TASKS.items()} == found
