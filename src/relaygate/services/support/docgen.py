"""Generate docs/errors/<code>.md and docs/misconfiguration.md from the error guide and the mistake table."""

from __future__ import annotations

from relaygate.core.errors import CATALOGUE, GatewayError
from relaygate.services.gateway.clients import detect_client
from relaygate.services.notices.clients import BaseForms, spec_for_detected
from relaygate.services.notices.guide import CLASSES, GUIDES, documented_codes
from relaygate.services.support.examples import EXAMPLES
from relaygate.services.support.misconfig import RULES, examine

EXAMPLE_FORMS = BaseForms.from_setting("https://ai.example.com/v1")
_ENVELOPES = {"openai": "OpenAI `{\"error\": {…}}`", "anthropic": "Anthropic `{\"type\": \"error\", …}`",
              "gemini": "Gemini `{\"error\": {\"status\": \"NOT_FOUND\", …}}`"}


def error_page(code: str) -> str:
    """One page per error code: what the caller sees, the cause, what to check, the fix; English then Chinese."""
    guide = GUIDES[code]
    spec = CATALOGUE.get(code)
    cls_en, cls_zh = CLASSES[guide.cls]
    if spec is not None:
        head = f"HTTP {spec.status}, type `{spec.type}`, class *{cls_en}*."
        said = [f"The caller reads: “{spec.en}”", f"调用方看到：“{spec.zh}”"]
    else:
        head = f"Recorded in usage records only (the caller saw a cut answer or nothing); class *{cls_en}*."
        said = []
    lines = [f"# {code}", "", head, ""]
    if said:
        lines += [said[0], ""]
    lines += ["## Cause", "", guide.cause[0], "", "## What to check", ""]
    lines += [f"- {item}" for item in guide.checks("en")]
    lines += ["", "## Fix", "", guide.fix[0], "",
              "Send support the request id, the time, the client and the masked key (`sk-abcd…wxyz`); never the "
              "full key, never a screenshot that shows it. Operators: `relaygate support diagnose REQUEST_ID`.", "",
              "## 中文", "", f"类别：{cls_zh}。", ""]
    if said:
        lines += [said[1], ""]
    lines += ["### 原因", "", guide.cause[1], "", "### 需要检查", ""]
    lines += [f"- {item}" for item in guide.checks("zh")]
    lines += ["", "### 解决办法", "", guide.fix[1], "",
              "联系客服时请提供请求 ID、时间、客户端和脱敏密钥（`sk-abcd…wxyz`），不要提供完整密钥或带密钥的截图。", ""]
    if guide.cls == "base_url":
        lines += ["See also / 另见：[misconfiguration.md](../misconfiguration.md)", ""]
    return "\n".join(lines)


def errors_index() -> str:
    lines = ["# Error pages", "",
             "One page per error code (cause, what to check, fix; English and 中文). With `RELAYGATE_DOCS_URL` "
             "set, every error body carries `doc_url` = `{docs_url}/errors/{code}`: publish this folder there.", "",
             "| code | class | the caller asks |", "|---|---|---|"]
    for code in documented_codes():
        guide = GUIDES[code]
        lines.append(f"| [`{code}`]({code}.md) | {CLASSES[guide.cls][0]} | {guide.question[0]} |")
    return "\n".join(lines) + "\n"


def answer_for(example_index: int) -> tuple[str, str, str]:
    """(status and code, envelope, English message) relaygate gives for one example, on ai.example.com."""
    ex = EXAMPLES[example_index]
    headers = dict(ex.headers)
    finding = examine(ex.method, ex.path, headers, EXAMPLE_FORMS, spec_for_detected(detect_client(headers)[0]))
    assert finding is not None, ex
    err = GatewayError(finding.code, **finding.params(ex.method, ex.path))
    return f"{err.status} `{finding.code}`", _ENVELOPES[finding.dialect], err.message("en")


def misconfiguration_page() -> str:
    lines = [
        "# Base-URL mistakes", "",
        "Most tickets after a switch come from the base URL field: the homepage pasted instead of the base URL, "
        "the full endpoint pasted so the client appends it twice, `/v1` added by both the user and the client, a "
        "path of the old entry. A request to a path that matches no endpoint is examined "
        "(`services/support/misconfig.py`); when it shows one of the mistakes below, relaygate answers 404 in the "
        "caller's dialect (OpenAI, Anthropic when the path or the `anthropic-version` header says so, Gemini for "
        "`/v1beta` paths), in English or Chinese after `Accept-Language`, naming the mistake and the right base "
        "URL for this deployment (`RELAYGATE_PUBLIC_BASE_URL`, else the scheme and Host of the request). When "
        "the User-Agent names a known client, the fix names that client's own field (Cherry Studio's *API Host*, "
        "Claude Code's `ANTHROPIC_BASE_URL`, …) with the form it expects.", "",
        "Every answer is also a usage record with `error_code` `base_url_mistake` or `endpoint_not_served`, the "
        "client, the key when one of ours was sent (else its masked form) and `detail.mistake`, so "
        "`relaygate stats` counts them and `relaygate support diagnose` finds them. A bare `GET /` from a browser "
        "or a load balancer (no key, unknown client) is answered but not recorded.", "",
        "Error bodies carry `hint: {mistake, base_url, expected_path}` for tools. The table is generated from "
        "`services/support/examples.py` (`scripts/gen_support_docs.py`), and `tests/support/test_misconfig.py` "
        "sends every row to a running gateway, in both languages. Examples use the base URL "
        "`https://ai.example.com/v1`.", "",
        "| mistake | the caller sent | typically | relaygate answers |", "|---|---|---|---|"]
    for i, ex in enumerate(EXAMPLES):
        status, envelope, message = answer_for(i)
        sent = f"`{ex.method} {ex.path}`"
        if ex.headers:
            sent += " with " + ", ".join(f"`{k}: {v}`" for k, v in ex.headers)
        lines.append(f"| `{ex.rule}` | {sent} | {ex.caller} | {status}, {envelope}: {message} |")
    lines += ["", "## Rules", "", "| rule | code | what went wrong (English / 中文) |", "|---|---|---|"]
    for rule, (code, en, zh) in RULES.items():
        lines.append(f"| `{rule}` | `{code}` | {en} / {zh} |")
    lines += ["", "Paths under `/api` belong to the admin API; of those only `/api/v1/…` relay paths (a base URL "
              "ending in `/api/v1`) are answered this way. One API / New API management paths (`/api/user/…`, "
              "`/api/token/…`) get the admin API's plain 404.", ""]
    return "\n".join(lines)
