"""Kling's video API (an asynchronous task API that is not OpenAI-shaped).

``POST /v1/videos/text2video`` or ``/image2video`` answers ``{"code": 0, "data": {"task_id", "task_status"}}``;
``GET /v1/videos/{action}/{task_id}`` reports ``submitted | processing | succeed | failed`` and, when done,
``task_result.videos[0].url`` and ``duration``. Authentication is a short-lived JWT (HS256) signed with the
secret key; a channel secret ``ACCESS_KEY|SECRET_KEY`` is signed here, any other secret is sent as a bearer
token as it is (for Kling-compatible relays).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import orjson

from relaygate.core.domain import ChannelRecord
from relaygate.protocols.usage import Usage
from relaygate.providers.base import UpstreamRequest, join
from relaygate.providers.media import TaskStatus, VideoJob

_STATES = {"submitted": "queued", "processing": "running", "succeed": "succeeded", "failed": "failed"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_token(access_key: str, secret_key: str, now: float | None = None) -> str:
    """The HS256 JWT Kling asks for: issuer the access key, valid for 30 minutes."""
    t = int(now if now is not None else time.time())
    head = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
    body = _b64(orjson.dumps({"iss": access_key, "exp": t + 1800, "nbf": t - 5}))
    sig = hmac.new(secret_key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}"


def _auth(secret: str) -> dict[str, str]:
    if "|" in secret:
        ak, sk = secret.split("|", 1)
        return {"Authorization": f"Bearer {jwt_token(ak, sk)}"}
    return {"Authorization": f"Bearer {secret}"}


class KlingChat:
    """Kling serves no chat: the channel exists for its video tasks."""

    protocol = "kling"
    dialect = "kling"
    operations: frozenset[str] = frozenset()

    def build(self, channel: ChannelRecord, secret: str, operation: str, body: bytes, model: str,
              stream: bool, headers: dict[str, str]) -> UpstreamRequest:
        raise ValueError("Kling channels serve video tasks only")

    def probe(self, channel: ChannelRecord, secret: str) -> UpstreamRequest:
        # an unknown task id answers quickly without costing anything; any answer proves the channel is up
        return UpstreamRequest("GET", join(channel.base_url, "v1/videos/text2video/relaygate-probe"), _auth(secret),
                               None)

    def usage(self, operation: str, body: bytes) -> Usage | None:
        return None

    def error_detail(self, body: bytes) -> str:
        return KlingTasks().error_detail(body)


class KlingTasks:
    protocol = "kling"
    kind = "video"  # what the planner maps onto it (providers.MEDIA_TASKS)

    def submit(self, channel: ChannelRecord, secret: str, job: VideoJob) -> UpstreamRequest:
        body: dict[str, Any] = {"model_name": job.model, "prompt": job.prompt, **job.extra}
        if job.seconds is not None:
            body["duration"] = str(job.seconds)
        if job.aspect_ratio:
            body["aspect_ratio"] = job.aspect_ratio
        action = "image2video" if (job.image or job.image_url) else "text2video"
        if job.image:
            body["image"] = base64.b64encode(job.image).decode()
        elif job.image_url:
            body["image"] = job.image_url
        return UpstreamRequest("POST", join(channel.base_url, f"v1/videos/{action}"),
                               {"Content-Type": "application/json", **_auth(secret)}, orjson.dumps(body))

    def submitted(self, body: bytes) -> tuple[str, TaskStatus]:
        data = _data(body)
        task_id = data.get("task_id")
        if not isinstance(task_id, str | int) or not str(task_id):
            raise ValueError("Kling's answer has no task_id")
        return str(task_id), _status(data)

    def poll(self, channel: ChannelRecord, secret: str, upstream_id: str, action: str) -> UpstreamRequest:
        action = action if action in ("text2video", "image2video") else "text2video"
        return UpstreamRequest("GET", join(channel.base_url, f"v1/videos/{action}/{upstream_id}"), _auth(secret), None)

    def status(self, body: bytes) -> TaskStatus:
        return _status(_data(body))

    def content(self, channel: ChannelRecord, secret: str, upstream_id: str, result_url: str | None) -> UpstreamRequest:
        if not result_url:
            raise ValueError("the task has no result URL")
        return UpstreamRequest("GET", result_url, {}, None)  # Kling's result URLs need no key

    def cancel(self, channel: ChannelRecord, secret: str, upstream_id: str) -> UpstreamRequest | None:
        return None  # Kling has no cancel call

    def error_detail(self, body: bytes) -> str:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body[:200].decode("utf-8", "replace")
        if isinstance(data, dict):
            return str(data.get("message") or data.get("code") or "")[:300]
        return ""


def _data(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError("Kling answered with invalid JSON") from exc
    if not isinstance(doc, dict):
        raise ValueError("Kling's answer is not a JSON object")
    if doc.get("code") not in (0, None):
        raise ValueError(f"Kling refused: {doc.get('message') or doc.get('code')}")
    data = doc.get("data")
    if not isinstance(data, dict):
        raise ValueError("Kling's answer has no data object")
    return data


def _status(data: dict[str, Any]) -> TaskStatus:
    raw = data.get("task_status")
    state = _STATES.get(raw if isinstance(raw, str) else "")
    if state is None:
        raise ValueError(f"unknown Kling task status {raw!r}")
    result = data.get("task_result")
    result = result if isinstance(result, dict) else {}
    videos = result.get("videos")
    videos = videos if isinstance(videos, list) else []
    first = videos[0] if videos and isinstance(videos[0], dict) else {}
    try:
        seconds = float(first["duration"]) if first.get("duration") is not None else None
    except (TypeError, ValueError):
        seconds = None
    msg = data.get("task_status_msg")
    review = "rejected" if state == "failed" and isinstance(msg, str) and "risk" in msg.lower() else None
    return TaskStatus(state, 100 if state == "succeeded" else 50 if state == "running" else 0,
                      started=state != "queued", seconds=seconds,
                      result_url=first.get("url") if isinstance(first.get("url"), str) else None,
                      review=review, error=msg if state == "failed" and isinstance(msg, str) else None)


PROVIDER = KlingChat()
TASKS = KlingTasks()
