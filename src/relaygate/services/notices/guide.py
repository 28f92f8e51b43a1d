"""The error guide: per error code its class, the caller's question, cause, what to check and the fix, in en and zh.

One table feeds docs/errors/<code>.md, the FAQ and reply templates of `relaygate notices render`,
the fallback cause of `relaygate support diagnose`, and the classes of `relaygate stats`.
"""

from __future__ import annotations

from dataclasses import dataclass

from relaygate.core.errors import CATALOGUE

CLASSES: dict[str, tuple[str, str]] = {
    "auth": ("key and authentication", "密钥与鉴权"),
    "permission": ("permissions", "权限"),
    "model": ("model names", "模型名称"),
    "quota": ("balance and limits", "余额与限流"),
    "upstream": ("upstream", "上游"),
    "request": ("request content", "请求内容"),
    "base_url": ("base URL and paths", "Base URL 与路径"),
    "client": ("client side", "客户端"),
    "gateway": ("gateway", "网关"),
}


@dataclass(frozen=True, slots=True)
class Guide:
    code: str
    cls: str
    question: tuple[str, str]  # how a caller asks it (FAQ entry title)
    cause: tuple[str, str]
    check: tuple[tuple[str, str], ...]
    fix: tuple[str, str]

    def text(self, field: str, lang: str) -> str:
        pair: tuple[str, str] = getattr(self, field)
        return pair[1] if lang.startswith("zh") else pair[0]

    def checks(self, lang: str) -> list[str]:
        return [zh if lang.startswith("zh") else en for en, zh in self.check]


def _g(code: str, cls: str, question: tuple[str, str], cause: tuple[str, str],
       check: list[tuple[str, str]], fix: tuple[str, str]) -> Guide:
    return Guide(code, cls, question, cause, tuple(check), fix)


_BASE = ("the base URL in the client is exactly the one in the announcement (no homepage, no full endpoint path)",
         "客户端里的 Base URL 与公告中的完全一致（不是首页地址，也不是完整接口路径）")
_MASKED = ("the masked key (sk-abcd…wxyz) matches the key you were given", "脱敏密钥（sk-abcd…wxyz）与发给你的密钥一致")

GUIDES: dict[str, Guide] = {g.code: g for g in (
    _g("missing_api_key", "auth", ("The gateway says no API key was sent", "提示没有发送 API Key"),
       ("The request carried no key: the client's key field is empty, or the key went into a header the gateway "
        "does not read.", "请求中没有密钥：客户端的密钥字段为空，或密钥放在了网关不读取的请求头里。"),
       [("the API key field of the client is filled in", "客户端的 API Key 字段已填写"),
        ("scripts send 'Authorization: Bearer sk-…'", "脚本使用 'Authorization: Bearer sk-…' 发送密钥")],
       ("Fill in the key you were given and retry.", "填入发给你的密钥后重试。")),
    _g("invalid_api_key", "auth", ("'The API key is not known to this gateway'", "提示 API Key 在本网关中不存在"),
       ("The key is not registered here: copied partially, a key of the old entry, or a deleted key.",
        "该密钥未在本网关登记：复制不完整、使用了旧入口的密钥，或密钥已被删除。"),
       [_MASKED, _BASE, ("no spaces or line breaks were copied with the key", "复制密钥时没有带上空格或换行")],
       ("Copy the whole relaygate key again; if it still fails, send support the masked key and the request id.",
        "重新完整复制 relaygate 密钥；仍失败请把脱敏密钥和请求 ID 发给客服。")),
    _g("key_disabled", "auth", ("'The API key is disabled'", "提示 API Key 已被停用"),
       ("An administrator disabled the key; the message gives the reason.", "管理员停用了该密钥，报错中写明了原因。"),
       [("the reason in the error message", "报错信息中的停用原因")],
       ("Ask the key's owner or your administrator to enable it or issue a new key.",
        "请联系密钥负责人或管理员重新启用或签发新密钥。")),
    _g("key_expired", "auth", ("'The API key expired'", "提示 API Key 已过期"),
       ("The key's expiry time has passed.", "密钥已过有效期。"),
       [("the expiry time in the error message", "报错信息中的过期时间")],
       ("Ask your administrator for a new key or a later expiry.", "请联系管理员签发新密钥或延长有效期。")),
    _g("network_not_allowed", "permission", ("'Requests from this IP are not allowed'", "提示当前 IP 不允许调用"),
       ("The key only accepts calls from listed networks and this call came from elsewhere.",
        "该密钥只接受指定网络的调用，而本次请求来自其他网络。"),
       [("the IP and the allowed networks in the error message", "报错信息中的来源 IP 和允许的网络")],
       ("Call from an allowed network, or ask your administrator to add yours.",
        "请从允许的网络调用，或请管理员添加你的网络。")),
    _g("model_not_allowed", "permission", ("'This key may not use the model'", "提示密钥无权使用该模型"),
       ("The key or its group is limited to some models.", "该密钥或其分组只允许使用部分模型。"),
       [("the allowed models listed in the error message", "报错信息中列出的可用模型")],
       ("Use one of the listed models, or ask your administrator to allow this one.",
        "请改用列出的模型，或请管理员开放该模型。")),
    _g("model_not_found", "model", ("'The model does not exist'", "提示模型不存在（model not found）"),
       ("No model of that name is served here: an old name, a typo, or a vendor prefix the gateway does not use.",
        "本网关没有这个模型名：旧名称、拼写错误，或带了网关不使用的厂商前缀。"),
       [("the model name against the mapping table in the announcement", "对照公告中的模型映射表检查模型名"),
        ("GET /v1/models with your key lists the names you may use", "用你的密钥请求 GET /v1/models 可列出可用模型")],
       ("Use the new name from the mapping table.", "请使用映射表中的新模型名。")),
    _g("model_unsupported", "model", ("'The model is no longer supported'", "提示模型已不再支持"),
       ("The model was retired; the message names its replacement.", "该模型已下线，报错中给出了替代模型。"),
       [("the replacement named in the error message", "报错信息中给出的替代模型")],
       ("Switch to the replacement model.", "请改用替代模型。")),
    _g("no_healthy_channel", "upstream", ("'No upstream channel can serve the model'", "提示没有可用的上游渠道"),
       ("Every upstream serving the model is down, cooling down after failures, or closed to your group.",
        "提供该模型的所有上游都不可用、故障冷却中，或未对你的分组开放。"),
       [("whether it happens for every model or only one", "是所有模型都失败还是只有某一个")],
       ("Retry in a minute; if it persists, send support the request id.",
        "请稍后重试；持续出现请把请求 ID 发给客服。")),
    _g("upstream_timeout", "upstream", ("'The upstream did not answer in time'", "提示上游超时（timeout）"),
       ("The upstream did not answer in time, on every channel tried.",
        "上游在规定时间内没有响应，已尝试的渠道都超时。"),
       [("very long prompts or a large max_tokens", "提示词是否很长、max_tokens 是否很大"),
        ("whether streaming (stream: true) is on for long answers", "长回答是否开启了流式输出（stream: true）")],
       ("Retry, use streaming, or ask for a shorter answer.", "请重试、开启流式输出，或缩短回答长度。")),
    _g("upstream_error", "upstream", ("'The upstream failed'", "提示上游出错"),
       ("Every channel tried failed (connection error, 5xx or 429 from the provider).",
        "已尝试的渠道都失败了（连接错误、服务商返回 5xx 或 429）。"),
       [("the time and the request id of the failure", "失败的时间和请求 ID")],
       ("Retry later; if it persists, send support the request id.", "请稍后重试；持续出现请把请求 ID 发给客服。")),
    _g("upstream_invalid_response", "upstream",
       ("'not valid JSON' from the upstream", "提示上游返回的内容不是合法的 JSON"),
       ("Every channel tried answered 2xx with a body or stream event that does not parse (a proxy's HTML "
        "page, a truncated body); the request was not charged.",
        "已尝试的渠道都返回了 2xx，但响应体或流事件无法解析（代理的 HTML 页面、被截断的内容）；本次请求未扣费。"),
       [("the time and the request id of the failure", "失败的时间和请求 ID"),
        ("what sits between the gateway and the provider (proxies, firewalls)", "网关与服务商之间的代理、防火墙")],
       ("Retry later; if it persists, send support the request id.", "请稍后重试；持续出现请把请求 ID 发给客服。")),
    _g("upstream_rejected", "request", ("'The upstream rejected the request'", "提示上游拒绝了请求"),
       ("The provider refused the request itself (context too long, an unsupported parameter, content policy).",
        "服务商拒绝了请求本身（上下文过长、参数不支持、内容策略）。"),
       [("the provider's reason quoted in the error message", "报错信息中引用的服务商原因"),
        ("the parameters the client sends for this model", "客户端为该模型发送的参数")],
       ("Change what the message points at (shorter input, other parameters).",
        "按报错提示修改请求（缩短输入、调整参数）。")),
    _g("bad_request", "request", ("'The request body is not valid'", "提示请求体无效"),
       ("The body is not JSON or misses a required field such as model or messages.",
        "请求体不是合法 JSON，或缺少 model、messages 等必填字段。"),
       [("the field named in the error message", "报错信息中指出的字段")],
       ("Send a valid body; SDKs do this for you.", "请发送合法的请求体；使用 SDK 可避免此类问题。")),
    _g("body_too_large", "request", ("'The request body is too large'", "提示请求体过大"),
       ("The body is larger than this gateway accepts (usually large images or long histories).",
        "请求体超过本网关上限（通常是大图片或很长的对话历史）。"),
       [("image sizes and the length of the conversation history", "图片大小和对话历史长度")],
       ("Send smaller images or fewer messages.", "请缩小图片或减少消息。")),
    _g("not_found", "base_url", ("'There is no such endpoint'", "提示接口不存在（404）"),
       ("The path is not an endpoint of this gateway.", "该路径不是本网关的接口。"), [_BASE],
       ("Use the base URL from the announcement; the client adds the endpoint path.",
        "请使用公告中的 Base URL，由客户端拼接接口路径。")),
    _g("method_not_allowed", "request", ("'The endpoint does not accept this method'", "提示请求方法不被接受（405）"),
       ("The endpoint was called with the wrong HTTP method (e.g. GET on /chat/completions).",
        "用错了 HTTP 方法（例如对 /chat/completions 使用 GET）。"),
       [("the method the message asks for", "报错信息要求的方法")],
       ("Use POST for relay endpoints.", "转发接口请使用 POST。")),
    _g("insufficient_balance", "quota", ("'Insufficient balance'", "提示余额不足（402）"),
       ("The owner's balance or the key's spending cap cannot cover the request.",
        "负责人余额或密钥消费上限不足以支付本次请求。"),
       [("which figure the message names: balance, daily, monthly or total cap", "报错中指出的是余额还是日/月/总上限")],
       ("Ask your administrator to top up or raise the cap; lower max_tokens helps for the hold.",
        "请管理员充值或提高上限；调小 max_tokens 可降低预扣金额。")),
    _g("rate_limited", "quota", ("'Rate limit reached'", "提示触发限流（429）"),
       ("A per-key or per-group limit on requests, tokens or concurrency was reached.",
        "触发了密钥或分组的请求数、token 数或并发限制。"),
       [("the limit and the retry time in the message", "报错中的限制项和重试时间"),
        ("parallel requests from the same key", "同一密钥的并发请求数")],
       ("Wait and retry with back-off, or ask for a higher limit.", "请等待后退避重试，或申请更高的限额。")),
    _g("model_price_missing", "permission", ("'The model has no price'", "提示模型没有定价"),
       ("The operator refuses models without a price and this one has none yet.",
        "运营方设置了拒绝未定价模型，而该模型尚未定价。"),
       [("the model name", "模型名")],
       ("Ask your administrator to price the model.", "请联系管理员为该模型设置价格。")),
    _g("group_not_allowed", "permission", ("'names group … which its owner may not use'", "提示分组不在用户可用分组内"),
       ("The key was imported from New API with a token group its user could not use there either.",
        "该密钥从 New API 导入，其令牌分组在旧系统中对该用户同样不可用。"),
       [("the key id and the group in the message", "消息中的密钥 ID 和分组")],
       ("Ask your administrator to move the key to a group its owner may use.",
        "请联系管理员把密钥改到该用户可用的分组。")),
    _g("group_deprecated", "permission", ("'names group … which was deprecated'", "提示分组已被弃用"),
       ("The key was imported from New API with a group that had no group ratio there (deprecated).",
        "该密钥从 New API 导入，其分组在旧系统中没有分组倍率（已弃用）。"),
       [("the key id and the group in the message", "消息中的密钥 ID 和分组")],
       ("Ask your administrator to move the key to a current group.", "请联系管理员把密钥改到现有分组。")),
    _g("channel_pin_not_allowed", "permission", ("'only keys of administrators may choose a channel'",
                                                 "提示只有管理员可以指定渠道"),
       ("The key was sent as sk-<key>-<channel id>; only administrators' keys may pin a channel.",
        "密钥以 sk-<密钥>-<渠道ID> 形式发送；只有管理员的密钥可以指定渠道。"),
       [("the key as sent, without its secret", "发送的密钥形式（不含密钥本身）")],
       ("Send the key without the '-<channel id>' suffix.", "去掉 '-<渠道ID>' 后缀再发送。")),
    _g("channel_pin_disabled", "permission", ("'asked for channel …, which is disabled'", "提示指定的渠道已停用"),
       ("An administrator's key pinned a channel that is disabled.", "管理员密钥指定的渠道已被停用。"),
       [("the channel id", "渠道 ID")],
       ("Send the key without the suffix, or enable the channel.", "去掉后缀，或启用该渠道。")),
    _g("channel_pin_unknown", "request", ("'asked for channel …, which does not exist'", "提示指定的渠道不存在"),
       ("An administrator's key pinned a channel id that does not exist here.", "管理员密钥指定的渠道 ID 不存在。"),
       [("the channel id", "渠道 ID")],
       ("Send the key without the suffix, or use an existing channel id.", "去掉后缀，或使用存在的渠道 ID。")),
    _g("internal_error", "gateway", ("'Internal error'", "提示网关内部错误"),
       ("A defect in the gateway.", "网关自身的缺陷。"), [("the request id", "请求 ID")],
       ("Send support the request id; the operator finds the log line with it.",
        "请把请求 ID 发给客服，运维可据此找到日志。")),
    _g("admin_unauthorized", "auth", ("'The admin endpoint needs an admin token'", "提示管理接口需要管理令牌"),
       ("An admin API call without a valid admin token.", "调用管理接口时没有有效的管理令牌。"),
       [("that an admin token, not an API key, is sent", "发送的是管理令牌而不是 API Key")],
       ("Use an admin token; API keys do not open the admin API.", "请使用管理令牌；API Key 不能调用管理接口。")),
    _g("sign_in_refused", "auth", ("Signing in over the API is refused", "通过 API 登录被拒绝"),
       ("A wrong username or password, an account locked after 5 wrong passwords (15 minutes), or an e-mail address "
        "not yet confirmed.", "用户名或密码错误、连续 5 次密码错误后账户被锁定（15 分钟），或邮箱地址尚未确认。"),
       [("the username and password (the same as in the portal)", "用户名和密码（与门户相同）"),
        ("the confirmation mail", "确认邮件")],
       ("Wait out the lock, confirm the address, or reset the password (POST /api/user/password/forgot).",
        "等待锁定结束、确认邮箱地址，或重置密码（POST /api/user/password/forgot）。")),
    _g("session_expired", "auth", ("The API says the session token no longer works", "提示会话令牌已失效"),
       ("The session token (rgs_…) expired, was ended by signing out or a password change, or the user was "
        "disabled.", "会话令牌（rgs_…）已过期，或因退出登录、修改密码而结束，或用户已被停用。"),
       [("that the whole token is sent as 'Authorization: Bearer rgs_…'", "是否以 'Authorization: Bearer rgs_…' "
                                                                         "发送了完整令牌")],
       ("Sign in again (POST /api/user/session), or use an API key.",
        "重新登录（POST /api/user/session），或改用 API Key。")),
    _g("resource_not_found", "request", ("An admin call says the owner, key or channel does not exist",
                                         "管理接口提示负责人、密钥或渠道不存在"),
       ("The id or name in the admin API path matches no record.", "管理接口路径中的 ID 或名称没有对应的记录。"),
       [("the id or name against the listing (GET /api/keys, /api/owners, /api/channels)",
         "对照列表核对 ID 或名称（GET /api/keys、/api/owners、/api/channels）")],
       ("Use an id or name from the listing.", "请使用列表中的 ID 或名称。")),
    _g("conflict", "request", ("An admin call says the name is taken or the record is in use",
                               "管理接口提示名称已被占用或记录仍在使用"),
       ("The change conflicts with an existing record: a name already taken, or a record others still use.",
        "该变更与现有记录冲突：名称已被占用，或记录仍被其他数据使用。"),
       [("whether a record of that name exists already", "是否已有同名记录")],
       ("Pick another name, or change or remove what still uses the record first.",
        "请换一个名称，或先修改、删除仍在使用该记录的数据。")),
    _g("base_url_mistake", "base_url", ("'Wrong base URL' or a 404 right after switching",
                                        "切换后提示 Base URL 填写有误或 404"),
       ("The base URL field holds the homepage, a full endpoint path, /v1 twice or the old entry's path.",
        "Base URL 字段里填的是首页、完整接口路径、重复的 /v1 或旧入口路径。"),
       [_BASE, ("whether this client adds /v1 itself (Cherry Studio, Chatbox) or not (SDKs, Cursor)",
                "该客户端是否会自动加 /v1（Cherry Studio、Chatbox 会，SDK、Cursor 不会）")],
       ("Put in exactly the form the error message (and your client's configuration email) gives.",
        "按报错信息（以及该客户端的配置邮件）给出的形式填写。")),
    _g("endpoint_not_served", "base_url", ("'This endpoint is not served'", "提示本网关不提供该接口"),
       ("The client calls an API this gateway does not offer (moderations, files, One API-only routes such as "
        "Midjourney or Suno).",
        "客户端调用了本网关不提供的接口（内容审核、文件，或 Midjourney、Suno 等 One API 专有路由）。"),
       [("which feature of the client makes the call", "客户端的哪个功能发起了该调用")],
       ("Turn that feature off, or ask your administrator whether it will be offered.",
        "请关闭该功能，或询问管理员是否会提供。")),
    _g("url_not_allowed", "request", ("'The URL in callback_url is not allowed'", "提示 callback_url 中的地址不被允许"),
       ("A callback or reference-image URL points at a loopback, private, link-local or cloud-metadata address; "
        "the gateway never calls those for a caller.",
        "回调或参考图地址指向回环、内网、链路本地或云元数据地址；网关不会替调用方访问这些地址。"),
       [("the URL is reachable from the internet (not localhost, 10.x, 192.168.x, 169.254.x)",
         "该地址可从公网访问（不是 localhost、10.x、192.168.x、169.254.x）")],
       ("Use a public https URL, or ask your administrator to allow-list the host (RELAYGATE_MEDIA_ALLOW_HOSTS).",
        "请使用公网 https 地址，或请管理员把该主机加入允许列表（RELAYGATE_MEDIA_ALLOW_HOSTS）。")),
    _g("task_not_found", "request", ("'No task with this id'", "提示找不到该任务"),
       ("The task id is not one relaygate returned to this key's owner (a typo, the upstream's own id, or a "
        "task of another owner).",
        "该任务 ID 不是 relaygate 返回给本负责人的（输错、用了上游自己的 ID，或属于其他负责人）。"),
       [("the id starts with task_ and was returned by this gateway", "ID 以 task_ 开头且由本网关返回"),
        ("the same key (or a key of the same owner) is used to poll", "轮询时使用同一负责人的密钥")],
       ("Poll with the id from the submit's answer and a key of the same owner.",
        "请使用提交时返回的 ID 和同一负责人的密钥查询。")),
    _g("task_not_ready", "request", ("'The task is not finished' when downloading", "下载时提示任务未完成"),
       ("The result was asked for before the task succeeded, or after it expired or was deleted.",
        "在任务成功之前、或结果过期/删除之后请求了结果。"),
       [("GET /v1/videos/{id} says completed", "GET /v1/videos/{id} 显示 completed")],
       ("Poll until completed (or use a callback_url), then download within the result's lifetime.",
        "轮询到 completed（或使用 callback_url）后，在结果有效期内下载。")),
    _g("task_running", "request", ("'The task is already running and cannot be cancelled'",
                                   "提示任务已在运行、无法取消"),
       ("The upstream already started the task; cancelling now would not stop its cost.",
        "上游已开始执行该任务，此时取消无法停止其费用。"),
       [("the task's status is in_progress", "任务状态为 in_progress")],
       ("Let it finish: it is charged only if it succeeds, and released in full if it fails.",
        "请等待其结束：只有成功才计费，失败将全额释放预扣。")),
    _g("media_not_served", "model", ("'This model is not served for images / audio / video here'",
                                     "提示该模型在此不提供图像/音频/视频"),
       ("The model exists, but none of its channels offers this kind of media call.",
        "该模型存在，但它的渠道都不支持这类媒体调用。"),
       [("the model name is the one for images, speech or video (not a chat model)",
         "模型名是图像、语音或视频模型（不是对话模型）")],
       ("Use the media model your administrator published, or ask them to add a channel for it.",
        "请使用管理员公布的媒体模型，或请其为该模型添加渠道。")),
    _g("client_disconnected", "client", ("The answer stops or the client reports a network error",
                                         "回答中断或客户端提示网络错误"),
       ("The client closed the connection before the answer was complete (its own timeout, or the user stopped it).",
        "客户端在回答完成前断开了连接（客户端自身超时，或用户手动停止）。"),
       [("the client's request timeout setting", "客户端的请求超时设置"),
        ("the network between you and the gateway", "你与网关之间的网络")],
       ("Raise the client's timeout or use streaming.", "请调大客户端超时时间或开启流式输出。")),
    _g("upstream_stream_incomplete", "upstream", ("A streamed answer ends early", "流式回答提前结束"),
       ("The upstream ended the stream without its final event; the answer may be cut.",
        "上游在发送结束事件前关闭了流，回答可能不完整。"), [("the request id", "请求 ID")],
       ("Retry the request.", "请重试该请求。")),
    _g("upstream_stream_error", "upstream", ("A streamed answer ends with an error", "流式回答以错误结束"),
       ("The upstream failed in the middle of a stream.", "上游在流式输出中途出错。"), [("the request id", "请求 ID")],
       ("Retry the request.", "请重试该请求。")),
)}


def guide_for(code: str | None) -> Guide | None:
    return GUIDES.get(code or "")


def class_of(code: str | None) -> str:
    guide = guide_for(code)
    return guide.cls if guide else "gateway"


def documented_codes() -> list[str]:
    """Catalogue codes first (in catalogue order), then codes only usage records carry."""
    return [*CATALOGUE, *(code for code in GUIDES if code not in CATALOGUE)]
