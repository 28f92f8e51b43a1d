"""Token estimates on the request path come from sizes, never from a walk over the characters."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from relaygate.protocols import anthropic
from relaygate.protocols.openai import parse_request
from relaygate.protocols.usage import estimate_prompt_bytes, estimate_tokens


class NoWalk(str):
    """A string that fails the test if anyone iterates over its characters."""

    def __iter__(self) -> Any:
        raise AssertionError("the estimate walked the text character by character")


def test_estimate_tokens_never_iterates_the_text() -> None:
    assert estimate_tokens(NoWalk("hello world, " * 1000)) == (13 * 1000 + 3) // 4
    assert estimate_tokens(NoWalk("你好世界" * 100)) >= 400  # at least one token a CJK character
    assert estimate_tokens(NoWalk("")) == 0


@pytest.mark.parametrize("text", ["plain english text " * 10, "中文内容" * 50, "한국어 텍스트" * 20,
                                  "mixed 混合 text ñ é ü " * 30, "emoji 🙂🚀 " * 40, "\udcff lone surrogate"])
def test_estimate_tokens_is_conservative(text: str) -> None:
    # the old per-character estimate: one token per CJK/Hangul character, four characters per token else
    cjk = sum(1 for ch in text if "\u3000" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af")
    assert estimate_tokens(text) >= cjk + max(1, (len(text) - cjk + 3) // 4) - 1


def _big_chat_body(size: int) -> bytes:
    tools = [{"type": "function", "function": {"name": f"tool_{i}", "description": "d" * 400,
                                               "parameters": {"type": "object", "properties": {}}}}
             for i in range(40)]
    messages = [{"role": "system", "content": "You are a coding agent. " * 200}]
    while len(orjson.dumps(messages)) < size:
        messages.append({"role": "user", "content": [{"type": "text", "text": "read file main.py " * 50}]})
        messages.append({"role": "assistant", "content": "ok " * 300})
    return orjson.dumps({"model": "gpt-x", "messages": messages, "tools": tools, "max_tokens": 1000})


def test_chat_prompt_estimate_is_the_body_size() -> None:
    body = _big_chat_body(200_000)
    _, facts = parse_request(body, "chat/completions")
    # the tools and the system prompt are input too: the whole body counts, about four bytes a token
    assert facts.prompt_estimate == estimate_prompt_bytes(len(body)) == len(body) // 4
    assert facts.max_tokens == 1000
    _, tiny = parse_request(b'{"model":"m","messages":[]}', "chat/completions")
    assert tiny.prompt_estimate >= 1


def test_count_tokens_estimate_never_walks_characters() -> None:
    body = {"model": "claude", "max_tokens": 10, "system": [{"type": "text", "text": NoWalk("sys " * 5000)}],
            "messages": [{"role": "user", "content": NoWalk("question " * 20000)},
                         {"role": "assistant", "content": [{"type": "text", "text": NoWalk("answer " * 100)}]}]}
    assert anthropic.count_tokens_estimate(body) >= (4 * 5000 + 9 * 20000 + 7 * 100) // 4
