"""The text access line: built in C for an ordinary request, identical to the pair-by-pair rule for any fields."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

import orjson

from relaygate.core.logs import _pairs


def reference(fields: dict[str, Any]) -> str:
    """The rule, one pair at a time: unset fields left out; numbers and booleans as JSON writes them; a value
    JSON-quoted when it is empty or holds a space, a quote, a backslash, a comma, a control character or a
    line separator."""
    def text(value: Any) -> str:
        if isinstance(value, (bool, float)):
            return orjson.dumps(value).decode()
        s = value if value.__class__ is str else str(value)
        plain = s and not any(c in s for c in ' ",\\\x85\u2028\u2029') and all(ord(c) > 0x1F for c in s)
        return s if plain else orjson.dumps(s).decode()

    def attempts(value: Any) -> str:  # the access log's last field: its JSON, quoted as one value
        try:
            return orjson.dumps(orjson.dumps(value).decode()).decode()
        except TypeError:
            return text(value)

    last = next(reversed(fields), None)
    return " ".join(f"{k}={attempts(v) if k == last == 'failed_attempts' else text(v)}"
                    for k, v in fields.items() if v is not None)


VALUES: list[Any] = [None, 0, 200, -3, True, False, 1.5, "", " ", "req_0123", "sk-ab…yz", "gpt-4o mini",
                     "evil\nmodel", "tab\there", "x=", "=", "a= b", "中文模型", "\u2028", "é", "é ", [], {},
                     [{"channel_id": 1, "status": 503, "error": "http_503", "ms": 3}], ("a", "b"), {"k": 1},
                     "trailing ", "\x00", "ok=ok", 'say "hi"', "back\\slash", "\x7f", "\u200b", "[x]", "{x}", '""',
                     datetime(2026, 12, 8, 1, 2, 3), 2.5e-7, float("nan"), b"raw", "a,b", "null", 2**70, "%s", "%b"]


def test_the_fast_line_is_the_rule_for_every_shape() -> None:
    rng = random.Random(18)
    names = ["request_id", "status", "masked_key", "requested_model", "client", "channel", "cost", "odd%s"]
    for _ in range(5000):
        fields = {name: rng.choice(VALUES) for name in rng.sample(names, rng.randint(0, len(names)))}
        if rng.random() < 0.4:
            fields["failed_attempts"] = rng.choice(VALUES)
        assert _pairs(fields) == reference(fields), fields


def test_an_ordinary_request_and_a_newline_in_a_model_name() -> None:
    fields = {"request_id": "req_1", "status": 200, "error_code": None, "masked_key": "sk-ab…yz", "stream": False,
              "failed_attempts": [{"channel_id": 1, "error": "http_503"}]}
    assert _pairs(fields) == ('request_id=req_1 status=200 masked_key=sk-ab…yz stream=false '
                              'failed_attempts="[{\\"channel_id\\":1,\\"error\\":\\"http_503\\"}]"')
    assert _pairs({"requested_model": "m\nstatus=200"}) == 'requested_model="m\\nstatus=200"'
    assert _pairs({"a": datetime(2026, 12, 8)}) == 'a="2026-12-08 00:00:00"'
