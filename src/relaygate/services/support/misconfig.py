"""Base-URL mistakes: from a path that matched no endpoint, work out what the caller meant and how to fix it.

Pure functions over (method, path, headers): no I/O, no web framework. The web layer renders a
``Finding`` in the caller's dialect; docs/misconfiguration.md is generated from support/examples.py
and the tests send every example to a running gateway.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from relaygate.services.notices.clients import BaseForms, ClientSpec

# what relaygate serves (keep in step with web/relay/asgi.py; tests/support checks both agree)
_RELATIVE = ("chat/completions", "completions", "embeddings", "messages", "messages/count_tokens", "responses",
             "images/generations", "images/edits", "images/variations", "audio/speech", "audio/transcriptions",
             "audio/translations", "videos")
_SERVED = frozenset(p for rel in _RELATIVE for p in (f"/{rel}", f"/v1/{rel}")) | frozenset({
    "/v1/dashboard/billing/subscription", "/dashboard/billing/subscription",
    "/v1/dashboard/billing/usage", "/dashboard/billing/usage"})
_MODELS = re.compile(r"^/(?:v1/)?models(?:/[^:]+)?$")
_GEMINI = re.compile(r"^/(?:v1beta|v1alpha|v1)/models/[^/]+:(?:generateContent|streamGenerateContent)$")
_TYPO_CANDIDATES = [*sorted(p for p in _SERVED if "dashboard" not in p), "/v1/models", "/models"]
_ENDPOINT_IN_PATH = re.compile(r"/(?:chat/completions|completions|embeddings|responses|messages)(?=/)")
_VERSION_TWICE = re.compile(r"^(/v1beta|/v1alpha|/v1)((?:\1)+)(/.*)?$")
_AZURE = re.compile(r"^/openai/deployments/(?P<model>[^/]+)/(?P<ep>chat/completions|completions|embeddings)$")
_ENGINES = re.compile(r"^(?:/v1)?/engines/(?P<model>[^/]+)/(?P<ep>chat/completions|completions|embeddings)$")
_HOMEPAGES = ("", "/v1", "/v1beta", "/v1alpha")
_VIDEO_TASK = re.compile(r"^(?:(?:/v1)?/videos/[^/]+(?:/content)?"
                         r"|/kling/v1/videos/(?:text2video|image2video)(?:/[^/]+)?"
                         r"|(?:/mj-(?:fast|relax|turbo))?/mj/(?:submit/(?:imagine|action|change|blend|describe|modal)"
                         r"|task/list-by-condition|task/[^/]+/fetch|image/[^/]+))$")
_UNSERVED_OPENAI = re.compile(r"^(?:/v1)?/(moderations|rerank|realtime|files|batches|fine_tuning|"
                              r"fine-tunes|assistants|threads|vector_stores|uploads|edits|containers|evals)(?:/|$)")
_ONEAPI = re.compile(r"^(?:/v1/oneapi/|/(?:[\w-]+/)?mj/|/suno/|/kling/|/jimeng/|/v1/video/)")
_OLD_BILLING = re.compile(r"^(?:/v1)?/dashboard/billing/credit_grants$")
_GEMINI_OTHER = re.compile(r"^/(?:v1beta|v1alpha)/")


def is_endpoint(path: str) -> bool:
    """True when relaygate routes this path to an endpoint (never to the misconfiguration answer)."""
    return path in _SERVED or bool(_MODELS.match(path)) or bool(_GEMINI.match(path)) or bool(_VIDEO_TASK.match(path))


# rule: (error code, what went wrong en, zh); placeholders come from the matching fixer
RULES: dict[str, tuple[str, str, str]] = {
    "homepage": ("base_url_mistake",
                 "{path} is the gateway's address, not an API endpoint; put the base URL in your client and let "
                 "the client add paths such as /chat/completions",
                 "{path} 是网关地址而不是接口；请把 Base URL 填进客户端，由客户端自己拼接 /chat/completions 等路径"),
    "base_as_endpoint": ("base_url_mistake",
                         "the request went to the base URL itself, but this client setting expects the full "
                         "endpoint URL ({endpoint_url})",
                         "请求直接发到了 Base URL 本身，而这个客户端设置需要填写完整接口地址（{endpoint_url}）"),
    "double_slash": ("base_url_mistake",
                     "the path contains '//': the base URL ends with '/' and the client adds another '/'",
                     "路径里出现了 '//'：Base URL 以 '/' 结尾，客户端又拼接了一个 '/'"),
    "trailing_slash": ("base_url_mistake",
                       "the path ends with '/', but endpoint paths have no trailing slash",
                       "路径以 '/' 结尾，但接口路径末尾没有 '/'"),
    "endpoint_twice": ("base_url_mistake",
                       "the base URL already contains the endpoint path {pasted} and the client appended {tail} "
                       "again",
                       "Base URL 里已经包含接口路径 {pasted}，客户端又拼接了一次 {tail}"),
    "version_twice": ("base_url_mistake",
                      "the base URL ends with {dup} and the client adds {dup} again",
                      "Base URL 以 {dup} 结尾，客户端又自动加了一次 {dup}"),
    "extra_prefix": ("base_url_mistake",
                     "the path starts with {prefix}, which is not part of this gateway's base URL (copied from "
                     "another provider or from the old entry?)",
                     "路径以 {prefix} 开头，这不是本网关 Base URL 的一部分（是否从其他服务商或旧入口复制而来？）"),
    "azure_style": ("base_url_mistake",
                    "this is an Azure OpenAI path (deployment '{model}'), but this gateway speaks the plain "
                    "OpenAI API",
                    "这是 Azure OpenAI 的路径（部署名 '{model}'），本网关使用标准 OpenAI 接口"),
    "engines_path": ("base_url_mistake",
                     "this is the retired /engines/{model}/… API of old OpenAI SDKs",
                     "这是旧版 OpenAI SDK 使用的已废弃接口 /engines/{model}/…"),
    "typo": ("base_url_mistake",
             "no endpoint has this path; did you mean {expected}?",
             "没有这个接口路径；是否想访问 {expected}？"),
    "not_served": ("endpoint_not_served",
                   "this gateway serves chat/completions, completions, embeddings, responses, messages, models and "
                   "Gemini generateContent.",
                   "本网关提供 chat/completions、completions、embeddings、responses、messages、models 和 Gemini "
                   "generateContent 接口。"),
    "oneapi_route": ("endpoint_not_served",
                     "this route belonged to the old One API / New API entry and relaygate does not offer it.",
                     "这是旧入口 One API / New API 的专有路由，relaygate 不提供。"),
    "old_billing": ("endpoint_not_served",
                    "OpenAI retired this billing path.",
                    "OpenAI 已停用这个账单接口。"),
    "gemini_not_served": ("endpoint_not_served",
                          "of the Gemini API this gateway serves only models/MODEL:generateContent and "
                          ":streamGenerateContent.",
                          "Gemini 接口中本网关只提供 models/MODEL:generateContent 和 :streamGenerateContent。"),
}


@dataclass(frozen=True, slots=True)
class Finding:
    """A recognised mistake: which rule, which error code, the caller's dialect, what to do instead."""

    rule: str
    code: str
    dialect: str  # openai | anthropic | gemini (the error envelope); responses answers in openai's
    expected_path: str | None
    mistake: str
    mistake_zh: str
    fix: str
    fix_zh: str
    fix_url: str

    def params(self, method: str, path: str) -> dict[str, Any]:
        """Parameters for GatewayError(self.code, **params)."""
        return {"method": method, "path": path, "mistake": self.mistake, "mistake_zh": self.mistake_zh,
                "fix": self.fix, "fix_zh": self.fix_zh}


@dataclass
class _Walk:
    path: str
    steps: list[tuple[str, dict[str, str]]] = field(default_factory=list)


Fixer = Callable[[str], tuple[str, str, dict[str, str]] | None]


def _double_slash(p: str) -> tuple[str, str, dict[str, str]] | None:
    return (re.sub("/{2,}", "/", p), "double_slash", {}) if "//" in p else None


def _trailing_slash(p: str) -> tuple[str, str, dict[str, str]] | None:
    return (p.rstrip("/"), "trailing_slash", {}) if len(p) > 1 and p.endswith("/") else None


def _endpoint_twice(p: str) -> tuple[str, str, dict[str, str]] | None:
    for match in _ENDPOINT_IN_PATH.finditer(p):
        pasted, tail = p[:match.end()], p[match.end():]
        if is_endpoint(tail):
            version = re.match(r"^/v1(?:beta|alpha)?(?=/)", pasted)
            expected = tail if tail.startswith("/v1") or not version else version.group(0) + tail
            return expected, "endpoint_twice", {"pasted": pasted, "tail": tail}
    return None


def _version_twice(p: str) -> tuple[str, str, dict[str, str]] | None:
    match = _VERSION_TWICE.match(p)
    if not match:
        return None
    return match.group(1) + (match.group(3) or ""), "version_twice", {"dup": match.group(1)}


def _azure(p: str) -> tuple[str, str, dict[str, str]] | None:
    match = _AZURE.match(p)
    return (f"/v1/{match['ep']}", "azure_style", {"model": match["model"]}) if match else None


def _engines(p: str) -> tuple[str, str, dict[str, str]] | None:
    match = _ENGINES.match(p)
    return (f"/v1/{match['ep']}", "engines_path", {"model": match["model"], "endpoint": match["ep"]}) \
        if match else None


def _extra_prefix(p: str) -> tuple[str, str, dict[str, str]] | None:
    for i in (m.start() for m in re.finditer("/", p)):
        if i and p[:i] not in ("/v1beta", "/v1alpha") and is_endpoint(p[i:]):
            return p[i:], "extra_prefix", {"prefix": p[:i]}
    return None


_FIXERS: tuple[Fixer, ...] = (_double_slash, _trailing_slash, _endpoint_twice, _version_twice, _azure, _engines,
                              _extra_prefix)


def _walk(path: str) -> _Walk:
    walk = _Walk(path)
    for _ in range(8):
        if is_endpoint(walk.path):
            break
        for fixer in _FIXERS:
            got = fixer(walk.path)
            if got is not None:
                walk.path, rule, params = got
                walk.steps.append((rule, params))
                break
        else:
            break
    return walk


def _typo(path: str) -> str | None:
    if any(path.startswith(c + "/") for c in _TYPO_CANDIDATES):
        return None  # an endpoint with more after it (/v1/chat/completions/ID): not a typo
    longer = [c for c in _TYPO_CANDIDATES if c.startswith(path + "/")]
    if longer:
        return min(longer, key=len)
    close = difflib.get_close_matches(path, _TYPO_CANDIDATES, n=1, cutoff=0.85)
    return close[0] if close else None


def _legacy(path: str) -> str | None:
    """Routes of the old entry (One API / New API) or of retired OpenAI APIs."""
    if _OLD_BILLING.match(path):
        return "old_billing"
    if _ONEAPI.match(path):
        return "oneapi_route"
    return None


def _unserved(path: str) -> tuple[str, dict[str, str]] | None:
    if _UNSERVED_OPENAI.match(path):
        return "not_served", {}
    if _GEMINI_OTHER.match(path):
        return "gemini_not_served", {}
    return None


def dialect_of(path: str | None, headers: Mapping[str, str]) -> str:
    """openai, responses, anthropic or gemini: from the path meant, else from tell-tale headers."""
    if path:
        if re.search(r"/messages(?:/|$)", path):
            return "anthropic"
        if _GEMINI.match(path) or _GEMINI_OTHER.match(path):
            return "gemini"
        if re.search(r"/responses(?:/|$)", path):
            return "responses"
        if is_endpoint(path):
            return "openai"
    if "anthropic-version" in headers:
        return "anthropic"
    if "x-goog-api-key" in headers:
        return "gemini"
    return "openai"


def fix_text(dialect: str, client: ClientSpec | None, forms: BaseForms) -> tuple[str, str, str]:
    """(en, zh, url): where to put which URL, for the client when we know it, else for the dialect."""
    family = "openai" if dialect == "responses" else dialect
    if client is not None and (family == "openai" or client.base_form == "root"):
        url = client.base_url(forms)
        return (f"{client.name}: set {client.base_label('en')} to {url}.",
                f"{client.name}：请把 {client.base_label('zh')} 设为 {url}。", url)
    if family == "anthropic":
        return (f"Set ANTHROPIC_BASE_URL (Claude Code) or the Anthropic SDK's base_url to {forms.root}, without /v1.",
                f"请把 ANTHROPIC_BASE_URL（Claude Code）或 Anthropic SDK 的 base_url 设为 {forms.root}，不要带 /v1。",
                forms.root)
    if family == "gemini":
        return (f"Set GOOGLE_GEMINI_BASE_URL (Gemini CLI) or the Gemini SDK's base URL to {forms.root}, "
                "without /v1beta.",
                f"请把 GOOGLE_GEMINI_BASE_URL（Gemini CLI）或 Gemini SDK 的 Base URL 设为 {forms.root}，"
                "不要带 /v1beta。",
                forms.root)
    if dialect == "responses":
        return (f"Set base_url in ~/.codex/config.toml (or your SDK's base URL) to {forms.v1}.",
                f"请把 ~/.codex/config.toml 中的 base_url（或 SDK 的 Base URL）设为 {forms.v1}。", forms.v1)
    return (f"Set the base URL to {forms.v1} (clients that add /v1 themselves, such as Cherry Studio and Chatbox, "
            f"take {forms.root}).",
            f"请把 Base URL 设为 {forms.v1}（Cherry Studio、Chatbox 等会自动加 /v1 的客户端请填 {forms.root}）。",
            forms.v1)


def _special_fix(rule: str, params: dict[str, str], forms: BaseForms) -> tuple[str, str, str] | None:
    if rule == "azure_style":
        return (f"Use the OpenAI client (not AzureOpenAI) with base URL {forms.v1} and model '{params['model']}'.",
                f"请使用 OpenAI 客户端（不是 AzureOpenAI），Base URL 设为 {forms.v1}，模型填 '{params['model']}'。",
                forms.v1)
    if rule == "engines_path":
        return (f"Upgrade the SDK, or send \"model\": \"{params['model']}\" to {forms.v1}/{params['endpoint']}.",
                f"请升级 SDK，或把 \"model\": \"{params['model']}\" 发送到 {forms.v1}/{params['endpoint']}。",
                forms.v1)
    if rule == "oneapi_route":
        return (f"Send OpenAI-style requests to {forms.v1} instead; ask your administrator about this feature.",
                f"请改为向 {forms.v1} 发送 OpenAI 格式的请求；如需此功能请联系管理员。", forms.v1)
    if rule == "old_billing":
        return (f"Balance tools should read {forms.v1}/dashboard/billing/subscription and …/usage.",
                f"余额查询工具请改用 {forms.v1}/dashboard/billing/subscription 和 …/usage。", forms.v1)
    if rule == "not_served":
        return (f"Use those under {forms.v1}, or ask your administrator if you need this API.",
                f"请使用 {forms.v1} 下的这些接口；如需此接口请联系管理员。", forms.v1)
    if rule == "gemini_not_served":
        return (f"List models with GET {forms.v1}/models.", f"查看模型列表请用 GET {forms.v1}/models。", forms.v1)
    return None


def examine(method: str, path: str, headers: Mapping[str, str], forms: BaseForms,
            client: ClientSpec | None = None) -> Finding | None:
    """The mistake a request to an unmatched path shows, or None (then it is a plain not_found)."""
    collapsed = re.sub("/{2,}", "/", path).rstrip("/")
    rule: str | None = None
    params: dict[str, str] = {"path": path}
    expected: str | None = None
    if collapsed in _HOMEPAGES:
        dialect = dialect_of(None, headers) if collapsed != "/v1beta" else "gemini"
        if method == "POST":
            rule = "base_as_endpoint"
            expected = {"anthropic": "/v1/messages", "gemini": "/v1beta/models/MODEL:generateContent"}.get(
                dialect, "/v1/chat/completions")
            params["endpoint_url"] = forms.root + expected
        else:
            rule = "homepage"
    elif (legacy := _legacy(re.sub("/{2,}", "/", path))) is not None:
        rule = legacy
        dialect = "openai"
    else:
        walk = _walk(path)
        unserved = _unserved(walk.path)
        if walk.steps and is_endpoint(walk.path):
            rule, found = walk.steps[0]
            params.update(found)
            expected = walk.path
        elif unserved is not None:
            rule, found = unserved
            params.update(found)
        elif walk.steps:
            rule, found = walk.steps[0]
            params.update(found)
        else:
            expected = _typo(walk.path)
            if expected is None:
                return None
            rule = "typo"
        dialect = dialect_of(expected or walk.path, headers)
    params["expected"] = expected or ""
    code, mistake, mistake_zh = RULES[rule]
    fix, fix_zh, url = _special_fix(rule, params, forms) or fix_text(dialect, client, forms)
    envelope = "openai" if dialect == "responses" else dialect
    return Finding(rule, code, envelope, expected, mistake.format(**params), mistake_zh.format(**params),
                   fix, fix_zh, url)
