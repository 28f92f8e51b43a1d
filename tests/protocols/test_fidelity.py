"""Translation fidelity: fields with an equivalent on the other side are mapped, Gemini schemas converted."""

from __future__ import annotations

from relaygate.protocols import anthropic, gemini, responses


def test_responses_fields_with_a_chat_twin_are_mapped() -> None:
    body = {"model": "m", "input": "hi", "prompt_cache_key": "thread-1", "safety_identifier": "user-7",
            "text": {"verbosity": "low"}, "store": False, "include": ["reasoning.encrypted_content"],
            "reasoning": {"effort": "high", "summary": "auto"}}
    chat = responses.request_to_chat(body)
    assert chat["prompt_cache_key"] == "thread-1" and chat["user"] == "user-7" and chat["verbosity"] == "low"
    assert chat["reasoning_effort"] == "high" and "store" not in chat and "include" not in chat
    back = responses.request_from_chat(chat)
    assert back["prompt_cache_key"] == "thread-1" and back["text"]["verbosity"] == "low" and back["user"] == "user-7"


def test_anthropic_metadata_user_becomes_chat_user() -> None:
    chat = anthropic.request_to_chat({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
                                      "metadata": {"user_id": "user_abc_session_1"}})
    assert chat["user"] == "user_abc_session_1"


def test_gemini_capital_types_become_json_schema_types() -> None:
    schema = {"type": "OBJECT", "properties": {"answer": {"type": "STRING"}, "tags": {
        "type": "ARRAY", "items": {"type": "STRING"}}, "n": {"type": ["INTEGER", "NULL"]}}, "required": ["answer"]}
    for field in ("responseSchema", "responseJsonSchema"):
        chat = gemini.request_to_chat({"contents": [{"role": "user", "parts": [{"text": "x"}]}],
                                       "generationConfig": {"responseMimeType": "application/json", field: schema}})
        out = chat["response_format"]["json_schema"]["schema"]
        assert out == {"type": "object", "properties": {"answer": {"type": "string"}, "tags": {
            "type": "array", "items": {"type": "string"}}, "n": {"type": ["integer", "null"]}},
            "required": ["answer"]}, field
    tool = {"functionDeclarations": [{"name": "f", "parametersJsonSchema": {"type": "OBJECT", "properties": {
        "q": {"type": "STRING"}}}}]}
    chat = gemini.request_to_chat({"contents": [{"role": "user", "parts": [{"text": "x"}]}], "tools": [tool]})
    assert chat["tools"][0]["function"]["parameters"]["properties"]["q"]["type"] == "string"
