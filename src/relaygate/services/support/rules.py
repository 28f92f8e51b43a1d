"""Diagnosis rules: from an error code and its context (key, host, plan, catalogue) to likely cause and next action.

Each rule looks at a ``Case`` and returns a ``Verdict`` or None; the first that answers wins, and
the error guide answers for every code no rule covers. Verdicts carry two texts per language: the
cause and action for support staff (may name channels, owners, commands) and ``tell``, the one
sentence for the caller's reply (never internal routing).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from relaygate.services.notices.clients import BaseForms, ClientSpec
from relaygate.services.notices.guide import guide_for
from relaygate.services.notices.plan import MappingRow
from relaygate.services.support.misconfig import examine, fix_text

Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Verdict:
    rule: str
    cause: Pair
    action: Pair
    tell: Pair | None = None  # what the reply should tell the caller instead of the guide's generic fix


@dataclass
class Case:
    """Everything a rule may look at; nothing in it is a secret or a prompt."""

    rec: dict[str, Any] | None  # the usage record in focus (record_view fields)
    key: dict[str, Any] | None  # key_view of the key, when it is still registered
    forms: BaseForms
    client: ClientSpec | None
    old_hosts: frozenset[str] = frozenset()
    mapping: dict[str, MappingRow] = field(default_factory=dict)
    served: list[str] = field(default_factory=list)
    replacements: dict[str, str] = field(default_factory=dict)
    days: int = 7
    recent_total: int = 0

    @property
    def code(self) -> str | None:
        return self.rec["error_code"] if self.rec else None

    @property
    def host(self) -> str:
        return ((self.rec or {}).get("host") or "").lower()

    def value(self, name: str) -> Any:
        return (self.rec or {}).get(name)


Rule = Callable[[Case], Verdict | None]


def _no_records(case: Case) -> Verdict | None:
    if case.rec is not None or case.key is None:
        return None
    fix = fix_text("openai", case.client, case.forms)
    return Verdict("no_requests_here",
                   (f"No request with key {case.key['id']} reached this gateway in the last {case.days} days: the "
                    "client most likely still points at the old base URL, or is not in use.",
                    f"最近 {case.days} 天没有任何使用密钥 {case.key['id']} 的请求到达本网关：客户端很可能仍指向旧的 "
                    "Base URL，或尚未使用。"),
                   ("Send the caller the configuration email for their client; look the key up in the old entry's "
                    "logs.", "把对应客户端的配置邮件发给调用方；在旧入口的日志中查找该密钥。"),
                   (f"We see no request from your key on the new entry yet. {fix[0]}",
                    f"新入口上还没有收到你这个密钥的任何请求。{fix[1]}"))


def _succeeded(case: Case) -> Verdict | None:
    if case.rec is None or case.code or (case.value("status") or 0) >= 400:
        return None
    tokens = case.value("total_tokens")
    return Verdict("succeeded",
                   (f"The request succeeded here (HTTP {case.value('status')}, {tokens} tokens in "
                    f"{case.value('latency_ms')} ms). A failure the caller saw came from the client (its own timeout "
                    "or parsing) or from another request.",
                    f"该请求在本网关成功（HTTP {case.value('status')}，{tokens} tokens，"
                    f"耗时 {case.value('latency_ms')} ms）。"
                    "调用方看到的失败来自客户端（自身超时或解析）或另一次请求。"),
                   ("Ask for the request id of the failing request and the client version.",
                    "请向调用方索要失败请求的请求 ID 和客户端版本。"))


def _old_entry_key(case: Case) -> Verdict | None:
    if case.code != "invalid_api_key" or not case.host or case.host not in case.old_hosts:
        return None
    fix = fix_text("openai", case.client, case.forms)
    return Verdict("old_base_url",
                   (f"The client still points at the old base URL (the request came in under the old entry's host "
                    f"{case.host}) and sends a key of the old entry.",
                    f"客户端仍指向旧的 Base URL（请求经由旧入口域名 {case.host} 到达），并且使用的是旧入口的密钥。"),
                   (f"Tell the caller to switch to {case.forms.v1} with their new key; or import the old key.",
                    f"请调用方改用 {case.forms.v1} 和新密钥；或导入该旧密钥。"),
                   (f"Your client still uses the old address and an old key. {fix[0]} Use the key you received for "
                    "the new entry.",
                    f"你的客户端仍在使用旧地址和旧密钥。{fix[1]}并使用为新入口发放的密钥。"))


def _key_state(case: Case) -> Verdict | None:
    key = case.key
    if key is None or case.code not in ("key_disabled", "key_expired"):
        return None
    if case.code == "key_disabled":
        reason = key.get("disabled_reason") or "no reason recorded"
        return Verdict("key_disabled", (f"Key {key['id']} ({key['name']}) is disabled: {reason}.",
                                        f"密钥 {key['id']}（{key['name']}）已停用：{reason}。"),
                       (f"If that is no longer true: relaygate keys enable {key['id']}; else issue a new key.",
                        f"如原因已消除：relaygate keys enable {key['id']}；否则签发新密钥。"))
    return Verdict("key_expired", (f"Key {key['id']} expired at {key.get('expires_at')}.",
                                   f"密钥 {key['id']} 已于 {key.get('expires_at')} 过期。"),
                   (f"relaygate keys update {key['id']} --expires 30d, or issue a new key.",
                    f"relaygate keys update {key['id']} --expires 30d，或签发新密钥。"))


def _old_model_name(case: Case) -> Verdict | None:
    model = case.value("requested_model")
    if case.code not in ("model_not_found", "model_unsupported") or not model:
        return None
    row = case.mapping.get(model)
    new = row.new if row else case.replacements.get(model)
    if new:
        return Verdict("old_model_name",
                       (f"'{model}' is a name of the old entry; the mapping says '{new}'.",
                        f"'{model}' 是旧入口的模型名；映射表对应 '{new}'。"),
                       (f"Tell the caller to use '{new}', or keep the old name working: relaygate models add {new} "
                        f"--alias {model}.",
                        f"请调用方改用 '{new}'，或保留旧名：relaygate models add {new} --alias {model}。"),
                       (f"Use the model name '{new}' instead of '{model}'.", f"请把模型名 '{model}' 改为 '{new}'。"))
    if row is not None:  # mapped to nothing: not supported on the new entry
        return Verdict("model_not_offered", (f"'{model}' is marked not supported on the new entry.",
                                             f"'{model}' 在新入口标注为暂不支持。"),
                       ("Offer the caller an alternative from the catalogue.", "请为调用方推荐目录中的替代模型。"),
                       (f"'{model}' is not offered on the new entry; please pick another model.",
                        f"新入口暂不提供 '{model}'，请选择其他模型。"))
    close = difflib.get_close_matches(model, case.served, n=1, cutoff=0.6)
    if close:
        return Verdict("model_typo", (f"'{model}' is not served; the closest served name is '{close[0]}'.",
                                      f"本网关没有 '{model}'；最接近的是 '{close[0]}'。"),
                       (f"Confirm with the caller that they meant '{close[0]}'.",
                        f"请与调用方确认是否指 '{close[0]}'。"),
                       (f"Did you mean '{close[0]}'? That is the name to use.",
                        f"你是否想用 '{close[0]}'？请使用这个名称。"))
    return None


def _model_permission(case: Case) -> Verdict | None:
    if case.code != "model_not_allowed":
        return None
    allowed = (case.key or {}).get("allowed_models")
    return Verdict("model_not_allowed",
                   (f"Key {case.value('key_id')} or its group '{case.value('group_name')}' does not include "
                    f"'{case.value('requested_model')}' (key allows: {allowed or 'the group’s models'}).",
                    f"密钥 {case.value('key_id')} 或其分组 '{case.value('group_name')}' 不包含 "
                    f"'{case.value('requested_model')}'（密钥允许：{allowed or '分组内模型'}）。"),
                   ("Widen the key (relaygate keys update KEY --models …) or the group, or tell the caller which "
                    "models to use.", "放宽密钥（relaygate keys update KEY --models …）或分组，或告知调用方可用模型。"))


def _base_url(case: Case) -> Verdict | None:
    detail = case.value("detail") or {}
    if case.code not in ("base_url_mistake", "endpoint_not_served") or not detail.get("mistake"):
        return None
    rule = detail["mistake"]
    method = "POST" if rule == "base_as_endpoint" else "GET"
    finding = examine(method, case.value("entry_path") or "/", {}, case.forms, case.client)
    if finding is None:
        return None
    return Verdict(f"base_url:{rule}",
                   (f"Base-URL mistake '{rule}': {finding.mistake} (path {case.value('entry_path')}).",
                    f"Base URL 错误 '{rule}'：{finding.mistake_zh}（路径 {case.value('entry_path')}）。"),
                   (f"Send the caller the fix: {finding.fix}", f"把修正方法发给调用方：{finding.fix_zh}"),
                   (f"{finding.mistake[0].upper()}{finding.mistake[1:]}. {finding.fix}",
                    f"{finding.mistake_zh}。{finding.fix_zh}"))


def _upstream(case: Case) -> Verdict | None:
    if case.code not in ("no_healthy_channel", "upstream_timeout", "upstream_error", "upstream_rejected",
                         "upstream_stream_error", "upstream_stream_incomplete"):
        return None
    tried = ", ".join(f"channel {a['channel_id']} ({a.get('channel') or '?'}): {a.get('status') or a.get('error')}"
                      for a in case.value("attempts_detail") or [])
    tried = tried or "no channel could be tried"
    guide = guide_for(case.code)
    assert guide is not None
    return Verdict(case.code, (f"{guide.cause[0]} Attempts: {tried}.", f"{guide.cause[1]}尝试记录：{tried}。"),
                   ("relaygate channels health; look at the upstream account of the channels named; the request "
                    "id is in their logs (X-Request-Id).",
                    "运行 relaygate channels health；检查上述渠道的上游账号；"
                    "上游日志中可按请求 ID（X-Request-Id）查找。"))


def _disconnected(case: Case) -> Verdict | None:
    if case.code != "client_disconnected":
        return None
    ms = case.value("latency_ms")
    return Verdict("client_disconnected",
                   (f"The client closed the connection after {ms} ms, before the answer was complete: its own "
                    "timeout or the user stopping it.",
                    f"客户端在 {ms} ms 后、回答完成前断开了连接：客户端自身超时或用户手动停止。"),
                   ("Ask the caller for the client's timeout setting; suggest streaming for long answers.",
                    "请询问调用方客户端的超时设置；长回答建议开启流式输出。"),
                   (f"Your client closed the connection after {ms / 1000:.0f} s, before the answer was complete. "
                    "Raise its timeout or use streaming.",
                    f"你的客户端在 {ms / 1000:.0f} 秒后、回答完成前断开了连接。请调大超时时间或开启流式输出。"))


def _from_guide(case: Case) -> Verdict | None:
    guide = guide_for(case.code)
    if guide is None:
        return None
    return Verdict(guide.code, guide.cause, guide.fix)


RULES: tuple[Rule, ...] = (_no_records, _succeeded, _old_entry_key, _key_state, _old_model_name, _model_permission,
                           _base_url, _upstream, _disconnected, _from_guide)


def judge(case: Case) -> Verdict:
    for rule in RULES:
        verdict = rule(case)
        if verdict is not None:
            return verdict
    code = case.code or "unknown"
    return Verdict("unknown", (f"No rule covers error code '{code}'.", f"没有规则覆盖错误码 '{code}'。"),
                   ("Look the request id up in the gateway log.", "请在网关日志中按请求 ID 查找。"))
