"""The table of base-URL mistakes by example: docs/misconfiguration.md is generated from it, tests send each row."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Example:
    """One row of docs/misconfiguration.md, sent to a running gateway by the tests."""

    rule: str
    method: str
    path: str
    caller: str  # who typically sends it
    headers: tuple[tuple[str, str], ...] = ()
    expected_path: str | None = None
    envelope: str = "openai"  # the error format of the answer: openai, anthropic or gemini


EXAMPLES: tuple[Example, ...] = (
    Example("homepage", "GET", "/", "a browser, or a client's connection test"),
    Example("homepage", "GET", "/v1", "a connection test on the base URL"),
    Example("homepage", "GET", "/v1/", "the same, with a trailing slash"),
    Example("base_as_endpoint", "POST", "/v1", "a tool whose URL field wants the full endpoint", (),
            "/v1/chat/completions"),
    Example("base_as_endpoint", "POST", "/", "the same with the homepage, Anthropic headers",
            (("anthropic-version", "2023-06-01"),), "/v1/messages", "anthropic"),
    Example("version_twice", "POST", "/v1/v1/chat/completions", "Cherry Studio / Chatbox with …/v1 as API host",
            (("user-agent", "CherryStudio/1.9.6"),), "/v1/chat/completions"),
    Example("version_twice", "POST", "/v1/v1/messages", "Claude Code with ANTHROPIC_BASE_URL ending in /v1",
            (("user-agent", "claude-cli/2.1.197 (external, cli)"), ("anthropic-version", "2023-06-01")),
            "/v1/messages", "anthropic"),
    Example("version_twice", "POST", "/v1beta/v1beta/models/gemini-2.5-pro:generateContent",
            "Gemini CLI with GOOGLE_GEMINI_BASE_URL ending in /v1beta", (),
            "/v1beta/models/gemini-2.5-pro:generateContent", "gemini"),
    Example("endpoint_twice", "POST", "/v1/chat/completions/chat/completions",
            "an SDK given the full endpoint as base URL", (("user-agent", "OpenAI/Python 1.54.0"),),
            "/v1/chat/completions"),
    Example("endpoint_twice", "POST", "/chat/completions/v1/chat/completions",
            "a client that adds /v1/chat/completions to a pasted endpoint", (), "/v1/chat/completions"),
    Example("endpoint_twice", "GET", "/v1/chat/completions/models", "a model list fetched from a pasted endpoint",
            (), "/v1/models"),
    Example("endpoint_twice", "POST", "/v1/messages/v1/messages", "Anthropic SDK given the full endpoint",
            (("anthropic-version", "2023-06-01"),), "/v1/messages", "anthropic"),
    Example("double_slash", "POST", "/v1//chat/completions", "a base URL ending in '/'", (), "/v1/chat/completions"),
    Example("double_slash", "POST", "//v1/chat/completions", "a homepage base URL ending in '/'", (),
            "/v1/chat/completions"),
    Example("trailing_slash", "POST", "/v1/chat/completions/", "a client adding '/' after the path", (),
            "/v1/chat/completions"),
    Example("trailing_slash", "POST", "/v1/messages/", "the same for Anthropic",
            (("anthropic-version", "2023-06-01"),), "/v1/messages", "anthropic"),
    Example("extra_prefix", "POST", "/openai/v1/chat/completions", "a base URL copied from another provider", (),
            "/v1/chat/completions"),
    Example("extra_prefix", "POST", "/v1beta/openai/chat/completions",
            "Google's OpenAI-compatible base URL pattern", (), "/chat/completions"),
    Example("azure_style", "POST", "/openai/deployments/gpt-4o/chat/completions", "the AzureOpenAI client", (),
            "/v1/chat/completions"),
    Example("engines_path", "POST", "/v1/engines/text-davinci-003/completions", "openai-python < 0.27", (),
            "/v1/completions"),
    Example("typo", "POST", "/v1/chat/completion", "a hand-written URL", (), "/v1/chat/completions"),
    Example("typo", "POST", "/v1/chat", "a URL cut short", (), "/v1/chat/completions"),
    Example("not_served", "POST", "/v1/moderations", "a moderation client"),
    Example("not_served", "POST", "/v1/files", "a file-upload client"),
    Example("oneapi_route", "POST", "/v1/oneapi/proxy/3/v1/chat/completions", "One API's proxy channel route"),
    Example("oneapi_route", "POST", "/mj/insight-face/swap",
            "a Midjourney-proxy client of New API (imagine, its actions, blend, describe, modal, fetch and "
            "list-by-condition are served)"),
    Example("old_billing", "GET", "/dashboard/billing/credit_grants", "an old balance-check tool"),
    Example("gemini_not_served", "GET", "/v1beta/models", "a Gemini SDK listing models",
            (("x-goog-api-key", "AIza-placeholder"),), None, "gemini"),
)
