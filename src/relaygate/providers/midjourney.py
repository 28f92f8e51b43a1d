"""midjourney-proxy, as New API's Midjourney channels (types 2 and 5) call it: an asynchronous image task API.

``POST /mj/submit/imagine`` (likewise ``blend``, ``describe``, ``action``, ``change``, ``modal``; header
``mj-api-secret``) answers ``{"code": 1, "description", "result": "<id>"}``
(code 22: queued, 21: already exists; both accepted; any other code is a refusal such as a banned prompt);
``GET /mj/task/{id}/fetch`` reports ``status`` ``NOT_START | SUBMITTED | MODAL | IN_PROGRESS | FAILURE |
SUCCESS``, ``progress`` as ``"50%"``, ``imageUrl`` and ``failReason``.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from relaygate.core.domain import ChannelRecord
from relaygate.protocols.usage import Usage
from relaygate.providers.base import UpstreamRequest, join
from relaygate.providers.media import SubmitRefused, TaskStatus, VideoJob

ACCEPTED = (1, 21, 22)
ACTIONS = ("imagine", "blend", "describe", "action", "change", "modal")  # POST /mj/submit/<action>
_STATES = {"NOT_START": "queued", "SUBMITTED": "queued", "MODAL": "running", "IN_PROGRESS": "running",
           "SUCCESS": "succeeded", "FAILURE": "failed"}
REFUSALS = ("banned", "sensitive", "violat", "prohibited", "敏感", "违规")


def _auth(secret: str) -> dict[str, str]:
    return {"mj-api-secret": secret, "Content-Type": "application/json"}


class MidjourneyChat:
    """Midjourney serves no chat: the channel exists for its image tasks."""

    protocol = "midjourney"
    dialect = "midjourney"
    operations: frozenset[str] = frozenset()

    def build(self, channel: ChannelRecord, secret: str, operation: str, body: bytes, model: str,
              stream: bool, headers: dict[str, str]) -> UpstreamRequest:
        raise ValueError("Midjourney channels serve image tasks only")

    def probe(self, channel: ChannelRecord, secret: str) -> UpstreamRequest:
        return UpstreamRequest("GET", join(channel.base_url, "mj/task/relaygate-probe/fetch"), _auth(secret), None)

    def usage(self, operation: str, body: bytes) -> Usage | None:
        return None

    def error_detail(self, body: bytes) -> str:
        return MidjourneyTasks().error_detail(body)


class MidjourneyTasks:
    protocol = "midjourney"
    kind = "midjourney"  # what the planner maps onto it (providers.MEDIA_TASKS)

    def submit(self, channel: ChannelRecord, secret: str, job: VideoJob) -> UpstreamRequest:
        body: dict[str, Any] = {**({"prompt": job.prompt} if job.prompt or job.action == "imagine" else {}),
                                **job.extra}
        if job.image:
            body["base64Array"] = [f"data:{job.image_type};base64,{base64.b64encode(job.image).decode()}"]
        action = job.action if job.action in ACTIONS else "imagine"
        return UpstreamRequest("POST", join(channel.base_url, f"mj/submit/{action}"), _auth(secret),
                               orjson.dumps(body))

    def submitted(self, body: bytes) -> tuple[str, TaskStatus]:
        doc = _doc(body)
        code = doc.get("code")
        if code not in ACCEPTED:
            raise SubmitRefused(str(doc.get("description") or f"code {code}")[:300])
        task_id = doc.get("result")
        if not isinstance(task_id, str | int) or not str(task_id):
            raise ValueError("the proxy's answer has no task id (result)")
        return str(task_id), TaskStatus("queued")

    def poll(self, channel: ChannelRecord, secret: str, upstream_id: str, action: str) -> UpstreamRequest:
        return UpstreamRequest("GET", join(channel.base_url, f"mj/task/{upstream_id}/fetch"), _auth(secret), None)

    def status(self, body: bytes) -> TaskStatus:
        doc = _doc(body)
        state = _STATES.get(str(doc.get("status") or ""))
        if state is None:
            raise ValueError(f"unknown Midjourney task status {doc.get('status')!r}")
        raw = str(doc.get("progress") or "0").strip().rstrip("%")
        try:
            progress = max(0, min(100, int(float(raw))))
        except ValueError:
            progress = 0
        reason = str(doc.get("failReason") or "") or None
        refused = state == "failed" and reason is not None and any(w in reason.lower() for w in REFUSALS)
        url = doc.get("imageUrl")
        details: dict[str, Any] = {}
        buttons = doc.get("buttons")
        if isinstance(buttons, list) and buttons:  # their customIds are what /mj/submit/action takes
            details["buttons"] = [{k: b.get(k) for k in ("customId", "emoji", "label", "type", "style")}
                                  for b in buttons[:25] if isinstance(b, dict)]
        if doc.get("action") == "DESCRIBE" and isinstance(doc.get("prompt"), str):  # describe's result is text
            details["prompt"] = doc["prompt"][:4000]
        return TaskStatus(state, 100 if state == "succeeded" else progress, started=state != "queued",
                          result_url=url if isinstance(url, str) and url else None,
                          review="rejected" if refused else None, error=reason if state == "failed" else None,
                          details=details or None)

    def content(self, channel: ChannelRecord, secret: str, upstream_id: str, result_url: str | None) -> UpstreamRequest:
        if not result_url:
            raise ValueError("the task has no image URL")
        return UpstreamRequest("GET", result_url, {}, None)  # the proxy's image URLs need no key

    def cancel(self, channel: ChannelRecord, secret: str, upstream_id: str) -> UpstreamRequest | None:
        return None  # midjourney-proxy has no cancel call

    def error_detail(self, body: bytes) -> str:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body[:200].decode("utf-8", "replace")
        if isinstance(doc, dict):
            return str(doc.get("description") or doc.get("failReason") or doc.get("code") or "")[:300]
        return ""


def _doc(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError("the Midjourney proxy answered with invalid JSON") from exc
    if not isinstance(doc, dict):
        raise ValueError("the Midjourney proxy's answer is not a JSON object")
    return doc


PROVIDER = MidjourneyChat()
TASKS = MidjourneyTasks()
