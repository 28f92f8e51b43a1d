"""The media paths: images, audio, OpenAI's video tasks and New API's Kling and Midjourney task routes.

This module only reads HTTP (path, method, JSON or a multipart body streamed to a spool file on
disk) and hands a request to ``services/media``; ``asgi.py`` owns the response cycle.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import IO, Any

import orjson

from relaygate.core.errors import GatewayError
from relaygate.core.settings import Settings
from relaygate.protocols.multipart import BadForm, FormScan, TooLarge
from relaygate.services.gateway.exchange import Inbound, Outcome
from relaygate.services.media.service import Media
from relaygate.services.media.task_submit import VideoRequest
from relaygate.web.asgi_types import Receive, Scope

PREFIXES = ("/v1/images/", "/images/", "/v1/audio/", "/audio/", "/v1/videos", "/videos", "/kling/v1/videos/", "/mj/",
            "/mj-")
SYNC = {"images/generations": "images.generations", "images/edits": "images.edits",
        "images/variations": "images.variations", "audio/speech": "audio.speech",
        "audio/transcriptions": "audio.transcriptions", "audio/translations": "audio.translations"}
_VIDEO = re.compile(r"^(?:/v1)?/videos(?:/(?P<id>[^/]+)(?P<content>/content)?)?$")
_KLING = re.compile(r"^/kling/v1/videos/(?P<action>text2video|image2video)(?:/(?P<id>[^/]+))?$")
# New API's Midjourney routes, also under a mode prefix (/mj-fast/mj/…, /mj-relax/mj/…, /mj-turbo/mj/…)
_MJ = re.compile(r"^(?:/mj-(?:fast|relax|turbo))?/mj/(?:submit/(?P<action>imagine|action|change|blend|describe|modal)|"
                 r"task/(?P<list>list-by-condition)|task/(?P<id>[^/]+)/fetch|image/(?P<image>[^/]+))$")
MJ_MODEL = "mj_imagine"  # New API's model name for Midjourney's imagine action (what it priced and routed)
# New API's reading of a button's customId (MJ::JOB::upsample::1::<hash>): the action it is and so the model
# it is priced as (mj_ + the action, lower case); the first name found in the customId's action part wins
_BUTTONS = (("upsample", "UPSCALE"), ("low_variation", "LOW_VARIATION"), ("high_variation", "HIGH_VARIATION"),
            ("variation", "VARIATION"), ("pan", "PAN"), ("reroll", "REROLL"), ("outpaint", "ZOOM"),
            ("customzoom", "CUSTOM_ZOOM"), ("inpaint", "INPAINT"))
_CHANGES = ("UPSCALE", "VARIATION", "REROLL")
MJ_LIST_MAX = 100  # ids one list-by-condition may ask for
SPOOL_IN_MEMORY = 1_048_576  # uploads beyond 1 MiB go to a temporary file, never whole into memory


@dataclass(frozen=True, slots=True)
class MediaRoute:
    kind: str  # sync | video.submit | video.get | video.list | video.content | video.delete | kling.submit | kling.get
    endpoint: str
    operation: str = ""
    task_id: str = ""
    action: str = ""
    allowed: str = "POST"


def match(method: str, path: str) -> MediaRoute | None:
    """The media route for a path (None: not a media path); the method is checked by ``read``."""
    rel = path[4:] if path.startswith("/v1/") else path[1:]
    if rel in SYNC:
        return MediaRoute("sync", rel, SYNC[rel])
    m = _VIDEO.match(path)
    if m is not None:
        task_id = m.group("id") or ""
        if not task_id:
            return MediaRoute("video.submit" if method == "POST" else "video.list", "videos", allowed="GET, POST")
        if m.group("content"):
            return MediaRoute("video.content", "videos", task_id=task_id, allowed="GET")
        return MediaRoute("video.delete" if method == "DELETE" else "video.get", "videos", task_id=task_id,
                          allowed="GET, DELETE")
    m = _KLING.match(path)
    if m is not None:
        if m.group("id"):
            return MediaRoute("kling.get", "kling", task_id=m.group("id"), action=m.group("action"), allowed="GET")
        return MediaRoute("kling.submit", "kling", action=m.group("action"))
    m = _MJ.match(path)
    if m is not None:
        if m.group("image"):  # a signed result link (views.mj_task's imageUrl): no key needed
            return MediaRoute("mj.image", "midjourney", task_id=m.group("image"), allowed="GET")
        if m.group("id"):
            return MediaRoute("mj.get", "midjourney", task_id=m.group("id"), allowed="GET")
        if m.group("list"):
            return MediaRoute("mj.list", "midjourney")
        return MediaRoute("mj.submit", "midjourney", action=m.group("action"))
    return None


def _method_ok(route: MediaRoute, method: str) -> bool:
    return method in route.allowed.split(", ")


class BytesBody:
    def __init__(self, data: bytes, content_type: str) -> None:
        self.data, self.content_type, self.size = data, content_type, len(data)

    def stream(self) -> bytes:
        return self.data


class SpooledBody:
    """An upload kept in a spool file: re-read from the start for each upstream attempt."""

    def __init__(self, file: IO[bytes], size: int, content_type: str) -> None:
        self.file, self.size, self.content_type = file, size, content_type

    async def _chunks(self) -> AsyncIterator[bytes]:
        self.file.seek(0)
        while True:
            chunk = self.file.read(262_144)
            if not chunk:
                return
            yield chunk

    def stream(self) -> AsyncIterator[bytes]:
        return self._chunks()

    def close(self) -> None:
        self.file.close()


@dataclass(slots=True)
class Request:
    route: MediaRoute
    fields: dict[str, Any]
    body: BytesBody | SpooledBody | None = None
    video: VideoRequest | None = None

    def close(self) -> None:
        if isinstance(self.body, SpooledBody):
            self.body.close()


def content_type_of(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return str(value.decode("latin-1"))
    return ""


async def read_all(receive: Receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise GatewayError("bad_request", detail="the client went away while sending the body",
                               detail_zh="客户端在发送请求体时断开")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise GatewayError("body_too_large", size=f"more than {limit}", limit=limit)
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise GatewayError("bad_request", detail=f"The request body is not valid JSON ({exc}).",
                           detail_zh=f"请求体不是合法的 JSON（{exc}）。") from exc
    if not isinstance(data, dict):
        raise GatewayError("bad_request", detail="The request body must be a JSON object.",
                           detail_zh="请求体必须是 JSON 对象。")
    return data


async def _spool(receive: Receive, content_type: str, limit: int, data_dir: str,
                 keep_files: int = 0) -> tuple[SpooledBody, FormScan]:
    try:
        scan = FormScan(content_type, keep_files)
    except BadForm as exc:
        raise GatewayError("bad_request", detail=f"{exc}.", detail_zh="Content-Type 必须是带 boundary 的 "
                           "multipart/form-data。") from exc
    file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, prefix="relaygate-upload-")  # noqa: SIM115
    size = 0
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise GatewayError("bad_request", detail="the client went away while uploading",
                                   detail_zh="客户端在上传时断开")
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise GatewayError("body_too_large", size=f"more than {limit}", limit=limit)
                scan.feed(chunk)
                file.write(chunk)
            if not message.get("more_body"):
                break
        scan.close()
    except TooLarge as exc:
        file.close()
        raise GatewayError("body_too_large", size=f"more than {exc.limit}", limit=exc.limit) from exc
    except BadForm as exc:
        file.close()
        raise GatewayError("bad_request", detail=f"{exc}.", detail_zh="multipart 请求体格式错误。") from exc
    except BaseException:
        file.close()
        raise
    return SpooledBody(file, size, content_type), scan


def _opt_int(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        out = int(str(value).strip().rstrip("s"))
    except ValueError:
        raise GatewayError("bad_request", detail=f"'{name}' must be a whole number of seconds.",
                           detail_zh=f"'{name}' 必须是整数秒。") from None
    return out


def _need_str(fields: dict[str, Any], *names: str) -> str:
    for name in names:
        value = fields.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    raise GatewayError("bad_request", detail=f"The field '{names[0]}' is missing or not a string.",
                       detail_zh=f"缺少 '{names[0]}' 字段或它不是字符串。")


def _opt_str(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise GatewayError("bad_request", detail=f"'{name}' must be a string.", detail_zh=f"'{name}' 必须是字符串。")
    return value.strip()


async def read(route: MediaRoute, scope: Scope, receive: Receive, settings: Settings) -> Request:
    """Read what this route needs of the request; raises the caller's 4xx for bad input."""
    method = scope["method"]
    if not _method_ok(route, method):
        raise GatewayError("method_not_allowed", path=scope["path"], method=method, allowed=route.allowed,
                           headers={"Allow": route.allowed})
    ctype = content_type_of(scope)
    if route.kind == "sync":
        if ctype.startswith("multipart/form-data"):
            body, scan = await _spool(receive, ctype, settings.media_max_upload_bytes, settings.data_dir)
            return Request(route, dict(scan.fields), body)
        raw = await read_all(receive, settings.max_body_bytes)
        return Request(route, _json_object(raw), BytesBody(raw, "application/json"))
    if route.kind == "video.submit":
        if ctype.startswith("multipart/form-data"):
            body, scan = await _spool(receive, ctype, settings.media_max_reference_bytes + 1_048_576,
                                      settings.data_dir, keep_files=settings.media_max_reference_bytes)
            body.close()
            fields: dict[str, Any] = dict(scan.fields)
            image = scan.kept.get("input_reference")
            ref = next((f for f in scan.files if f.name == "input_reference"), None)
            refs = [f.fingerprint() for f in scan.files]
        else:
            fields = _json_object(await read_all(receive, settings.max_body_bytes))
            image, ref, refs = None, None, []
        video = VideoRequest(
            "openai", _need_str(fields, "model"), _need_str(fields, "prompt"),
            "image2video" if image else "text2video", _opt_int(fields.get("seconds"), "seconds"),
            _opt_str(fields, "size"), image=image, image_type=ref.content_type if ref else "image/png",
            image_url=_opt_str(fields, "input_reference_url"), callback_url=_opt_str(fields, "callback_url"),
            refs=refs)
        return Request(route, fields, video=video)
    if route.kind == "kling.submit":
        fields = _json_object(await read_all(receive, settings.max_body_bytes))
        image_raw = _opt_str(fields, "image")
        image, image_url, refs = None, None, []
        if image_raw:
            if image_raw.startswith(("http://", "https://")):
                image_url = image_raw
            else:
                try:
                    image = base64.b64decode(image_raw.split(",", 1)[-1], validate=True)
                except (binascii.Error, ValueError):
                    raise GatewayError("bad_request", detail="'image' must be an http(s) URL or base64 data.",
                                       detail_zh="'image' 必须是 http(s) 地址或 base64 数据。") from None
                refs = [{"field": "image", "sha256": hashlib.sha256(image).hexdigest(), "size": len(image),
                         "type": "image"}]
        extra = {k: v for k, v in fields.items() if k in ("negative_prompt", "cfg_scale", "camera_control")}
        video = VideoRequest("kling", _need_str(fields, "model_name", "model"),
                             _opt_str(fields, "prompt") or "", route.action,
                             _opt_int(fields.get("duration"), "duration"), None,
                             _opt_str(fields, "aspect_ratio"), _opt_str(fields, "mode"), image, "image/png",
                             image_url, _opt_str(fields, "callback_url"), refs, extra)
        if route.action == "image2video" and not (image or image_url):
            raise GatewayError("bad_request", detail="image2video needs 'image' (a URL or base64 data).",
                               detail_zh="image2video 需要 'image'（地址或 base64 数据）。")
        if route.action == "text2video" and not video.prompt:
            raise GatewayError("bad_request", detail="The field 'prompt' is missing or not a string.",
                               detail_zh="缺少 'prompt' 字段或它不是字符串。")
        return Request(route, fields, video=video)
    if route.kind == "mj.submit":
        fields = _json_object(await read_all(receive, settings.max_body_bytes))
        return Request(route, {}, video=_mj_request(route.action, fields))
    if route.kind == "mj.list":
        ids = _json_object(await read_all(receive, settings.max_body_bytes)).get("ids") or []
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(ids) > MJ_LIST_MAX:
            raise GatewayError("bad_request", detail=f"'ids' must be a list of at most {MJ_LIST_MAX} task ids.",
                               detail_zh=f"'ids' 必须是最多 {MJ_LIST_MAX} 个任务 ID 的列表。")
        return Request(route, {"ids": ids})
    await read_all(receive, settings.max_body_bytes)  # GET / DELETE: drain whatever was sent
    return Request(route, {})


def _bad(en: str, zh: str) -> GatewayError:
    return GatewayError("bad_request", detail=en, detail_zh=zh)


def _image(value: str, name: str) -> tuple[bytes, dict[str, Any]]:
    """A base64 image (optionally a data: URL) and its fingerprint."""
    try:
        image = base64.b64decode(value.split(",", 1)[-1], validate=True)
    except (binascii.Error, ValueError):
        raise _bad(f"'{name}' holds something that is not base64.", f"'{name}' 中有非 base64 的内容。") from None
    return image, {"field": name, "sha256": hashlib.sha256(image).hexdigest(), "size": len(image), "type": "image"}


def _images(fields: dict[str, Any], name: str) -> list[str]:
    images = fields.get(name) or []
    if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
        raise _bad(f"'{name}' must be a list of base64 images.", f"'{name}' 必须是 base64 图片的列表。")
    return images


def _button(custom_id: str) -> str:
    """The action a button's customId names, as New API read it (MJ::JOB::upsample::1::<hash>)."""
    parts = custom_id.split("::")
    kind = (parts[2] if len(parts) > 2 and parts[1] == "JOB" else parts[1] if len(parts) > 1 else "").lower()
    found = next((action for word, action in _BUTTONS if word in kind), None) if kind else None
    if found is None:
        raise _bad(f"'customId' names no Midjourney action New API knew ({custom_id[:80]}).",
                   f"'customId' 不是已知的 Midjourney 操作（{custom_id[:80]}）。")
    return found


def _mj_request(route: str, fields: dict[str, Any]) -> VideoRequest:
    """midjourney-proxy's submit bodies as New API's routes took them: the action, the model it is priced as
    (New API's ``mj_<action>``), the task it works on (``taskId``, ours), fingerprints of its images, and the
    fields passed on to the proxy (images included; ``notifyHook`` is our callback, ``taskId`` is mapped)."""
    image, refs = None, []
    passed = ("botType", "state", "dimensions", "customId", "action", "index", "maskBase64", "base64")
    extra: dict[str, Any] = {k: v for k, v in fields.items()
                             if k in passed and isinstance(v, str | int) and not isinstance(v, bool)}
    parent = _opt_str(fields, "taskId")
    prompt = _opt_str(fields, "prompt") or ""
    if route == "imagine":
        prompt = _need_str(fields, "prompt")
        images = _images(fields, "base64Array")
        if images:
            image, ref = _image(images[0], "base64Array")
            refs = [ref]
        action = "IMAGINE"
        extra = {k: v for k, v in extra.items() if k in ("botType", "state")}
    elif route == "blend":
        images = _images(fields, "base64Array")
        if not 2 <= len(images) <= 5:
            raise _bad("'base64Array' must hold 2 to 5 images to blend.",
                       "'base64Array' 必须包含 2 到 5 张要混合的图片。")
        refs = [_image(i, "base64Array")[1] for i in images]
        extra["base64Array"] = images
        action = "BLEND"
    elif route == "describe":
        one = _opt_str(fields, "base64") or next(iter(_images(fields, "base64Array")), None)
        if not one:
            raise _bad("describe needs the image in 'base64'.", "describe 需要 'base64' 中的图片。")
        refs = [_image(one, "base64")[1]]
        extra["base64"] = one
        action = "DESCRIBE"
    elif route == "action":
        custom = _need_str(fields, "customId")
        action = _button(custom)
        if not parent:
            raise _bad("The field 'taskId' is missing or not a string.", "缺少 'taskId' 字段或它不是字符串。")
    elif route == "change":
        action = str(fields.get("action") or "").upper()
        index = fields.get("index")
        if not parent or action not in _CHANGES or \
                (action != "REROLL" and (not isinstance(index, int) or isinstance(index, bool) or not 1 <= index <= 4)):
            raise _bad("change needs 'taskId', 'action' (UPSCALE, VARIATION or REROLL) and 'index' (1 to 4).",
                       "change 需要 'taskId'、'action'（UPSCALE、VARIATION 或 REROLL）和 'index'（1 到 4）。")
        extra["action"] = action
    else:  # modal
        action = "MODAL"
        if not parent:
            raise _bad("The field 'taskId' is missing or not a string.", "缺少 'taskId' 字段或它不是字符串。")
        if "maskBase64" in extra:
            refs = [_image(str(extra["maskBase64"]), "maskBase64")[1]]
    model = _opt_str(fields, "model") or ("mj_" + action.lower())
    return VideoRequest("mj", model, prompt, route, None, None, None, None, image, "image/png", None,
                        _opt_str(fields, "notifyHook"), refs, extra, parent=parent, mj_action=action)


def _query(scope: Scope) -> dict[str, str]:
    from urllib.parse import parse_qs

    qs = scope.get("query_string", b"").decode("latin-1")
    return {k: v[0] for k, v in parse_qs(qs).items()}


async def dispatch(media: Media, request: Request, inbound: Inbound, scope: Scope) -> Outcome:
    route = request.route
    if route.kind == "sync":
        assert request.body is not None
        return await media.calls.handle(inbound, route.operation, request.body, request.fields)
    secret = inbound.headers.get("mj-api-secret")
    if route.kind.startswith("mj.") and secret and "authorization" not in inbound.headers:  # as New API took it
        inbound = replace(inbound, headers={**inbound.headers, "authorization": f"Bearer {secret}"})
    if route.kind in ("video.submit", "kling.submit", "mj.submit"):
        assert request.video is not None
        return await media.tasks.submit(inbound, request.video)
    if route.kind == "mj.list":
        return await media.tasks.mj_list(inbound, request.fields["ids"])
    if route.kind in ("video.get", "kling.get", "mj.get"):
        return await media.tasks.get(inbound, route.task_id)
    if route.kind == "mj.image":
        query = _query(scope)
        return await media.tasks.signed_content(inbound, route.task_id, query.get("exp", ""), query.get("sig", ""))
    if route.kind == "video.content":
        return await media.tasks.content(inbound, route.task_id)
    if route.kind == "video.delete":
        return await media.tasks.cancel(inbound, route.task_id)
    query = _query(scope)
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        raise GatewayError("bad_request", detail="'limit' must be an integer.",
                           detail_zh="'limit' 必须是整数。") from None
    return await media.tasks.list(inbound, limit, query.get("after"))
