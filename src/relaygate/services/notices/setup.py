"""Setting up one client against this gateway, for a key holder: where each value goes, the base-URL
form the client wants, the models the key may use, and the mistakes people make with that client."""

from __future__ import annotations

from typing import Any

from relaygate.core.errors import InvalidInput
from relaygate.services.notices.clients import CLIENTS, BaseForms, ClientSpec

MISTAKES = {
    "v1": (("Put the base URL with /v1 at the end; do not paste a full endpoint such as …/v1/chat/completions.",
            "Base URL 以 /v1 结尾；不要粘贴 …/v1/chat/completions 这样的完整接口地址。"),),
    "root": (("Put the base URL without /v1: this client adds /v1 itself (…/v1/v1 fails).",
              "Base URL 不要带 /v1：该客户端会自己加上 /v1（写成 …/v1/v1 会失败）。"),),
}
COMMON = (("Copy the whole key: it starts with sk- and is 51 characters long.",
           "完整复制密钥：以 sk- 开头，共 51 个字符。"),
          ("Use a model name from the list below exactly as written.", "模型名请与下方列表完全一致。"))


def client_setup(client_id: str, forms: BaseForms, models: list[str], lang: str) -> dict[str, Any]:
    spec: ClientSpec | None = next((c for c in CLIENTS if c.id == client_id), None)
    if spec is None:
        raise InvalidInput(f"Unknown client '{client_id}': use one of {', '.join(c.id for c in CLIENTS)}.",
                           f"未知客户端 '{client_id}'：可选 {', '.join(c.id for c in CLIENTS)}。", status=404)
    zh = lang.startswith("zh")
    pick = 1 if zh else 0
    return {"client": spec.id, "name": spec.name, "dialect": spec.dialect,
            "base_url": spec.base_url(forms), "base_url_field": spec.base_label(lang),
            "key_field": spec.key_label(lang), "models": models,
            "mistakes": [m[pick] for m in (*MISTAKES[spec.base_form], *COMMON)],
            "note": ("把上面的 Base URL 填入“{0}”，把你的密钥填入“{1}”。" if zh else
                     "Put the base URL above into '{0}' and your key into '{1}'.").format(
                spec.base_label(lang), spec.key_label(lang))}
