"""Setting up one client against this gateway, for a key holder: where each value goes, the base-URL
form the client wants, the models the key may use, and the mistakes people make with that client."""

from __future__ import annotations

from typing import Any

from relaygate.core.errors import InvalidInput
from relaygate.services.notices.clients import CLIENTS, MASKED_PLACEHOLDER, BaseForms, ClientSpec
from relaygate.services.notices.context import classify
from relaygate.services.notices.key_setup import snippet

MISTAKES = {
    "v1": (("Put the base URL with /v1 at the end; do not paste a full endpoint such as …/v1/chat/completions.",
            "Base URL 以 /v1 结尾；不要粘贴 …/v1/chat/completions 这样的完整接口地址。"),),
    "root": (("Put the base URL without /v1: this client adds /v1 itself (…/v1/v1 fails).",
              "Base URL 不要带 /v1：该客户端会自己加上 /v1（写成 …/v1/v1 会失败）。"),),
}
MEDIA_TIPS = {
    "openai-media": (("A video is a task: keep its id (task_…) and poll it; a failed, refused or expired one costs "
                      "nothing.", "视频是异步任务：保存任务 ID（task_…）并轮询；失败、被拒或过期的任务不收费。"),),
    "kling-http": (("Send the same Authorization header to download the result URL the task answer gives.",
                    "下载任务返回的结果地址时，也要带上同样的 Authorization 请求头。"),),
}
COMMON = (("Copy the whole key: it starts with sk- and is 51 characters long.",
           "完整复制密钥：以 sk- 开头，共 51 个字符。"),
          ("Use a model name exactly as the list of this key's models writes it.",
           "模型名请与此密钥可用模型列表中的写法完全一致。"))


def client_setup(client_id: str, forms: BaseForms, models: list[str], lang: str,
                 media: dict[str, str] | None = None) -> dict[str, Any]:
    """What a key holder enters in one client, with an example using their own models (never their key)."""
    spec: ClientSpec | None = next((c for c in CLIENTS if c.id == client_id), None)
    if spec is None:
        raise InvalidInput(f"Unknown client '{client_id}': use one of {', '.join(c.id for c in CLIENTS)}.",
                           f"未知客户端 '{client_id}'：可选 {', '.join(c.id for c in CLIENTS)}。", status=404)
    zh = lang.startswith("zh")
    pick = 1 if zh else 0
    return {"client": spec.id, "name": spec.label(lang), "dialect": spec.dialect,
            "base_url": spec.base_url(forms), "base_url_field": spec.base_label(lang),
            "key_field": spec.key_label(lang), "models": models,
            "mistakes": [m[pick] for m in (*MISTAKES[spec.base_form], *COMMON, *MEDIA_TIPS.get(spec.id, ()))],
            "example": snippet(spec.id, forms, MASKED_PLACEHOLDER, lang, models[0] if models else "gpt-4o-mini",
                               media),
            "note": ("把上面的 Base URL 填入“{0}”，把你的密钥填入“{1}”。" if zh else
                     "Put the base URL above into '{0}' and your key into '{1}'.").format(
                spec.base_label(lang), spec.key_label(lang))}


def key_snippets(forms: BaseForms, secret: str, models: list[str], lang: str,
                 media: dict[str, str] | None = None) -> dict[str, str]:
    """Every client's configuration for a new key (its secret, shown once): the portal's and the notices'
    example for the same client, with the key's own first model, not a fixed name."""
    return {spec.id: snippet(spec.id, forms, secret, lang, models[0] if models else "gpt-4o-mini", media)
            for spec in CLIENTS}


def media_examples(snapshot: Any, media: Any, models: list[str]) -> dict[str, str]:
    """An image, a video and a Kling model among a key holder's ``models``, for the media clients' examples:
    from the live snapshot's channels (Kling's protocol) and the media price list (per-image prices)."""
    channels = getattr(snapshot, "channels", {}).values()
    kling = {m for c in channels if c.protocol == "kling" and c.enabled for m in c.models}
    rows = getattr(getattr(media, "prices", None), "rows", {}) or {}
    found = classify(models, kling, {m for m, unit, _ in rows if unit == "image"}, set())
    return {kind: names[0] for kind, names in (("image", found.image), ("video", found.video),
                                               ("kling", found.kling)) if names}
