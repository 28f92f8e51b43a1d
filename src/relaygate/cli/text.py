"""CLI text in English and Simplified Chinese; the language comes from RELAYGATE_LANG or LANG."""

from __future__ import annotations

from typing import Any

from relaygate.core.settings import Settings

MESSAGES: dict[str, tuple[str, str]] = {
    "first_run.title": ("relaygate is set up. These secrets are shown ONCE; only hashes are stored.",
                        "relaygate 已完成初始化。以下密钥只显示这一次，数据库只保存哈希。"),
    "first_run.admin": ("Admin token (for /api and the CLI's remote calls)", "管理令牌（用于 /api）"),
    "first_run.key": ("First API key (owner 'admin', group 'default', environment 'testing')",
                      "第一个 API Key（负责人 admin，分组 default，环境 testing）"),
    "first_run.try": ("Try it (the 'demo-chat' model is the built-in demo upstream, not a real model):",
                      "试一下（'demo-chat' 是内置演示上游，不是真实模型）："),
    "serve.listening": ("relaygate listens on http://{host}:{port}/v1 (database: {db})",
                        "relaygate 正在监听 http://{host}:{port}/v1（数据库：{db}）"),
    "db.upgraded": ("Database upgraded to revision {rev}.", "数据库已升级到版本 {rev}。"),
    "demo.listening": ("Demo upstream (not a real model) on http://{host}:{port}/v1",
                       "演示上游（非真实模型）运行于 http://{host}:{port}/v1"),
    "error": ("Error: {message}", "错误：{message}"),
    "deleted": ("Deleted {what} {ident}.", "已删除{what} {ident}。"),
    "key.created": ("Key created. Its secret is shown this once:", "密钥已创建。密钥只显示这一次："),
    "config.nochange": ("Nothing to change.", "没有需要变更的内容。"),
    "config.dry": ("Dry run: these changes would be made (run again without --dry-run to apply):",
                   "试运行：将做出以下变更（去掉 --dry-run 以实际执行）："),
    "config.applied": ("Applied:", "已应用："),
    "workers.refused": ("Several workers need a shared store: set REDIS_URL so limits and balances are "
                        "shared, or run one worker.",
                        "多个 worker 需要共享存储：请设置 REDIS_URL 以共享限流和余额，或只运行一个 worker。"),
}


def say(settings: Settings, key: str, **params: Any) -> str:
    en, zh = MESSAGES[key]
    return (zh if settings.lang_code() == "zh-CN" else en).format(**params)
