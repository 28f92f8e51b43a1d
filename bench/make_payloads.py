"""Request bodies and upstream answers for the large and agent-shaped benchmark (bench/large.sh).

Usage: .venv/bin/python bench/make_payloads.py DIR. Writes, in DIR:

- ``chat200k.json``, ``claude200k.json``: 200 KB chat-completions and Anthropic Messages bodies (a
  long conversation, tools, a system prompt), non-stream; ``MODEL_NAME`` is replaced by body.lua;
- ``claudecode.json``: a Claude-Code-shaped /v1/messages body of about 100 KB (24 tools with JSON
  schemas, system blocks with ``cache_control``, thinking, a tool-use conversation), streamed;
- ``codex.json``: a Codex-shaped /v1/responses body of about 55 KB (developer message, function
  tools, ``store: false``, ``include``, ``prompt_cache_key``), streamed;
- upstream answers served by nginx (bench/mock-big.conf.in): ``big.json`` (a 1 MB chat completion),
  ``bigstream.sse`` (a 1 MB answer in 256 chunks), ``agent_anthropic.sse`` and ``agent_chat.sse``
  (200-event answers in the Anthropic and chat dialects), ``codex.sse`` (200 Responses events).

The shapes follow ../shared/docs/clients.md (what the real clients send); the text is filler.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

CACHE = {"type": "ephemeral"}
WORDS = ["the", "gateway", "relays", "bytes", "of", "a", "request", "to", "its", "upstream", "and", "counts", "what", "it", "charged", "for", "def", "handler(request):", "return", "await", "relay(request)", "#", "a", "comment", "about", "the", "code"]


def filler(n: int, seed: int = 0) -> str:
    out, i = [], seed
    size = 0
    while size < n:
        w = WORDS[i % len(WORDS)]
        out.append(w)
        size += len(w) + 1
        i += 7
    return " ".join(out)[:n]


def schema(i: int) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": ["path"],
            "properties": {"path": {"type": "string", "description": filler(300, i)},
                           "limit": {"type": "integer", "description": filler(120, i + 1)},
                           "mode": {"type": "string", "enum": ["read", "write", "append"]}}}


def claude_code(size: int) -> dict[str, Any]:
    tools = [{"name": f"Tool{i}", "description": filler(1500, i), "input_schema": schema(i)} for i in range(24)]
    tools[-1]["cache_control"] = CACHE
    messages: list[dict[str, Any]] = [{"role": "user", "content": [
        {"type": "text", "text": "<system-reminder>" + filler(3000, 3) + "</system-reminder>"},
        {"type": "text", "text": "Fix the failing test in tests/test_relay.py."}]}]
    n = 0
    while len(orjson.dumps({"tools": tools, "messages": messages})) < size - 12_000:
        n += 1
        messages.append({"role": "assistant", "content": [
            {"type": "thinking", "thinking": filler(400, n), "signature": "c2ln" * 40},
            {"type": "text", "text": filler(200, n + 1)},
            {"type": "tool_use", "id": f"toolu_{n:04d}", "name": f"Tool{n % 24}",
             "input": {"path": f"src/relaygate/module_{n}.py", "limit": 400}}]})
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"toolu_{n:04d}", "content": filler(2500, n + 2)}]})
    messages[-1]["content"][-1]["cache_control"] = CACHE
    return {"model": "MODEL_NAME", "max_tokens": 32000, "stream": True,
            "system": [{"type": "text", "text": "You are Claude Code, Anthropic's official CLI.", "cache_control": CACHE},
                       {"type": "text", "text": filler(9000, 5), "cache_control": CACHE}],
            "thinking": {"type": "adaptive"}, "output_config": {"effort": "high"},
            "context_management": {"edits": [{"type": "clear_thinking_20251015"}]},
            "metadata": {"user_id": "user_0123456789abcdef_account__session_0123"},
            "tools": tools, "messages": messages}


def codex(size: int) -> dict[str, Any]:
    tools = [{"type": "function", "name": f"tool_{i}", "description": filler(1200, i), "strict": False,
              "parameters": schema(i)} for i in range(12)]
    tools.append({"type": "web_search"})
    items: list[dict[str, Any]] = [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": filler(14000, 1)}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Run the tests and fix them."}]}]
    n = 0
    while len(orjson.dumps({"tools": tools, "input": items})) < size - 2_000:
        n += 1
        items.append({"type": "function_call", "call_id": f"call_{n}", "name": f"tool_{n % 12}",
                      "arguments": orjson.dumps({"path": f"src/m{n}.py"}).decode()})
        items.append({"type": "function_call_output", "call_id": f"call_{n}", "output": filler(2000, n)})
    return {"model": "MODEL_NAME", "stream": True, "store": False, "input": items, "tools": tools,
            "tool_choice": "auto", "parallel_tool_calls": False, "reasoning": {"effort": "medium", "summary": "auto"},
            "include": ["reasoning.encrypted_content"], "prompt_cache_key": "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "client_metadata": {"originator": "codex_exec"}}


def chat_body(size: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": filler(8000, 2)}]
    n = 0
    while len(orjson.dumps(messages)) < size - 6_000:
        n += 1
        messages.append({"role": "user", "content": filler(3000, n)})
        messages.append({"role": "assistant", "content": filler(1500, n + 1)})
    tools = [{"type": "function", "function": {"name": f"tool_{i}", "description": filler(300, i),
                                               "parameters": schema(i)}} for i in range(4)]
    return {"model": "MODEL_NAME", "messages": messages, "tools": tools, "max_tokens": 64}


def claude_body(size: int) -> dict[str, Any]:
    chat = chat_body(size)
    return {"model": "MODEL_NAME", "max_tokens": 64, "system": chat["messages"][0]["content"],
            "messages": chat["messages"][1:],
            "tools": [{"name": t["function"]["name"], "description": t["function"]["description"],
                       "input_schema": t["function"]["parameters"]} for t in chat["tools"]]}


def sse(event: str | None, data: Any) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


def chat_chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def chat_stream(pieces: list[str]) -> bytes:
    out = [sse(None, chat_chunk({"role": "assistant", "content": ""}))]
    out += [sse(None, chat_chunk({"content": p})) for p in pieces]
    out.append(sse(None, chat_chunk({}, "stop")))
    out.append(sse(None, {**chat_chunk({}), "choices": [],
                          "usage": {"prompt_tokens": 25000, "completion_tokens": len(pieces),
                                    "total_tokens": 25000 + len(pieces)}}))
    return b"".join(out) + b"data: [DONE]\n\n"


def anthropic_stream(pieces: list[str]) -> bytes:
    usage = {"input_tokens": 25000, "output_tokens": 1, "cache_read_input_tokens": 20000,
             "cache_creation_input_tokens": 0}
    out = [sse("message_start", {"type": "message_start", "message": {
        "id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": usage}}),
        sse("content_block_start", {"type": "content_block_start", "index": 0,
                                    "content_block": {"type": "text", "text": ""}})]
    out += [sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": p}}) for p in pieces]
    out += [sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                  "usage": {"output_tokens": len(pieces)}}),
            sse("message_stop", {"type": "message_stop"})]
    return b"".join(out)


def responses_stream(pieces: list[str]) -> bytes:
    base = {"id": "resp_bench", "object": "response", "created_at": 1700000000, "model": "gpt-5-codex",
            "output": [], "usage": None, "status": "in_progress"}
    item = {"id": "msg_bench", "type": "message", "role": "assistant", "status": "in_progress", "content": []}
    text = "".join(pieces)
    seq = iter(range(10_000))
    out = [sse("response.created", {"type": "response.created", "sequence_number": next(seq), "response": base}),
           sse("response.in_progress", {"type": "response.in_progress", "sequence_number": next(seq), "response": base}),
           sse("response.output_item.added", {"type": "response.output_item.added", "sequence_number": next(seq),
                                              "output_index": 0, "item": item}),
           sse("response.content_part.added", {"type": "response.content_part.added", "sequence_number": next(seq),
                                               "item_id": "msg_bench", "output_index": 0, "content_index": 0,
                                               "part": {"type": "output_text", "annotations": [], "text": ""}})]
    out += [sse("response.output_text.delta", {"type": "response.output_text.delta", "sequence_number": next(seq),
                                               "item_id": "msg_bench", "output_index": 0, "content_index": 0,
                                               "delta": p}) for p in pieces]
    done_item = {**item, "status": "completed", "content": [{"type": "output_text", "annotations": [], "text": text}]}
    out += [sse("response.output_text.done", {"type": "response.output_text.done", "sequence_number": next(seq),
                                              "item_id": "msg_bench", "output_index": 0, "content_index": 0,
                                              "text": text}),
            sse("response.content_part.done", {"type": "response.content_part.done", "sequence_number": next(seq),
                                               "item_id": "msg_bench", "output_index": 0, "content_index": 0,
                                               "part": done_item["content"][0]}),
            sse("response.output_item.done", {"type": "response.output_item.done", "sequence_number": next(seq),
                                              "output_index": 0, "item": done_item}),
            sse("response.completed", {"type": "response.completed", "sequence_number": next(seq), "response": {
                **base, "status": "completed", "output": [done_item],
                "usage": {"input_tokens": 14000, "input_tokens_details": {"cached_tokens": 12000},
                          "output_tokens": len(pieces), "output_tokens_details": {"reasoning_tokens": 0},
                          "total_tokens": 14000 + len(pieces)}}})]
    return b"".join(out)


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    (out / "chat200k.json").write_bytes(orjson.dumps(chat_body(200_000)))
    (out / "claude200k.json").write_bytes(orjson.dumps(claude_body(200_000)))
    (out / "claudecode.json").write_bytes(orjson.dumps(claude_code(100_000)))
    (out / "codex.json").write_bytes(orjson.dumps(codex(55_000)))
    big_text = filler(1_000_000, 9)
    (out / "big.json").write_bytes(orjson.dumps({
        "id": "chatcmpl-big", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": big_text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 25, "completion_tokens": 250000, "total_tokens": 250025}}))
    (out / "bigstream.sse").write_bytes(chat_stream([big_text[i:i + 3900] for i in range(0, len(big_text), 3900)]))
    pieces = [" " + w for w in filler(1200, 4).split()][:196]
    pieces += [" word"] * (196 - len(pieces))
    (out / "agent_anthropic.sse").write_bytes(anthropic_stream(pieces))  # 196 deltas + 6 = 202 events
    (out / "agent_chat.sse").write_bytes(chat_stream(pieces[:197]))
    (out / "codex.sse").write_bytes(responses_stream(pieces[:192]))  # 192 deltas + 8 = 200 events
    for f in sorted(out.iterdir()):
        print(f"{f.name}: {f.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
