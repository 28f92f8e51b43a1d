"""OpenAI's media APIs on OpenAI-compatible channels: images and audio (synchronous, bodies streamed
through) and the video task API (``POST /videos``, ``GET /videos/{id}``, ``/content``, ``DELETE``)."""

from __future__ import annotations

import secrets as _secrets
from typing import Any

import orjson

from relaygate.core.domain import ChannelRecord
from relaygate.protocols import openai as wire
from relaygate.providers.base import UpstreamRequest, join
from relaygate.providers.media import TaskStatus, VideoJob

SYNC_PATHS = {
    "images.generations": "images/generations", "images.edits": "images/edits",
    "images.variations": "images/variations", "audio.speech": "audio/speech",
    "audio.transcriptions": "audio/transcriptions", "audio.translations": "audio/translations",
}
_STATES = {"queued": "queued", "in_progress": "running", "completed": "succeeded", "failed": "failed",
           "cancelled": "cancelled"}


def _auth(channel: ChannelRecord, secret: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    out = {"Authorization": f"Bearer {secret}", **(extra or {})}
    more = channel.options.get("headers")
    if isinstance(more, dict):
        out.update({str(k): str(v) for k, v in more.items()})
    return out


def encode_form(fields: dict[str, str], files: list[tuple[str, str, str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body of text ``fields`` and ``files`` (name, filename, type, bytes)."""
    boundary = f"relaygate{_secrets.token_hex(12)}"
    out = bytearray()
    for name, value in fields.items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n').encode()
        out += value.encode() + b"\r\n"
    for name, filename, ctype, data in files:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {ctype}\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


class OpenAIMedia:
    protocol = "openai"
    kind = "video"  # its task routes (/v1/videos); its synchronous operations say images and audio
    operations = frozenset(SYNC_PATHS)

    def build_sync(self, channel: ChannelRecord, secret: str, operation: str, content_type: str,
                   headers: dict[str, str]) -> UpstreamRequest:
        return UpstreamRequest("POST", join(channel.base_url, SYNC_PATHS[operation]),
                               _auth(channel, secret, {"Content-Type": content_type, **headers}), None)

    # --- video tasks --------------------------------------------------------------------------

    def submit(self, channel: ChannelRecord, secret: str, job: VideoJob) -> UpstreamRequest:
        fields = {"model": job.model, "prompt": job.prompt}
        if job.seconds is not None:
            fields["seconds"] = str(job.seconds)
        if job.size:
            fields["size"] = job.size
        fields.update({k: str(v) for k, v in job.extra.items() if isinstance(v, str | int | float)})
        files = [("input_reference", "reference", job.image_type, job.image)] if job.image else []
        body, ctype = encode_form(fields, files)
        headers = _auth(channel, secret, {"Content-Type": ctype})
        return UpstreamRequest("POST", join(channel.base_url, "videos"), headers, body)

    def submitted(self, body: bytes) -> tuple[str, TaskStatus]:
        data = _object(body)
        task_id = data.get("id")
        if not isinstance(task_id, str) or not task_id:
            raise ValueError("the upstream's answer has no video id")
        return task_id, self._status(data)

    def poll(self, channel: ChannelRecord, secret: str, upstream_id: str, action: str) -> UpstreamRequest:
        return UpstreamRequest("GET", join(channel.base_url, f"videos/{upstream_id}"), _auth(channel, secret), None)

    def status(self, body: bytes) -> TaskStatus:
        return self._status(_object(body))

    @staticmethod
    def _status(data: dict[str, Any]) -> TaskStatus:
        raw = data.get("status")
        state = _STATES.get(raw if isinstance(raw, str) else "")
        if state is None:
            raise ValueError(f"unknown video status {raw!r}")
        err = data.get("error") if isinstance(data.get("error"), dict) else None
        seconds = data.get("seconds")
        try:
            secs = float(seconds) if seconds is not None else None
        except (TypeError, ValueError):
            secs = None
        progress = data.get("progress")
        code = str(err.get("code") or "") if err else ""
        return TaskStatus(state, int(progress) if isinstance(progress, int | float) else 0,
                          started=raw != "queued", seconds=secs, result_url=None,
                          review="rejected" if "moderation" in code else None,
                          error=(str(err.get("message") or code) if err else None))

    def content(self, channel: ChannelRecord, secret: str, upstream_id: str, result_url: str | None) -> UpstreamRequest:
        return UpstreamRequest("GET", join(channel.base_url, f"videos/{upstream_id}/content"), _auth(channel, secret),
                               None)

    def cancel(self, channel: ChannelRecord, secret: str, upstream_id: str) -> UpstreamRequest | None:
        return UpstreamRequest("DELETE", join(channel.base_url, f"videos/{upstream_id}"), _auth(channel, secret), None)

    def error_detail(self, body: bytes) -> str:
        return wire.error_message(body)


def _object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError("the upstream answered with invalid JSON") from exc
    if not isinstance(data, dict):
        raise ValueError("the upstream's answer is not a JSON object")
    return data


MEDIA = OpenAIMedia()
TASKS = MEDIA
