"""The one catalogue of errors a caller can hit: stable code, HTTP status, and bilingual text.

Every failure the gateway reports to a caller is a ``GatewayError`` built from an entry of
``CATALOGUE``. Foreign exceptions (aiohttp, SQLAlchemy, orjson) are mapped once at the boundary
where they occur and keep their cause. Only the web layer turns an error into an HTTP body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One catalogue row: what the caller sees for a given failure."""

    code: str
    status: int
    type: str  # OpenAI-style error type
    en: str
    zh: str
    doc: str  # one-line cause for the error reference pages


_ROWS = [
    ErrorSpec("missing_api_key", 401, "invalid_request_error",
              "No API key was sent. Send your relaygate key as 'Authorization: Bearer sk-...' "
              "(or in an 'x-api-key' / 'api-key' header).",
              "请求中没有 API Key。请在请求头中以 'Authorization: Bearer sk-...'（或 'x-api-key' / "
              "'api-key'）发送 relaygate 的密钥。",
              "The request carried no key in any header the gateway reads."),
    ErrorSpec("invalid_api_key", 401, "invalid_request_error",
              "The API key {masked} is not known to this gateway. Check that you copied the whole key "
              "and that the base URL points at this gateway, not at the old one.",
              "API Key {masked} 在本网关中不存在。请确认完整复制了密钥，并且 Base URL 指向本网关而不是旧入口。",
              "The key is not (or no longer) registered here."),
    ErrorSpec("key_disabled", 401, "invalid_request_error",
              "The API key {key_id} is disabled{reason}. Ask the key's owner or your administrator to "
              "enable it or issue a new key.",
              "API Key {key_id} 已被停用{reason}。请联系密钥负责人或管理员重新启用或签发新密钥。",
              "An operator disabled the key."),
    ErrorSpec("key_expired", 401, "invalid_request_error",
              "The API key {key_id} expired at {expired_at}. Ask your administrator for a new key or "
              "an extended expiry.",
              "API Key {key_id} 已于 {expired_at} 过期。请联系管理员签发新密钥或延长有效期。",
              "The key's expiry time has passed."),
    ErrorSpec("network_not_allowed", 403, "permission_error",
              "Requests from {ip} are not allowed for API key {key_id}; it accepts only {networks}. "
              "Call from an allowed network or ask your administrator to add yours.",
              "API Key {key_id} 不允许来自 {ip} 的请求，仅允许 {networks}。请从允许的网络调用，"
              "或联系管理员添加你的网络。",
              "The caller's IP is outside the key's allowed networks (CIDR)."),
    ErrorSpec("model_not_allowed", 403, "permission_error",
              "API key {key_id} may not use model '{model}'. Models it may use: {allowed}.",
              "API Key {key_id} 无权使用模型 '{model}'。可用模型：{allowed}。",
              "The model is outside the key's or its group's allowed models."),
    ErrorSpec("model_not_found", 404, "invalid_request_error",
              "The model '{model}' does not exist on this gateway.{suggestion} "
              "List the models your key may use with GET /v1/models.",
              "本网关没有模型 '{model}'。{suggestion}可用 GET /v1/models 查看你的密钥可用的模型。",
              "No catalogue entry, alias or channel serves this model name."),
    ErrorSpec("model_unsupported", 404, "invalid_request_error",
              "The model '{model}' is no longer supported on this gateway. Use '{replacement}' instead.",
              "本网关已不再支持模型 '{model}'，请改用 '{replacement}'。",
              "The model was retired; its catalogue entry names a replacement."),
    ErrorSpec("no_healthy_channel", 503, "server_error",
              "No upstream channel can serve model '{model}' for group '{group}' right now{detail}. "
              "Retry in a minute; if it persists, send the request id to support.",
              "当前没有可用的上游渠道为分组 '{group}' 提供模型 '{model}'{detail}。请稍后重试；"
              "如持续出现，请把请求 ID 发给客服。",
              "Every channel serving the model is disabled, cooling down, or excluded for the group."),
    ErrorSpec("upstream_timeout", 504, "server_error",
              "The upstream did not answer model '{model}' in time ({which} timeout, {seconds}s) after "
              "{attempts} attempt(s). Retry, or use a smaller request / max_tokens.",
              "上游在规定时间内未响应模型 '{model}'（{which} 超时，{seconds} 秒），已尝试 {attempts} 次。"
              "请重试，或减小请求 / max_tokens。",
              "Connect, first-byte or total timeout of the last channel tried."),
    ErrorSpec("upstream_error", 502, "server_error",
              "The upstream failed for model '{model}' after {attempts} attempt(s): {detail}. "
              "Retry later; if it persists, send the request id to support.",
              "上游处理模型 '{model}' 失败（已尝试 {attempts} 次）：{detail}。请稍后重试；"
              "如持续出现，请把请求 ID 发给客服。",
              "Connection error, reset, 5xx or 429 from every channel tried."),
    ErrorSpec("upstream_invalid_response", 502, "server_error",
              "The upstream answered for model '{model}' with a body that is not valid {what} "
              "after {attempts} attempt(s); nothing was charged. Retry later; if it persists, send the "
              "request id to support.",
              "上游为模型 '{model}' 返回的内容不是合法的 {what}（已尝试 {attempts} 次）；未扣费。请稍后重试；"
              "如持续出现，请把请求 ID 发给客服。",
              "Every channel tried answered 2xx with an unparsable body or stream event."),
    ErrorSpec("upstream_rejected", 400, "invalid_request_error",
              "The upstream rejected the request for model '{model}' (HTTP {upstream_status}): {detail}",
              "上游拒绝了模型 '{model}' 的请求（HTTP {upstream_status}）：{detail}",
              "The upstream answered 4xx for a reason in the request itself; relayed with its status."),
    ErrorSpec("bad_request", 400, "invalid_request_error",
              "{detail}",
              "{detail_zh}",
              "The body is not valid JSON, misses a required field, or a field has the wrong type."),
    ErrorSpec("body_too_large", 413, "invalid_request_error",
              "The request body is {size} bytes; this gateway accepts at most {limit} bytes. "
              "Send fewer or smaller messages or images.",
              "请求体为 {size} 字节，本网关最多接受 {limit} 字节。请减少或缩小消息、图片。",
              "The body exceeds the max_body_bytes setting."),
    ErrorSpec("not_found", 404, "invalid_request_error",
              "There is no endpoint {method} {path} on this gateway. Use the base URL {base_url} and "
              "paths such as /chat/completions.",
              "本网关没有 {method} {path} 接口。请使用 Base URL {base_url}，以及 /chat/completions 等路径。",
              "The path is not a relay endpoint."),
    ErrorSpec("method_not_allowed", 405, "invalid_request_error",
              "{path} does not accept {method}; use {allowed}.",
              "{path} 不接受 {method} 请求，请使用 {allowed}。",
              "Wrong HTTP method for the path."),
    ErrorSpec("insufficient_balance", 402, "insufficient_quota",
              "{detail}",
              "{detail_zh}",
              "The owner's available balance or the key's cap cannot cover the request."),
    ErrorSpec("rate_limited", 429, "rate_limit_exceeded",
              "{detail}",
              "{detail_zh}",
              "A per-key or per-group rate limit was reached."),
    ErrorSpec("model_price_missing", 403, "permission_error",
              "The model '{model}' has no price on this gateway and the gateway refuses unpriced models. "
              "Ask your administrator to set a price for it.",
              "模型 '{model}' 在本网关没有定价，且网关设置为拒绝未定价模型。请联系管理员为它设置价格。",
              "The model has no price and the operator chose to refuse unpriced models."),
    ErrorSpec("group_not_allowed", 403, "permission_error",
              "API key {key_id} names group '{group}', which its owner may not use (as in the old system). "
              "Ask your administrator to move the key to a group its owner may use.",
              "API Key {key_id} 指定的分组 '{group}' 不在其所属用户可用的分组内（与旧系统一致）。"
              "请联系管理员把密钥改到该用户可用的分组。",
              "An imported New API token names a group its user's usable groups do not include."),
    ErrorSpec("group_deprecated", 403, "permission_error",
              "API key {key_id} names group '{group}', which was deprecated in the old system (it has no "
              "group ratio). Ask your administrator to move the key to a current group.",
              "API Key {key_id} 指定的分组 '{group}' 在旧系统中已被弃用（没有分组倍率）。"
              "请联系管理员把密钥改到现有分组。",
              "An imported New API token names a group missing from GroupRatio."),
    ErrorSpec("channel_pin_not_allowed", 403, "permission_error",
              "API key {key_id} asked for channel {channel} (the sk-<key>-<channel id> form); only keys of "
              "administrators may choose a channel. Send the key without the '-{channel}' suffix.",
              "API Key {key_id} 指定了渠道 {channel}（sk-<密钥>-<渠道ID> 写法）；只有管理员的密钥可以指定渠道。"
              "请去掉 '-{channel}' 后缀再发送。",
              "A non-admin imported key used One API's channel pin form."),
    ErrorSpec("channel_pin_disabled", 403, "permission_error",
              "API key {key_id} asked for channel {channel}, which is disabled{reason}. Send the key without "
              "the '-{channel}' suffix to let the gateway choose a channel.",
              "API Key {key_id} 指定的渠道 {channel} 已被停用{reason}。去掉 '-{channel}' 后缀即可由网关选择渠道。",
              "An admin's channel pin names a disabled channel."),
    ErrorSpec("channel_pin_unknown", 400, "invalid_request_error",
              "API key {key_id} asked for channel {channel}, which does not exist on this gateway. Send the "
              "key without the '-{channel}' suffix.",
              "API Key {key_id} 指定的渠道 {channel} 在本网关不存在。请去掉 '-{channel}' 后缀再发送。",
              "An admin's channel pin names no channel."),
    ErrorSpec("internal_error", 500, "server_error",
              "The gateway hit an internal error. Send the request id to support.",
              "网关内部错误。请把请求 ID 发给客服。",
              "A defect in relaygate; the request id finds the log line."),
    ErrorSpec("admin_unauthorized", 401, "invalid_request_error",
              "This admin endpoint needs 'Authorization: Bearer <admin token>'.",
              "管理接口需要 'Authorization: Bearer <管理令牌>'。",
              "Admin API call without a valid admin token."),
    ErrorSpec("sign_in_refused", 401, "invalid_request_error",
              "{detail}",
              "{detail_zh}",
              "A key holder's sign-in over the API (POST /api/user/session): wrong username or password, a locked "
              "account or an e-mail address not yet confirmed."),
    ErrorSpec("session_expired", 401, "invalid_request_error",
              "This session token is unknown, expired or ended (signed out, password changed, user disabled). "
              "Sign in again with POST /api/user/session.",
              "该会话令牌不存在、已过期或已结束（已退出、密码已修改或用户已停用）。"
              "请通过 POST /api/user/session 重新登录。",
              "A key holder's session token (rgs_…) that no longer works."),
    ErrorSpec("resource_not_found", 404, "invalid_request_error",
              "{detail}",
              "{detail_zh}",
              "Admin API: no owner, group, key, channel or other record with that id or name."),
    ErrorSpec("conflict", 409, "invalid_request_error",
              "{detail}",
              "{detail_zh}",
              "Admin API: the change conflicts with what exists (a name already taken, a record in use)."),
    ErrorSpec("base_url_mistake", 404, "invalid_request_error",
              "Wrong base URL: {mistake} (you sent {method} {path}). {fix}",
              "Base URL 填写有误：{mistake_zh}（你发送的是 {method} {path}）。{fix_zh}",
              "The path shows a base-URL mistake (homepage, /v1 twice, endpoint pasted twice, old entry's path)."),
    ErrorSpec("endpoint_not_served", 404, "invalid_request_error",
              "{method} {path} is not served by this gateway: {mistake} {fix}",
              "本网关不提供 {method} {path}：{mistake_zh}{fix_zh}",
              "A known API path this gateway does not offer (images, audio, One API-only routes, …)."),
    ErrorSpec("url_not_allowed", 400, "invalid_request_error",
              "The URL in '{field}' is not allowed: {reason}. Use a public http(s) URL, or ask your "
              "administrator to allow-list the host.",
              "'{field}' 中的地址不被允许：{reason_zh}。请使用公网 http(s) 地址，或请管理员把该主机加入允许列表。",
              "A callback or reference URL points at a loopback, private, link-local or metadata address."),
    ErrorSpec("task_not_found", 404, "invalid_request_error",
              "No task '{task_id}' for this key's owner. Task ids are the ones relaygate returned (task_…); "
              "a task of another owner is not shown.",
              "找不到本密钥所属负责人的任务 '{task_id}'。任务 ID 是 relaygate 返回的（task_…）；"
              "其他负责人的任务不会显示。",
              "The task id is unknown, or belongs to another owner."),
    ErrorSpec("task_not_ready", 409, "invalid_request_error",
              "Task '{task_id}' is {state}: {hint}",
              "任务 '{task_id}' 当前为 {state_zh}：{hint_zh}",
              "The task's result is not available in its current state (not finished, failed or expired)."),
    ErrorSpec("task_running", 409, "invalid_request_error",
              "Task '{task_id}' is already running upstream and cannot be cancelled: it will finish and be "
              "charged, or fail and be released in full.",
              "任务 '{task_id}' 已在上游运行，无法取消：成功后计费，失败则全额释放预扣。",
              "Cancelling a task the upstream has already started."),
    ErrorSpec("media_not_served", 400, "invalid_request_error",
              "The model '{model}' is not served for {what} here: {detail}",
              "本网关不为 {what_zh} 提供模型 '{model}'：{detail_zh}",
              "The model exists but no channel serves this media operation for it."),
]

CATALOGUE: dict[str, ErrorSpec] = {row.code: row for row in _ROWS}


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


class GatewayError(Exception):
    """A failure the caller can act on; ``code`` names a catalogue row."""

    def __init__(self, code: str, *, headers: dict[str, str] | None = None,
                 upstream_status: int | None = None, **params: Any) -> None:
        self.spec = CATALOGUE[code]
        self.code = code
        self.params = params
        self.headers = headers or {}
        self.upstream_status = upstream_status
        self.status_override: int | None = None  # an imported key's old-system status (core/compat.py)
        super().__init__(self.message("en"))

    @property
    def status(self) -> int:
        if self.status_override is not None:
            return self.status_override
        if self.code == "upstream_rejected" and self.upstream_status:
            return self.upstream_status
        return self.spec.status

    def message(self, lang: str = "en") -> str:
        template = self.spec.zh if lang.startswith("zh") else self.spec.en
        return template.format_map(_Blank(self.params)).strip()


def prefers_chinese(accept_language: str | None) -> bool:
    """True when the caller's Accept-Language ranks Chinese before English."""
    if not accept_language:
        return False
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return True
        if tag.startswith("en") or tag == "*":
            return False
    return False


class InvalidInput(ValueError):
    """An operator's input (CLI, admin API, config file) that cannot be applied, said in both languages."""

    def __init__(self, en: str, zh: str | None = None, *, status: int = 400) -> None:
        super().__init__(en)
        self.en = en
        self.zh = zh or en
        self.status = status

    def message(self, lang: str = "en") -> str:
        return self.zh if lang.startswith("zh") else self.en
