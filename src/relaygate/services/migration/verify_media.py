"""`migrate verify` for image, audio and video models: probes on their own endpoint, and the charge.

An image model is asked for one 1024x1024 image, a speech model to say "ping", a transcription model to
transcribe a second of silence; the normal probe passes when the answer is a 200 and the usage record
charges exactly the plan's per-unit price (times the probe group's multiplier). A chat request for the
model must be refused (400 media_not_served: never forwarded on chat completions). Video tasks are
asynchronous and are not probed; their price is checked by `relaygate media prices list`.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import aiohttp

from relaygate.core.money import PPM, MoneyError, parse_multiplier, unit_cost
from relaygate.services.migration.media_prices import plan_rows
from relaygate.services.migration.verify_session import Probe, Session, call, error_code, expect, probe_request

SILENCE = b"RIFF" + struct.pack("<I", 36 + 16000) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 16000, 1,
                                                                               8) + b"data" + struct.pack("<I", 16000) \
    + b"\x80" * 16000  # one second of 8-bit mono silence


def media_call(model: str, endpoint: str) -> tuple[str, dict[str, Any] | aiohttp.FormData]:
    if endpoint.startswith("/v1/images"):
        return endpoint, {"model": model, "prompt": "ping", "n": 1, "size": "1024x1024"}
    if endpoint == "/v1/audio/speech":
        return endpoint, {"model": model, "input": "ping", "voice": "alloy"}
    form = aiohttp.FormData()
    form.add_field("model", model)
    form.add_field("file", SILENCE, filename="ping.wav", content_type="audio/wav")
    return endpoint, form


def expected_cost(entry: dict[str, Any], endpoint: str, multiplier_ppm: int) -> int | None:
    """What the normal probe must be charged under the plan's media price (None: no price in the plan)."""
    unit, rows = plan_rows(entry)
    if unit is None:
        return None
    if unit == "image":
        price = rows.get("1024x1024/standard", rows.get("1024x1024", rows.get("*")))
        return None if price is None else unit_cost(price, 1, 1, multiplier_ppm)
    if unit == "mchars":
        return None if "*" not in rows else unit_cost(rows["*"], len("ping"), 1_000_000, multiplier_ppm)
    if unit == "call":
        return None if "*" not in rows else unit_cost(rows["*"], 1, 1, multiplier_ppm)
    return None  # per second or per output token: the upstream's answer decides


def group_multiplier(plan: dict[str, Any], group: str) -> int:
    for row in plan.get("groups", []):
        if row.get("target") == group:
            try:
                return parse_multiplier(str(row.get("multiplier") or "1").rstrip("…"))
            except MoneyError:
                return PPM
    return PPM


async def _post(s: Session, key: str, model: str, endpoint: str) -> tuple[int, bytes, str]:
    path, payload = media_call(model, endpoint)
    body = {"data": payload} if isinstance(payload, aiohttp.FormData) else {"json": payload}
    async with s.http.post(s.root + path, headers={"Authorization": f"Bearer {key}"}, **body) as resp:
        return resp.status, await resp.read(), resp.headers.get("x-request-id", "")


async def _charged(s: Session, request_id: str) -> int | None:
    for _ in range(50):  # the usage record is written within a flush interval
        view = await s.api("GET", f"/api/usage?request_id={request_id}&limit=1")
        if view["data"]:
            return int(view["data"][0]["cost"])
        await asyncio.sleep(0.1)
    return None


async def probe_media(s: Session, entry: dict[str, Any], name: str, group: str, out: dict[str, Probe],
                      refusal: tuple[int, str, str] | None) -> dict[str, Probe]:
    endpoint = str((entry.get("media_price") or {}).get("endpoint") or "")
    status, raw, _ = await call(s, await s.key("paid", group), *probe_request(name, ["chat"]))
    out["unavailable"] = expect(status, raw, 400, "media_not_served", "a chat request for a media model")
    if not endpoint or "videos" in endpoint:
        return out  # asynchronous video tasks: price carried, not probed
    status, raw, request_id = await _post(s, await s.key("paid", group), name, endpoint)
    if refusal is not None and (refusal[1] != "model_price_missing" or status != 200):
        probe = expect(status, raw, refusal[0], refusal[1], refusal[2])
        if probe.outcome == "pass":
            probe.detail = f"{status} {refusal[1]}: refused as expected ({refusal[2]})"
        out["normal"] = probe
        return out
    if status != 200:
        out["normal"] = Probe("fail", status, f"{endpoint} answered {status} {error_code(raw)}: "
                                              f"{raw[:200].decode(errors='replace')}")
        return out
    want = expected_cost(entry, endpoint, group_multiplier(s.plan, group))
    got = await _charged(s, request_id) if request_id else None
    if want is not None and got != want:
        out["normal"] = Probe("fail", status, f"{endpoint}: charged {got} nanos, the plan's price gives {want}")
    else:
        out["normal"] = Probe("pass", status, f"200 on {endpoint}" + (f", charged {got} nanos as priced"
                                                                       if want is not None else ""))
    status, raw, _ = await _post(s, await s.key("broke", group), name, endpoint)
    if want == 0 or plan_rows(entry)[0] is None:  # priced per second too: the hold needs a balance
        out["insufficient_balance"] = Probe("pass" if status == 200 else "fail", status,
                                            "no price: no balance needed" if status == 200 else
                                            raw[:300].decode(errors="replace"))
    else:
        out["insufficient_balance"] = expect(status, raw, 402, "insufficient_balance", "an owner without balance")
    return out
