"""The CLI in Simplified Chinese: help text, the framework's own words, table headers and values.

Command and option help is written in English in the code; ``locale/cli-help.zh-CN.json`` maps each
text to its translation (tests/cli/test_i18n.py fails on a help text without one). Typer's and its
click's fixed words ("Usage:", "Options", "[default: …]", "No such option") are replaced when the
language is zh-CN, and their error messages translated by pattern.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

LOCALE = Path(__file__).resolve().parents[1] / "locale" / "cli-help.zh-CN.json"

# framework words (typer.rich_utils constants)
RICH_WORDS = {
    "DEPRECATED_STRING": "（已弃用）", "DEFAULT_STRING": "[默认：{}]", "ENVVAR_STRING": "[环境变量：{}]",
    "REQUIRED_LONG_STRING": "[必填]", "ARGUMENTS_PANEL_TITLE": "参数", "OPTIONS_PANEL_TITLE": "选项",
    "COMMANDS_PANEL_TITLE": "命令", "ERRORS_PANEL_TITLE": "错误", "ABORTED_TEXT": "已中止。",
    "RICH_HELP": "运行 [blue]'{command_path} {help_option}'[/] 查看帮助。",
}
HELP_OPTION = "显示此帮助并退出。"
# click / typer error messages -> zh-CN (the parts in braces are kept as they are)
ERRORS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"^No such command '(.+)'\. Did you mean (.+)\?$", r"没有命令 '\1'。是否想用 \2？"),
    (r"^No such command '(.+)'\.$", r"没有命令 '\1'。"),
    (r"^No such option: (\S+) Did you mean (\S+)\?$", r"没有选项：\1。是否想用 \2？"),
    (r"^No such option: (\S+)$", r"没有选项：\1"),
    (r"^No such option: (\S+)\s+\(Possible options: (.+)\)$", r"没有选项：\1（可能是：\2）"),
    (r"^Missing argument '(.+)'\.$", r"缺少参数 '\1'。"),
    (r"^Missing option '(.+)'\.$", r"缺少选项 '\1'。"),
    (r"^Missing parameter: (.+)$", r"缺少参数：\1"),
    (r"^Option '(.+)' requires an argument\.$", r"选项 '\1' 需要一个值。"),
    (r"^Option '(.+)' requires (\d+) arguments\.$", r"选项 '\1' 需要 \2 个值。"),
    (r"^Got unexpected extra arguments? \((.+)\)$", r"多余的参数（\1）"),
    (r"^Invalid value for (.+?): '(.+)' is not a valid integer\.$", r"\1 的值无效：'\2' 不是有效的整数。"),
    (r"^Invalid value for (.+?): '(.+)' is not a valid float\.$", r"\1 的值无效：'\2' 不是有效的数字。"),
    (r"^Invalid value for (.+?): '(.+)' is not one of (.+)\.$", r"\1 的值无效：'\2' 不在 \3 之中。"),
    (r"^Invalid value for (.+?): (.+) is not in the range (.+)\.$", r"\1 的值无效：\2 不在范围 \3 内。"),
    (r"^Invalid value for (.+?): Input should be a valid integer.*$", r"\1 的值无效：应为整数。"),
    (r"^Invalid value for (.+?): Input should be a valid number.*$", r"\1 的值无效：应为数字。"),
    (r"^Invalid value for (.+?): Input should be a valid boolean.*$", r"\1 的值无效：应为 true 或 false。"),
    (r"^Invalid value for (.+?): Input should be (?:less|greater) than (or equal to )?(.+)$",
     r"\1 的值无效：超出允许范围（\3）。"),
    (r"^Invalid value for (.+?): Input should be (.+)$", r"\1 的值无效：应为 \2。"),
    (r"^Invalid value for (.+?): (.+)$", r"\1 的值无效：\2"),
    (r"^Invalid value: (.+)$", r"值无效：\1"),
    (r"^Option '(.+)' does not take a value\.$", r"选项 '\1' 不接受值。"),
))
# table headers (emit's column names) and the words that appear as values
HEADERS = {
    "id": "ID", "name": "名称", "owner": "负责人", "owner_id": "负责人 ID", "kind": "类型", "email": "邮箱",
    "note": "备注", "keys": "密钥数", "group": "分组", "groups": "分组", "models": "模型", "description": "说明",
    "masked": "掩码", "environment": "环境", "status": "状态", "expires_at": "过期时间", "created_at": "创建时间",
    "last_used_at": "最近使用", "protocol": "协议", "base_url": "基础 URL", "priority": "优先级", "weight": "权重",
    "enabled": "启用", "state": "状态", "reason": "原因", "failures": "失败次数", "cooldown_until": "冷却至",
    "consecutive_failures": "连续失败", "updated_at": "更新时间", "aliases": "别名", "channels": "渠道",
    "replacement": "替代模型", "time": "时间", "ts": "时间", "request_id": "请求 ID", "key": "密钥",
    "key_id": "密钥 ID", "model": "模型", "requested_model": "请求的模型", "upstream_model": "上游模型",
    "channel": "渠道", "channel_id": "渠道 ID", "attempts": "尝试次数", "error_code": "错误码", "error": "错误",
    "tokens": "tokens", "prompt_tokens": "输入 tokens", "completion_tokens": "输出 tokens",
    "total_tokens": "总 tokens", "latency_ms": "耗时 ms", "ttft_ms": "首 token ms", "cost": "费用", "client": "客户端",
    "field": "字段", "value": "值", "balance": "余额", "held": "预留", "available": "可用", "currency": "货币",
    "input": "输入", "output": "输出", "cached_input": "缓存输入", "per_request": "按次", "price": "价格",
    "multiplier": "倍率", "rpm": "rpm", "tpm": "tpm", "concurrency": "并发", "amount": "金额", "action": "操作",
    "what": "对象", "change": "变更", "scope": "范围", "target": "目标", "threshold": "阈值", "cap": "上限",
    "message": "消息", "delivered": "已送达", "batch": "批次", "owners": "负责人数", "switch_at": "切换时间",
    "rollback_until": "回滚截止", "conditions": "条件", "actor": "操作人", "at": "时间", "from": "从", "to": "到",
    "count": "次数", "class": "类别", "day": "日期", "source": "来源", "rows": "行数", "ref": "凭证",
    "caps": "上限", "limits": "限制", "ip_allow": "允许的 IP", "disabled_reason": "停用原因", "secrets": "密钥",
    "secret": "密钥", "masked_key": "掩码密钥", "requests": "请求数", "share": "占比", "rate": "比率",
    "entry_path": "入口路径", "stream": "流式", "estimated": "估算", "caller_ip": "调用方 IP",
    "cap_total": "总上限", "cap_daily": "日上限", "cap_monthly": "月上限", "spent_total": "总花费",
    "spent_today": "今日花费", "spent_month": "本月花费", "assignee": "负责人", "done": "完成", "item": "事项",
    "errors": "错误数", "by class": "按类别",
}
VALUES = {
    "yes": "是", "no": "否", "healthy": "健康", "cooling": "冷却中", "active": "可用", "disabled": "已停用",
    "enabled": "已启用", "unsupported": "不支持", "person": "个人", "team": "团队", "service": "服务",
    "never": "永不", "all": "全部", "free": "免费", "planned": "计划中", "switched": "已切换",
    "observing": "观察中", "completed": "已完成", "rolled_back": "已回滚", "pending": "待处理",
    "failed": "失败", "applied": "已完成", "testing": "测试", "production": "生产", "personal": "个人",
    "high-cost": "高成本", "per request": "按次", "per 1M tokens": "每 1M tokens", "unlimited": "不限",
}


@cache
def help_catalog() -> dict[str, str]:
    with LOCALE.open(encoding="utf-8") as fh:
        data: dict[str, str] = json.load(fh)
    return data


def chinese() -> bool:
    from relaygate.core.settings import Settings

    return Settings.from_env().lang_code() == "zh-CN"


def translate_help(text: str | None) -> str | None:
    if not text:
        return text
    return help_catalog().get(text.strip(), text)


def localize(cmd: Any, zh: bool) -> Any:
    """Set a click command tree's help to Chinese or back to English, in place; returns the command."""
    if getattr(cmd, "_relaygate_zh", False) == zh:
        return cmd
    if not hasattr(cmd, "_relaygate_en"):
        cmd._relaygate_en = (cmd.help, cmd.short_help, [getattr(p, "help", None) for p in cmd.params])
    cmd._relaygate_zh = zh
    en_help, en_short, en_params = cmd._relaygate_en
    cmd.help = translate_help(en_help) if zh else en_help
    cmd.short_help = translate_help(en_short) if zh else en_short
    for param, text in zip(cmd.params, en_params, strict=False):
        if text:
            param.help = translate_help(text) if zh else text
    for sub in getattr(cmd, "commands", {}).values():
        localize(sub, zh)
    return cmd


def translate_error(message: str) -> str:
    for pattern, replacement in ERRORS:
        if pattern.match(message):
            return pattern.sub(replacement, message)
    return message


_ORIGINALS: dict[str, Any] = {}


def install(zh: bool) -> None:
    """Switch typer's and click's own words to Chinese for this process, or back to English."""
    if not zh and not _ORIGINALS:  # English and never switched: nothing to undo, typer's help loads when shown
        return
    from typer import rich_utils
    from typer._click import core as click_core
    from typer._click import exceptions as click_exceptions
    from typer._click import formatting

    if not _ORIGINALS:
        _ORIGINALS.update({f"rich.{name}": getattr(rich_utils, name) for name in RICH_WORDS})
        _ORIGINALS["write_usage"] = formatting.HelpFormatter.write_usage
        _ORIGINALS["get_help_option"] = click_core.Command.get_help_option
        base = click_exceptions.ClickException
        _ORIGINALS["fmt.ClickException"] = (base, vars(base).get("format_message", base.format_message))
        for cls in vars(click_exceptions).values():
            if isinstance(cls, type) and issubclass(cls, click_exceptions.ClickException) \
                    and "format_message" in vars(cls):
                _ORIGINALS[f"fmt.{cls.__name__}"] = (cls, vars(cls)["format_message"])
    if getattr(rich_utils, "_relaygate_zh", False) == zh:
        return
    rich_utils._relaygate_zh = zh  # type: ignore[attr-defined]
    for name, word in RICH_WORDS.items():
        setattr(rich_utils, name, word if zh else _ORIGINALS[f"rich.{name}"])
    write_usage = _ORIGINALS["write_usage"]
    get_help_option = _ORIGINALS["get_help_option"]
    if not zh:
        formatting.HelpFormatter.write_usage = write_usage  # type: ignore[method-assign]
        click_core.Command.get_help_option = get_help_option  # type: ignore[method-assign]
        for cls, original in (v for k, v in _ORIGINALS.items() if k.startswith("fmt.")):
            cls.format_message = original
        return

    def usage_zh(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
        write_usage(self, prog, args, "用法：" if prefix is None else prefix)

    def help_option_zh(self: Any, ctx: Any) -> Any:
        option = get_help_option(self, ctx)
        if option is not None:
            option.help = HELP_OPTION
        return option

    formatting.HelpFormatter.write_usage = usage_zh  # type: ignore[method-assign]
    click_core.Command.get_help_option = help_option_zh  # type: ignore[method-assign]
    for cls, original in (v for k, v in _ORIGINALS.items() if k.startswith("fmt.")):
        def message_zh(self: Any, _original: Any = original) -> str:
            return translate_error(_original(self))

        cls.format_message = message_zh


def header(name: str) -> str:
    return HEADERS.get(name, name)


def value(text: str) -> str:
    return VALUES.get(text, text)
