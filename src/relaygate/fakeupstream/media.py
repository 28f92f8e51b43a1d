"""The fake upstream's media endpoints: images, speech, transcriptions, OpenAI video tasks and Kling's
task API. Deterministic and clearly labelled, like the rest of the demo upstream.

Behaviours are planned per model with ``POST /_fake/plan`` like chat ones: ``status`` (answer that
HTTP status), ``reset`` (drop the connection), ``invalid_json``; midjourney-proxy's imagine is planned as
``mj:imagine`` (likewise ``mj:blend``, ``mj:describe``, ``mj:change``, ``mj:action``, ``mj:modal``; ``refuse``:
a banned prompt at submit; else a ``video`` behaviour; a successful imagine, variation, reroll or blend shows
the U1-U4, V1-V4 and reroll buttons whose ``customId`` the action route takes); for video tasks a
``video`` behaviour sets ``delay`` (seconds until done, default 0.3), ``outcome`` (``succeeded`` | ``failed`` |
``moderation`` | ``never``), ``seconds`` (the duration it reports; default: what was asked),
``content_bytes`` (size of the result) and ``chunk_delay`` (a slow download). A transcription's plan may
set ``text`` (the transcript) and ``output_tokens``: gpt-4o* models report token usage as OpenAI does
(``usage.type`` ``tokens``), others the audio's duration; ``response_format=text`` answers the bare transcript.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from relaygate.protocols.multipart import BadForm, FormScan

BANNER = "relaygate demo upstream (not a real model)"
# a 1x1 transparent PNG: the demo's every image
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
                       "60e6kgAAAABJRU5ErkJggg==")
_ids = itertools.count(1)


class Fake(Protocol):
    """What these endpoints need of the fake upstream (fakeupstream/server.py's FakeUpstream)."""

    app: web.Application
    state: Any
    port: int


@dataclass
class VideoJob:
    id: str
    model: str
    seconds: int
    size: str
    created: float
    plan: dict[str, Any]
    action: str = "text2video"
    deleted: bool = False


@dataclass
class MediaState:
    videos: dict[str, VideoJob] = field(default_factory=dict)
    uploads: list[dict[str, Any]] = field(default_factory=list)  # size and sha256 of each streamed upload
    received: int = 0  # multipart bytes read so far, counted as they arrive (tests see an upload stream in)
    polls: int = 0
    downloads: int = 0


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "invalid_request_error", "code": None}},
                             status=status)


def _record(fake: Fake, request: web.Request, body: Any) -> None:
    fake.state.requests.append({"path": request.path, "method": request.method,
                                "headers": {k.lower(): v for k, v in request.headers.items()}, "body": body})


def _authorized(fake: Fake, request: web.Request) -> bool:
    expected = fake.state.expected_key
    return expected is None or request.headers.get("Authorization") == f"Bearer {expected}"


async def _misbehave(fake: Fake, request: web.Request, model: str,
                     plan: dict[str, Any] | None = None) -> web.StreamResponse | None:
    plan = fake.state.next_behavior(model) if plan is None else plan
    kind = plan.get("kind", "ok")
    if kind == "status":
        return web.json_response(plan.get("body") or {"error": {"message": f"scripted {plan['status']}"}},
                                 status=int(plan["status"]))
    if kind == "reset":
        assert request.transport is not None
        request.transport.close()
        raise ConnectionResetError
    if kind == "invalid_json":
        return web.Response(text="<html>not json</html>", content_type="application/json")
    if kind == "stall":
        await asyncio.sleep(float(plan.get("seconds", 5)))
    return None


async def _form(request: web.Request, media: MediaState) -> dict[str, str]:
    """Read a multipart body as it streams (flat memory), keeping its fields and each upload's digest."""
    try:
        scan = FormScan(request.headers.get("Content-Type", ""))
    except BadForm:
        return {}
    digest, size = hashlib.sha256(), 0
    async for chunk in request.content.iter_chunked(262_144):
        size += len(chunk)
        media.received += len(chunk)
        digest.update(chunk)
        scan.feed(chunk)
    media.uploads.append({"size": size, "sha256": digest.hexdigest(),
                          "files": [f.fingerprint() for f in scan.files]})
    return dict(scan.fields)


def add_media_routes(fake: Fake) -> MediaState:
    media = MediaState()
    r = fake.app.router

    async def images(request: web.Request) -> web.StreamResponse:
        if not _authorized(fake, request):
            return _error(401, "Incorrect API key provided")
        if request.content_type.startswith("multipart/"):
            fields: dict[str, Any] = await _form(request, media)
        else:
            fields = await request.json()
        _record(fake, request, {k: v for k, v in fields.items() if k != "image"})
        model = str(fields.get("model") or "")
        bad = await _misbehave(fake, request, model)
        if bad is not None:
            return bad
        n = int(fields.get("n") or 1)
        item = ({"url": f"http://127.0.0.1:{fake.port}/_fake/media/image.png"}
                if fields.get("response_format") == "url" else {"b64_json": base64.b64encode(PNG).decode()})
        return web.json_response({"created": int(time.time()), "data": [dict(item, revised_prompt=BANNER)] * n})

    async def speech(request: web.Request) -> web.StreamResponse:
        if not _authorized(fake, request):
            return _error(401, "Incorrect API key provided")
        body = await request.json()
        _record(fake, request, body)
        bad = await _misbehave(fake, request, str(body.get("model") or ""))
        if bad is not None:
            return bad
        resp = web.StreamResponse(headers={"Content-Type": "audio/mpeg"})
        await resp.prepare(request)
        seed = hashlib.sha256(str(body.get("input", "")).encode()).digest()
        for _ in range(max(1, len(str(body.get("input", ""))) // 8)):
            await resp.write(seed * 32)
        await resp.write_eof()
        return resp

    async def transcribe(request: web.Request) -> web.StreamResponse:
        if not _authorized(fake, request):
            return _error(401, "Incorrect API key provided")
        fields = await _form(request, media)
        _record(fake, request, fields)
        model = str(fields.get("model") or "")
        plan = fake.state.next_behavior(model)
        bad = await _misbehave(fake, request, model, plan)
        if bad is not None:
            return bad
        files = media.uploads[-1]["files"] if media.uploads else []
        size = files[0]["size"] if files else 0
        seconds = round(size / 16_000, 3)
        text = str(plan.get("text") or f"{BANNER}: {size} bytes of audio")
        if fields.get("response_format") == "text":  # OpenAI: the bare transcript, no usage
            return web.Response(text=text, content_type="text/plain")
        if model.startswith("gpt-4o"):  # OpenAI's gpt-4o-*transcribe report tokens (output: the transcript's)
            output = int(plan.get("output_tokens", len(text.encode()) // 3))
            audio = max(1, size // 1_000)
            return web.json_response({"text": text, "usage": {
                "type": "tokens", "input_tokens": audio,
                "input_token_details": {"text_tokens": 0, "audio_tokens": audio},
                "output_tokens": output, "total_tokens": audio + output}})
        return web.json_response({"text": text, "usage": {"type": "duration", "seconds": seconds}})

    # --- OpenAI video tasks ------------------------------------------------------------------

    def _state(job: VideoJob) -> tuple[str, int]:
        if job.deleted:
            return "deleted", 0
        delay = float(job.plan.get("delay", 0.3))
        elapsed = time.monotonic() - job.created
        outcome = job.plan.get("outcome", "succeeded")
        if outcome == "never" or elapsed < delay / 3:
            return ("queued" if outcome != "never" or elapsed < delay / 3 else "in_progress"), 0
        if elapsed < delay:
            return "in_progress", int(100 * elapsed / delay)
        return ("failed" if outcome in ("failed", "moderation") else "completed"), 100

    def _video(job: VideoJob) -> dict[str, Any]:
        status, progress = _state(job)
        error = None
        if status == "failed":
            error = ({"code": "moderation_blocked", "message": "Your request was rejected by the safety system."}
                     if job.plan.get("outcome") == "moderation" else
                     {"code": "generation_failed", "message": "scripted failure"})
        seconds = job.plan.get("seconds", job.seconds) if status == "completed" else job.seconds
        return {"id": job.id, "object": "video", "model": job.model, "status": status, "progress": progress,
                "created_at": int(job.created), "seconds": str(seconds), "size": job.size, "error": error}

    async def video_create(request: web.Request) -> web.StreamResponse:
        if not _authorized(fake, request):
            return _error(401, "Incorrect API key provided")
        if request.content_type.startswith("multipart/"):
            fields: dict[str, Any] = await _form(request, media)
        else:
            fields = await request.json()
        _record(fake, request, fields)
        model = str(fields.get("model") or "")
        bad = await _misbehave(fake, request, model)
        if bad is not None:
            return bad
        plan = fake.state.next_behavior(f"video:{model}")
        job = VideoJob(f"video_{next(_ids):06d}", model, int(fields.get("seconds") or 4),
                       str(fields.get("size") or "720x1280"), time.monotonic(), plan)
        media.videos[job.id] = job
        return web.json_response(_video(job))

    async def video_get(request: web.Request) -> web.StreamResponse:
        media.polls += 1
        job = media.videos.get(request.match_info["id"])
        if job is None or not _authorized(fake, request):
            return _error(404, "No such video")
        return web.json_response(_video(job))

    async def video_content(request: web.Request) -> web.StreamResponse:
        job = media.videos.get(request.match_info["id"])
        if job is None or not _authorized(fake, request) or _state(job)[0] != "completed":
            return _error(404, "No content")
        return await _content(request, job)

    async def _content(request: web.Request, job: VideoJob) -> web.StreamResponse:
        media.downloads += 1
        size = int(job.plan.get("content_bytes", 4096))
        delay = float(job.plan.get("chunk_delay", 0))
        resp = web.StreamResponse(headers={"Content-Type": "video/mp4", "Content-Length": str(size)})
        await resp.prepare(request)
        block = (b"RGDEMO-MP4:" + job.id.encode() + b":") * 4096
        sent = 0
        while sent < size:
            part = block[: min(65_536, size - sent)]
            await resp.write(part)
            sent += len(part)
            if delay:
                await asyncio.sleep(delay)
        await resp.write_eof()
        return resp

    async def video_delete(request: web.Request) -> web.StreamResponse:
        job = media.videos.get(request.match_info["id"])
        if job is None:
            return _error(404, "No such video")
        job.deleted = True
        return web.json_response({"id": job.id, "object": "video.deleted", "deleted": True})

    # --- Kling ---------------------------------------------------------------------------------

    def _kling(job: VideoJob) -> dict[str, Any]:
        status, _ = _state(job)
        kstatus = {"queued": "submitted", "in_progress": "processing", "completed": "succeed",
                   "failed": "failed"}.get(status, "failed")
        data: dict[str, Any] = {"task_id": job.id, "task_status": kstatus, "created_at": int(job.created * 1000)}
        if kstatus == "failed":
            data["task_status_msg"] = ("Failure to pass the risk control system"
                                       if job.plan.get("outcome") == "moderation" else "scripted failure")
        if kstatus == "succeed":
            data["task_result"] = {"videos": [{"id": job.id, "duration": str(job.plan.get("seconds", job.seconds)),
                                               "url": f"http://127.0.0.1:{fake.port}/_fake/media/{job.id}.mp4"}]}
        return {"code": 0, "message": "SUCCEED", "request_id": f"fake-{job.id}", "data": data}

    async def kling_create(request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth.count(".") != 2:  # Kling wants a JWT
            return web.json_response({"code": 1000, "message": "Authorization failed"}, status=401)
        body = await request.json()
        _record(fake, request, {k: v for k, v in body.items() if k != "image"})
        model = str(body.get("model_name") or "")
        bad = await _misbehave(fake, request, model)
        if bad is not None:
            return bad
        plan = fake.state.next_behavior(f"video:{model}")
        job = VideoJob(f"kling_{next(_ids):06d}", model, int(body.get("duration") or 5), "", time.monotonic(), plan,
                       request.match_info["action"])
        media.videos[job.id] = job
        return web.json_response({"code": 0, "message": "SUCCEED", "request_id": f"fake-{job.id}",
                                  "data": {"task_id": job.id, "task_status": "submitted"}})

    async def kling_get(request: web.Request) -> web.StreamResponse:
        media.polls += 1
        job = media.videos.get(request.match_info["id"])
        if job is None:
            return web.json_response({"code": 1201, "message": "task not found"}, status=404)
        return web.json_response(_kling(job))

    # --- midjourney-proxy --------------------------------------------------------------------

    def _mj_action(route: str, body: dict[str, Any]) -> str | None:
        """The midjourney-proxy action a submit asks for (None: a body it would refuse)."""
        if route in ("imagine", "blend", "describe", "modal"):
            return route.upper()
        if route == "change":
            return str(body.get("action") or "").upper() or None
        parts = str(body.get("customId") or "").split("::")  # MJ::JOB::upsample::1::<hash>
        if len(parts) < 3:
            return None
        kind = (parts[2] if parts[1] == "JOB" else parts[1]).lower()
        return next((a for k, a in (("upsample", "UPSCALE"), ("low_variation", "LOW_VARIATION"),
                                    ("high_variation", "HIGH_VARIATION"), ("variation", "VARIATION"),
                                    ("reroll", "REROLL"), ("pan", "PAN"), ("outpaint", "ZOOM"),
                                    ("customzoom", "CUSTOM_ZOOM"), ("inpaint", "INPAINT")) if k in kind), None)

    async def mj_submit(request: web.Request) -> web.StreamResponse:
        if not request.headers.get("mj-api-secret"):
            return web.json_response({"code": 401, "description": "no mj-api-secret"}, status=401)
        body = await request.json()
        route = request.match_info.get("action", "imagine")
        _record(fake, request, {k: v for k, v in body.items() if k not in ("base64Array", "base64", "maskBase64")})
        action = _mj_action(route, body)
        if action is None:
            return web.json_response({"code": 4, "description": "unknown action", "result": None})
        if route in ("change", "action", "modal"):
            parent = media.videos.get(str(body.get("taskId") or ""))
            if parent is None:
                return web.json_response({"code": 3, "description": "关联任务不存在或已失效", "result": None})
        if route == "blend" and not 2 <= len(body.get("base64Array") or []) <= 5:
            return web.json_response({"code": 4, "description": "base64List参数错误", "result": None})
        if route == "describe" and not body.get("base64"):
            return web.json_response({"code": 4, "description": "base64参数错误", "result": None})
        plan = fake.state.next_behavior(f"mj:{route}")
        if plan.get("kind") == "refuse":
            return web.json_response({"code": 24, "description": "banned prompt detected", "result": None})
        job = VideoJob(f"{1_700_000_000_000_000 + next(_ids)}", "midjourney", 0, "", time.monotonic(), plan,
                       action)
        media.videos[job.id] = job
        return web.json_response({"code": 1, "description": "提交成功", "result": job.id, "properties": {}})

    def _mj(job: VideoJob) -> dict[str, Any]:
        status, progress = _state(job)
        mj = {"queued": "SUBMITTED", "in_progress": "IN_PROGRESS", "completed": "SUCCESS"}.get(status, "FAILURE")
        fail = ""
        if mj == "FAILURE":
            fail = "banned prompt detected" if job.plan.get("outcome") == "moderation" else "scripted failure"
        seed = hashlib.sha256(job.id.encode()).hexdigest()[:32]
        buttons = []
        if mj == "SUCCESS" and job.action in ("IMAGINE", "VARIATION", "REROLL", "BLEND"):
            buttons = [{"customId": f"MJ::JOB::upsample::{i}::{seed}", "label": f"U{i}", "type": 2, "style": 2,
                        "emoji": ""} for i in range(1, 5)]
            buttons += [{"customId": f"MJ::JOB::variation::{i}::{seed}", "label": f"V{i}", "type": 2, "style": 2,
                         "emoji": ""} for i in range(1, 5)]
            buttons.append({"customId": f"MJ::JOB::reroll::0::{seed}::SOLO", "label": "", "type": 2, "style": 2,
                            "emoji": "🔄"})
        doc = {"id": job.id, "action": job.action, "status": mj, "progress": f"{progress}%", "failReason": fail,
               "imageUrl": f"http://127.0.0.1:{fake.port}/_fake/media/{job.id}.png" if mj == "SUCCESS" else "",
               "submitTime": int(job.created * 1000), "description": BANNER, "buttons": buttons}
        if job.action == "DESCRIBE" and mj == "SUCCESS":
            doc["prompt"] = "1️⃣ a lighthouse at dusk (relaygate demo upstream)\n\n2️⃣ a calm sea, flat colours"
        return doc

    async def mj_fetch(request: web.Request) -> web.StreamResponse:
        media.polls += 1
        job = media.videos.get(request.match_info["id"])
        if job is None:
            return web.json_response({"code": 4, "description": "task not found"}, status=404)
        return web.json_response(_mj(job))

    async def result_file(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name == "image.png" or (name.endswith(".png") and name.removesuffix(".png") in media.videos):
            return web.Response(body=PNG, content_type="image/png")
        job = media.videos.get(name.removesuffix(".mp4"))
        if job is None:
            return _error(404, "No such file")
        return await _content(request, job)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"uploads": media.uploads[-20:], "polls": media.polls,
                                  "downloads": media.downloads, "videos": len(media.videos)})

    for path in ("/v1/images/generations", "/v1/images/edits", "/v1/images/variations"):
        r.add_post(path, images)
    r.add_post("/v1/audio/speech", speech)
    r.add_post("/v1/audio/transcriptions", transcribe)
    r.add_post("/v1/audio/translations", transcribe)
    r.add_post("/v1/videos", video_create)
    r.add_get("/v1/videos/{id}", video_get)
    r.add_get("/v1/videos/{id}/content", video_content)
    r.add_delete("/v1/videos/{id}", video_delete)
    r.add_post("/v1/videos/{action:text2video|image2video}", kling_create)
    r.add_get("/v1/videos/{action:text2video|image2video}/{id}", kling_get)
    r.add_post("/mj/submit/{action:imagine|blend|describe|change|action|modal}", mj_submit)
    r.add_get("/mj/task/{id}/fetch", mj_fetch)
    r.add_get("/_fake/media/{name}", result_file)
    r.add_get("/_fake/media-stats", stats)
    return media
