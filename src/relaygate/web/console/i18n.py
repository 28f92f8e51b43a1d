"""Languages of the pages: en and zh-CN, from the remembered choice (cookie) or Accept-Language."""

from __future__ import annotations

from relaygate.core.errors import prefers_chinese
from relaygate.web.console.messages import MESSAGES

LANGS = ("en", "zh-CN")


def pick_lang(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGS:
        return cookie
    return "zh-CN" if prefers_chinese(accept_language) else "en"


def known(key: str) -> bool:
    return key in MESSAGES


def translate(lang: str, key: str, **values: object) -> str:
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    text = pair[1] if lang == "zh-CN" else pair[0]
    return text.format(**values) if values else text
