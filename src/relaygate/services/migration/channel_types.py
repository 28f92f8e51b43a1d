"""Channel type tables of One API and New API (their numbers differ after 25) and relaygate's mapping."""

from __future__ import annotations

from dataclasses import dataclass

OPENAI = "openai"


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """One source channel type: what relaygate needs to serve it and where its upstream lives.

    ``protocol`` is ``openai`` when the upstream speaks the OpenAI API, else the adapter relaygate
    would need. ``suffix`` is the path the source appended to the channel's base URL before
    ``/chat/completions`` (One API stores base URLs without the version path); None means the
    base URL is used as stored.
    """

    name: str
    protocol: str
    default_base: str = ""
    suffix: str | None = "/v1"
    tasks: tuple[str, ...] = ("chat", "embeddings")
    note: str = ""
    alternative: str = ""  # an OpenAI-compatible base URL the same key works with, to switch by hand


def _t(name: str, protocol: str = OPENAI, base: str = "", suffix: str | None = "/v1", tasks: tuple[str, ...] = (
        "chat", "embeddings"), note: str = "", alt: str = "") -> TypeInfo:
    return TypeInfo(name, protocol, base, suffix if protocol == OPENAI else None, tasks, note, alt)


_IMAGES = ("images",)
_VIDEO = ("video",)

# songquanpeng/one-api relay/channeltype (define.go, url.go), at 8df4a26
ONEAPI: dict[int, TypeInfo] = {
    0: _t("Unknown", "unknown"),
    1: _t("OpenAI", base="https://api.openai.com"),
    2: _t("API2D", base="https://oa.api2d.net"),
    3: _t("Azure", "azure", note="Azure deployment URLs with api-version (channel 'other')"),
    4: _t("CloseAI", base="https://api.closeai-proxy.xyz"),
    5: _t("OpenAI-SB", base="https://api.openai-sb.com"),
    6: _t("OpenAIMax", base="https://api.openaimax.com"),
    7: _t("OhMyGPT", base="https://api.ohmygpt.com"),
    8: _t("Custom"),
    9: _t("AILS", base="https://api.caipacity.com"),
    10: _t("AIProxy", base="https://api.aiproxy.io"),
    11: _t("PaLM", "palm", "https://generativelanguage.googleapis.com"),
    12: _t("API2GPT", base="https://api.api2gpt.com"),
    13: _t("AIGC2D", base="https://api.aigc2d.com"),
    14: _t("Anthropic", "anthropic", "https://api.anthropic.com", tasks=("chat",)),
    15: _t("Baidu", "baidu", "https://aip.baidubce.com"),
    16: _t("Zhipu", "zhipu", "https://open.bigmodel.cn", alt="https://open.bigmodel.cn/api/paas/v4"),
    17: _t("Ali", "ali", "https://dashscope.aliyuncs.com",
          alt="https://dashscope.aliyuncs.com/compatible-mode/v1"),
    18: _t("Xunfei", "xunfei", tasks=("chat",)),
    19: _t("360", base="https://ai.360.cn"),
    20: _t("OpenRouter", base="https://openrouter.ai/api"),
    21: _t("AIProxyLibrary", "aiproxy-library", "https://api.aiproxy.io", tasks=("chat",)),
    22: _t("FastGPT", base="https://fastgpt.run/api/openapi"),
    23: _t("Tencent", "tencent", "https://hunyuan.tencentcloudapi.com", tasks=("chat",)),
    24: _t("Gemini", "gemini", "https://generativelanguage.googleapis.com",
          alt="https://generativelanguage.googleapis.com/v1beta/openai"),
    25: _t("Moonshot", base="https://api.moonshot.cn"),
    26: _t("Baichuan", base="https://api.baichuan-ai.com"),
    27: _t("Minimax", base="https://api.minimax.chat", tasks=("chat",),
          note="One API called /v1/text/chatcompletion_v2; relaygate calls /v1/chat/completions"),
    28: _t("Mistral", base="https://api.mistral.ai"),
    29: _t("Groq", base="https://api.groq.com/openai"),
    30: _t("Ollama", "ollama", "http://localhost:11434", alt="{base}/v1"),
    31: _t("LingYiWanWu", base="https://api.lingyiwanwu.com"),
    32: _t("StepFun", base="https://api.stepfun.com"),
    33: _t("AwsClaude", "aws", tasks=("chat",), note="key is ak|sk|region"),
    34: _t("Coze", "coze", "https://api.coze.com", tasks=("chat",)),
    35: _t("Cohere", "cohere", "https://api.cohere.ai"),
    36: _t("DeepSeek", base="https://api.deepseek.com", tasks=("chat",)),
    37: _t("Cloudflare", "cloudflare", "https://api.cloudflare.com"),
    38: _t("DeepL", "deepl", "https://api-free.deepl.com", tasks=("translation",)),
    39: _t("TogetherAI", base="https://api.together.xyz"),
    40: _t("Doubao", base="https://ark.cn-beijing.volces.com", suffix="/api/v3"),
    41: _t("Novita", base="https://api.novita.ai/v3/openai", suffix="", tasks=("chat",)),
    42: _t("VertexAI", "vertex"),
    43: _t("Proxy", "proxy", tasks=("proxy",), note="raw /v1/oneapi/proxy/<channel>/… forwarding"),
    44: _t("SiliconFlow", base="https://api.siliconflow.cn"),
    45: _t("XAI", base="https://api.x.ai"),
    46: _t("Replicate", "replicate", "https://api.replicate.com/v1/models/", tasks=_IMAGES),
    47: _t("BaiduV2", base="https://qianfan.baidubce.com", suffix="/v2", tasks=("chat",)),
    48: _t("XunfeiV2", base="https://spark-api-open.xf-yun.com", tasks=("chat",)),
    49: _t("AliBailian", base="https://dashscope.aliyuncs.com", suffix="/compatible-mode/v1"),
    50: _t("OpenAICompatible", suffix=""),
    51: _t("GeminiOpenAICompatible", base="https://generativelanguage.googleapis.com/v1beta/openai", suffix=""),
}

# QuantumNous/new-api constant/channel.go (ChannelBaseURLs), at 4ca47ee2
NEWAPI: dict[int, TypeInfo] = {
    0: _t("Unknown", "unknown"),
    1: _t("OpenAI", base="https://api.openai.com"),
    2: _t("Midjourney", "midjourney", tasks=_IMAGES),
    3: _t("Azure", "azure", note="Azure deployment URLs with api-version (channel 'other')"),
    4: _t("Ollama", "ollama", "http://localhost:11434", alt="{base}/v1"),
    5: _t("MidjourneyPlus", "midjourney", tasks=_IMAGES),
    6: _t("OpenAIMax", base="https://api.openaimax.com"),
    7: _t("OhMyGPT", base="https://api.ohmygpt.com"),
    8: _t("Custom", suffix=""),
    9: _t("AILS", base="https://api.caipacity.com"),
    10: _t("AIProxy", base="https://api.aiproxy.io"),
    11: _t("PaLM", "palm"),
    12: _t("API2GPT", base="https://api.api2gpt.com"),
    13: _t("AIGC2D", base="https://api.aigc2d.com"),
    14: _t("Anthropic", "anthropic", "https://api.anthropic.com", tasks=("chat",)),
    15: _t("Baidu", "baidu", "https://aip.baidubce.com"),
    16: _t("Zhipu", "zhipu", "https://open.bigmodel.cn", alt="https://open.bigmodel.cn/api/paas/v4"),
    17: _t("Ali", base="https://dashscope.aliyuncs.com", suffix="/compatible-mode/v1"),
    18: _t("Xunfei", "xunfei", tasks=("chat",)),
    19: _t("360", base="https://api.360.cn"),
    20: _t("OpenRouter", base="https://openrouter.ai/api"),
    21: _t("AIProxyLibrary", "aiproxy-library", "https://api.aiproxy.io", tasks=("chat",)),
    22: _t("FastGPT", base="https://fastgpt.run/api/openapi"),
    23: _t("Tencent", "tencent", "https://hunyuan.tencentcloudapi.com", tasks=("chat",)),
    24: _t("Gemini", "gemini", "https://generativelanguage.googleapis.com",
          alt="https://generativelanguage.googleapis.com/v1beta/openai"),
    25: _t("Moonshot", base="https://api.moonshot.cn"),
    26: _t("ZhipuV4", base="https://open.bigmodel.cn", suffix="/api/paas/v4"),
    27: _t("Perplexity", base="https://api.perplexity.ai", suffix="", tasks=("chat",)),
    31: _t("LingYiWanWu", base="https://api.lingyiwanwu.com"),
    33: _t("AWS", "aws", tasks=("chat",), note="key is ak|sk|region or an API key (settings.aws_key_type)"),
    34: _t("Cohere", "cohere", "https://api.cohere.ai"),
    35: _t("MiniMax", base="https://api.minimax.chat", tasks=("chat",),
          note="New API called /v1/text/chatcompletion_v2; relaygate calls /v1/chat/completions"),
    36: _t("SunoAPI", "suno", tasks=("music",)),
    37: _t("Dify", "dify", "https://api.dify.ai", tasks=("chat",)),
    38: _t("Jina", "jina", "https://api.jina.ai", tasks=("embeddings", "rerank")),
    39: _t("Cloudflare", "cloudflare", "https://api.cloudflare.com"),
    40: _t("SiliconFlow", base="https://api.siliconflow.cn"),
    41: _t("VertexAI", "vertex"),
    42: _t("Mistral", base="https://api.mistral.ai"),
    43: _t("DeepSeek", base="https://api.deepseek.com", tasks=("chat",)),
    44: _t("MokaAI", "mokaai", "https://api.moka.ai", tasks=("embeddings",)),
    45: _t("VolcEngine", base="https://ark.cn-beijing.volces.com", suffix="/api/v3"),
    46: _t("BaiduV2", base="https://qianfan.baidubce.com", suffix="/v2", tasks=("chat",)),
    47: _t("Xinference", "xinference", note="OpenAI-compatible under {base}/v1 in most set-ups", alt="{base}/v1"),
    48: _t("xAI", base="https://api.x.ai"),
    49: _t("Coze", "coze", "https://api.coze.cn", tasks=("chat",)),
    50: _t("Kling", "kling", "https://api.klingai.com", tasks=_VIDEO),
    51: _t("Jimeng", "jimeng", "https://visual.volcengineapi.com", tasks=_IMAGES + _VIDEO),
    52: _t("Vidu", "vidu", "https://api.vidu.cn", tasks=_VIDEO),
    53: _t("Submodel", base="https://llm.submodel.ai"),
    54: _t("DoubaoVideo", "doubao-video", "https://ark.cn-beijing.volces.com", tasks=_VIDEO),
    55: _t("Sora", base="https://api.openai.com", tasks=_VIDEO,
           note="OpenAI's video task API (/v1/videos): relaygate's openai channels serve it"),
    56: _t("Replicate", "replicate", "https://api.replicate.com", tasks=_IMAGES),
    57: _t("Codex", "codex", "https://chatgpt.com", tasks=("chat",)),
}


def type_info(kind: str, channel_type: int) -> TypeInfo:
    table = ONEAPI if kind == "oneapi" else NEWAPI
    return table.get(channel_type) or TypeInfo(f"type {channel_type}", "unknown", suffix=None,
                                               note=f"type {channel_type} is not in {kind}'s table")


GEMINI_VERSION = "v1beta"  # One API used v1beta for gemini-1.5/2.0 (v1 otherwise); New API defaults to it


def _with(base: str, suffix: str, notes: list[str]) -> str:
    if base.endswith(suffix):
        notes.append(f"base URL already ends with {suffix}: kept as is")
        return base
    notes.append(f"'{suffix}' appended (the source added it to every request path)")
    return base + suffix


def target_base_url(kind: str, channel_type: int, base_url: str, api_version: str = "") -> tuple[str, list[str]]:
    """The base URL relaygate calls (including the version path) and notes on how it was derived.

    One API and New API store base URLs without ``/v1`` and append the request path; relaygate's
    base URL includes it (Anthropic ``/v1``, Gemini ``/v1beta`` or the channel's version, Azure none:
    the resource endpoint). Empty means the type's default.
    """
    info = type_info(kind, channel_type)
    notes: list[str] = []
    base = base_url.strip().rstrip("/")
    if not base:
        base = info.default_base.rstrip("/")
        if base:
            notes.append(f"base URL empty in the source: the {info.name} default {base}")
    if not base:
        return "", ["no base URL in the source and no default for this type"]
    if info.protocol == "anthropic":
        return _with(base, "/v1", notes), notes
    if info.protocol == "gemini":
        version = api_version.strip().strip("/") or GEMINI_VERSION
        if not api_version.strip():
            notes.append(f"no API version on the channel: {GEMINI_VERSION} (serves every current Gemini model)")
        return _with(base, "/" + version, notes), notes
    if info.protocol != OPENAI:
        return base, notes
    suffix = info.suffix or ""
    if kind == "oneapi" and channel_type == 1 and base.startswith("https://gateway.ai.cloudflare.com"):
        suffix = ""  # One API strips /v1 for Cloudflare AI Gateway URLs
    if kind == "newapi" and channel_type == 8:
        if "{model}" in base:
            return base, ["the Custom URL contains {model}: relaygate cannot call it as stored"]
        for tail in ("/chat/completions", "/completions", "/embeddings"):
            if base.endswith(tail):
                notes.append(f"'{tail}' removed from the Custom URL (New API used it as the full URL)")
                return base[: -len(tail)], notes
        notes.append("New API used this Custom URL as the full request URL: check it")
        return base, notes
    return (_with(base, suffix, notes) if suffix else base), notes
