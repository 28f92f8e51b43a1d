"""What One API and New API use when an option is absent: default ratios, completion rules, settings.

These are facts read from their source (OA ``relay/billing/ratio``, NA ``setting/ratio_setting``),
kept as data: One API's tables completely (oneapi_ratios.py), New API's for the commonly served models.
"""

from __future__ import annotations

from fractions import Fraction as F

from relaygate.services.migration import oneapi_ratios

QUOTA_PER_UNIT = F(500_000)  # both projects: 500,000 quota units per US dollar
OA_UNKNOWN_MODEL_RATIO = F(30)  # One API bills a model without any ratio at 30 ($60 per 1M input tokens)
NA_SELF_USE_RATIO = F(75, 2)  # New API's sentinel ratio 37.5 when SelfUseModeEnabled lets unpriced models through
DEFAULT_GROUP_RATIO = {"default": F(1), "vip": F(1), "svip": F(1)}

_HALF = F(1, 2)  # one ratio unit is $0.002 per 1K tokens; "$x per 1K" is ratio x * 500
_RMB_NA = F(5000, 73)  # NA: RMB = USD / 7.3

ONEAPI_MODEL_RATIO: dict[str, F] = oneapi_ratios.MODEL_RATIO  # complete: see oneapi_ratios.py
ONEAPI_COMPLETION_RATIO: dict[str, F] = oneapi_ratios.COMPLETION_RATIO

# New API: the commonly served part of setting/ratio_setting/model_ratio.go (defaultModelRatio); used only
# when the ModelRatio option is absent (an option present replaces New API's whole map).
NEWAPI_MODEL_RATIO: dict[str, F] = {
    "gpt-4": F(15), "gpt-4-turbo": F(5), "gpt-4o": F(5, 4), "gpt-4o-mini": F(75, 1000),
    "gpt-4.1": F(1), "gpt-4.1-mini": F(1, 5), "gpt-3.5-turbo": F(1, 4), "o1": F(15, 2), "o3-mini": F(55, 100),
    "gpt-5": F(5, 8), "gpt-5-mini": F(1, 8), "text-embedding-ada-002": F(5, 100),
    "text-embedding-3-small": F(1, 100), "text-embedding-3-large": F(65, 1000),
    "claude-3-haiku-20240307": F(1, 8), "claude-3-5-haiku-20241022": F(1, 2),
    "claude-3-5-sonnet-20241022": F(3, 2), "claude-sonnet-4-20250514": F(3, 2),
    "gemini-1.5-pro-latest": F(5, 4), "gemini-2.0-flash": F(1, 20), "gemini-2.5-pro": F(5, 8),
    "gemini-2.5-flash": F(3, 20), "deepseek-chat": F(27, 200), "deepseek-reasoner": F(55, 200),
    "glm-4": F(7143, 1000), "qwen-turbo": F(8572, 10000), "yi-large": F(20, 1000) * _RMB_NA,
}
NEWAPI_MODEL_PRICE: dict[str, F] = {  # USD per call
    "dall-e-3": F(4, 100), "suno_music": F(1, 10), "suno_lyrics": F(1, 100), "mj_imagine": F(1, 10),
    "gpt-4o-mini-tts": F(3, 10), "sora-2": F(3, 10),
}

# Completion ratio rules, first match wins: "=name", "^prefix", "^prefix$suffix", "*substring".
# One API: after the options and defaults maps (relay/billing/ratio/model.go GetCompletionRatio).
ONEAPI_COMPLETION_RULES: list[tuple[str, F]] = [
    ("=gpt-3.5-turbo", F(3)), ("^gpt-3.5$0125", F(3)), ("^gpt-3.5$1106", F(2)), ("^gpt-3.5", F(4, 3)),
    ("=gpt-4o-2024-05-13", F(3)), ("^gpt-4o", F(4)), ("^gpt-4-turbo", F(3)), ("^gpt-4$preview", F(3)),
    ("^gpt-4", F(2)), ("^o1", F(4)), ("=chatgpt-4o-latest", F(3)), ("^claude-3", F(5)), ("^claude-", F(3)),
    ("^mistral-", F(3)), ("^gemini-", F(3)), ("^deepseek-", F(2)), ("=llama2-70b-4096", F(80, 64)),
    ("=llama3-8b-8192", F(2)), ("=llama3-70b-8192", F(79, 59)), ("=command", F(2)), ("=command-light", F(2)),
    ("=command-nightly", F(2)), ("=command-light-nightly", F(2)), ("=command-r", F(3)),
    ("=command-r-plus", F(5)), ("=grok-beta", F(3)),
]
# New API: hard-coded ratios; "locked" ones override the admin's CompletionRatio (new-api#3271).
NEWAPI_COMPLETION_RULES: list[tuple[str, F, bool]] = [
    ("$-all", F(2), False), ("$-gizmo-*", F(2), False),
    ("=gpt-4o-2024-05-13", F(3), True), ("^gpt-4o-mini-tts", F(20), False), ("^gpt-4o", F(4), False),
    ("^gpt-5.4-nano", F(25, 4), True), ("^gpt-5.4", F(6), True), ("^gpt-5.", F(6), False), ("^gpt-5", F(8), True),
    ("^gpt-4.5-preview", F(2), True), ("^gpt-4-turbo", F(3), True), ("$gpt-4-1106", F(3), True),
    ("$gpt-4-1105", F(3), True), ("^gpt-", F(2), False), ("^o1", F(4), True), ("^o3", F(4), True),
    ("=chatgpt-4o-latest", F(3), True), ("*claude-3", F(5), True), ("*claude-sonnet-4", F(5), True),
    ("*claude-opus-4", F(5), True), ("*claude-haiku-4", F(5), True), ("*claude-sonnet-5", F(5), True),
    ("*claude-opus-5", F(5), True), ("^mistral-", F(3), True), ("^gemini-1.5", F(4), True),
    ("^gemini-2.0", F(4), True), ("^gemini-2.5-pro", F(8), False),
    ("^gemini-2.5-flash-preview$-nothinking", F(4), False), ("^gemini-2.5-flash-preview", F(350, 15), False),
    ("^gemini-2.5-flash-lite", F(4), False), ("^gemini-2.5-flash", F(25, 3), False),
    ("^gemini-3-pro-image", F(60), False), ("^gemini-3-pro", F(6), False), ("^gemini-", F(4), False),
    ("=command-r", F(3), True), ("=command-r-plus", F(5), True), ("=command-r-08-2024", F(4), True),
    ("=command-r-plus-08-2024", F(4), True), ("^command", F(4), False), ("^ERNIE-Speed-", F(2), True),
    ("^ERNIE-Lite-", F(2), True), ("^ERNIE-Character", F(2), True), ("^ERNIE-Functions", F(2), True),
    ("=llama2-70b-4096", F(80, 64), True), ("=llama3-8b-8192", F(2), True),
    ("=llama3-70b-8192", F(79, 59), True),
]


def matches(rule: str, name: str) -> bool:
    """One rule pattern against a model name (see the rule tables above)."""
    head, body = rule[0], rule[1:]
    if head == "=":
        return name == body
    if head == "*":
        return body in name
    if head == "$":
        return name.endswith(body)
    prefix, _, suffix = body.partition("$")
    return name.startswith(prefix) and name.endswith(suffix)


def oneapi_completion_rule(name: str) -> F:
    for rule, value in ONEAPI_COMPLETION_RULES:
        if matches(rule, name):
            return value
    return F(1)


def newapi_completion_rule(name: str) -> tuple[F, bool]:
    for rule, value, locked in NEWAPI_COMPLETION_RULES:
        if matches(rule, name):
            return value, locked
    return F(1), False
