"""CLI text in English and Simplified Chinese; the language comes from RELAYGATE_LANG or LANG."""

from __future__ import annotations

from typing import Any

from relaygate.core.settings import Settings

MESSAGES: dict[str, tuple[str, str]] = {
    "first_run.title": ("relaygate is set up. These secrets are shown ONCE; only hashes are stored.",
                        "relaygate 已完成初始化。以下密钥只显示这一次，数据库只保存哈希。"),
    "first_run.admin": ("Admin token (for /api and the CLI's remote calls)", "管理令牌（用于 /api）"),
    "first_run.key": ("First API key (owner 'admin', group 'default', environment 'testing')",
                      "第一个 API Key（负责人 'admin'，分组 'default'，环境 'testing'）"),
    "first_run.try": ("Try it (the 'demo-chat' model is the built-in demo upstream, not a real model):",
                      "试一下（'demo-chat' 是内置演示上游，不是真实模型）："),
    "serve.listening": ("relaygate listens on http://{host}:{port}/v1 (database: {db})",
                        "relaygate 正在监听 http://{host}:{port}/v1（数据库：{db}）"),
    "serve.new_db": ("No database at {path} yet: creating a new one (set RELAYGATE_DATA_DIR or "
                     "RELAYGATE_DATABASE_URL to use another).",
                     "{path} 还没有数据库：正在新建（要使用其他数据库，请设置 RELAYGATE_DATA_DIR 或 "
                     "RELAYGATE_DATABASE_URL）。"),
    "first_run.supplied": ("relaygate is set up. The admin token is the one from {source}; no secret is printed. "
                           "Create API keys with: relaygate keys create --name NAME --owner admin",
                           "relaygate 已完成初始化。管理令牌取自 {source}，不打印任何密钥。"
                           "创建 API Key：`relaygate keys create --name NAME --owner admin`"),
    "first_run.file": ("relaygate is set up. The admin token and a first API key were written to {path} "
                       "(mode 0600), not to the log: read it once, then delete it.",
                       "relaygate 已完成初始化。管理令牌和第一个 API Key 已写入 {path}（权限 0600），"
                       "不写入日志：读取一次后请删除该文件。"),
    "db.missing": ("No relaygate database at {path}: this command would create a new, empty one, so it stops. "
                   "Point it at yours with RELAYGATE_DATA_DIR or RELAYGATE_DATABASE_URL (the ones `relaygate serve` "
                   "uses), or create it on purpose with `relaygate --init db upgrade`.",
                   "{path} 没有 relaygate 数据库：此命令会新建一个空数据库，因此已停止。请用 RELAYGATE_DATA_DIR 或 "
                   "RELAYGATE_DATABASE_URL 指向你的数据库（与 `relaygate serve` 使用的相同），或用 "
                   "`relaygate --init db upgrade` 有意新建。"),

    "serve.console": ("Web console: http://{host}:{port}/ (sign in with the admin token, or an operator from "
                      "`relaygate operators add`)",
                      "网页控制台：http://{host}:{port}/（用管理令牌或 `relaygate operators add` 创建的操作员登录）"),
    "db.refused": ("Cannot connect to the database server at {url} ({reason}). Start the server, or fix the host "
                   "and port in RELAYGATE_DATABASE_URL.",
                   "无法连接数据库服务器 {url}。请启动数据库服务器，或修正 RELAYGATE_DATABASE_URL 中的主机和端口。"),
    "db.auth": ("The database server at {url} refused the user name or password ({reason}). Fix them in "
                "RELAYGATE_DATABASE_URL, or grant that user access.",
                "数据库服务器 {url} 拒绝了用户名或密码。请修正 RELAYGATE_DATABASE_URL 中的用户名和密码，"
                "或为该用户授权。"),
    "db.absent": ("The database '{name}' does not exist on the server at {url}. Create it ({create}), then run "
                  "`relaygate --init db upgrade`, or fix the name in RELAYGATE_DATABASE_URL.",
                  "服务器 {url} 上不存在数据库 '{name}'。请先创建（{create}），再运行 `relaygate --init db upgrade`，"
                  "或修正 RELAYGATE_DATABASE_URL 中的库名。"),
    "db.upgraded": ("Database upgraded to revision {rev}.", "数据库已升级到版本 {rev}。"),
    "demo.listening": ("Demo upstream (not a real model) on http://{host}:{port}/v1",
                       "演示上游（非真实模型）运行于 http://{host}:{port}/v1"),
    "error": ("Error: {message}", "错误：{message}"),
    "secrets.status": ("Secrets key {kid} (from {source}); {sealed} channel(s) encrypted, {clear} in clear text.",
                       "密钥 {kid}（来自 {source}）；{sealed} 个渠道已加密，{clear} 个为明文。"),
    "secrets.rotated": ("Re-encrypted {count} channel(s): key {old} replaced by {new}. Back up the new key.",
                        "已重新加密 {count} 个渠道：密钥 {old} 已换为 {new}。请备份新密钥。"),
    "deleted": ("Deleted {what} {ident}.", "已删除{what} {ident}。"),
    "key.created": ("Key created. Its secret is shown this once:", "密钥已创建。密钥只显示这一次："),
    "config.nochange": ("Nothing to change.", "没有需要变更的内容。"),
    "config.dry": ("Dry run: these changes would be made (run again without --dry-run to apply):",
                   "试运行：将做出以下变更（去掉 --dry-run 以实际执行）："),
    "config.applied": ("Applied:", "已应用："),
    "noun.owner": ("owner", "负责人"),
    "noun.group": ("group", "分组"),
    "noun.key": ("key", "密钥"),
    "noun.channel": ("channel", "渠道"),
    "noun.model": ("model", "模型"),
    "owner.created": ("Owner '{name}' created ({ident}).", "负责人 '{name}' 已创建（{ident}）。"),
    "group.saved": ("Group '{name}' saved; models: {models}.", "分组 '{name}' 已保存；模型：{models}。"),
    "group.all_models": ("all", "全部"),
    "key.secret_warning": ("Copy it now: it will not be shown again (only its hash is stored).",
                           "请立即复制：它不会再次显示（数据库只保存哈希）。"),
    "key.updated": ("Key {ident} updated.", "密钥 {ident} 已更新。"),
    "key.disabled": ("Key {ident} disabled; callers using it are refused within seconds.",
                     "密钥 {ident} 已停用；使用它的调用会在几秒内被拒绝。"),
    "key.enabled": ("Key {ident} enabled.", "密钥 {ident} 已启用。"),
    "channel.created": ("Channel '{name}' created (id {ident}).", "渠道 '{name}' 已创建（ID {ident}）。"),
    "channel.updated": ("Channel '{name}' updated.", "渠道 '{name}' 已更新。"),
    "channel.disabled": ("Channel '{name}' disabled: {reason}", "渠道 '{name}' 已停用：{reason}"),
    "channel.enabled": ("Channel '{name}' enabled; its health record was reset.",
                        "渠道 '{name}' 已启用，健康记录已重置。"),
    "model.saved": ("Model '{name}' saved.", "模型 '{name}' 已保存。"),
    "model.unsupported": ("Model '{name}' is now unsupported; callers are told to use '{replacement}'.",
                          "模型 '{name}' 已标记为不支持；调用方会被提示改用 '{replacement}'。"),
    "update.nothing": ("Nothing to update: give at least one option (see --help).",
                       "没有要更新的内容：请至少指定一个选项（见 --help）。"),
    "expiry.invalid": ("'{value}' is not an expiry: use a duration such as 30d / 12h, an ISO date, or 'never'.",
                       "'{value}' 不是有效的过期时间：请使用 30d / 12h 这样的时长、ISO 日期，或 'never'。"),
    "expiry.past": ("The expiry {value} is in the past; to stop a key now use 'relaygate keys disable'.",
                    "过期时间 {value} 已经过去；要立即停用密钥请用 'relaygate keys disable'。"),
    "time.invalid": ("'{value}' is not a time: use 15m / 2h / 7d (ago) or an ISO date/time (UTC).",
                     "'{value}' 不是有效时间：请使用 15m / 2h / 7d（之前）或 ISO 日期时间（UTC）。"),
    "vendor.unknown": ("Unknown vendor '{name}'; known: {known}.", "未知厂商 '{name}'；可用：{known}。"),
    "models.invalid": ("'{value}' is not a model mapping: use 'public=upstream,other' (public names non-empty).",
                       "'{value}' 不是有效的模型映射：请使用 'public=upstream,other'（公开名不能为空）。"),
    "logs.none": ("No usage records match.", "没有匹配的使用记录。"),
    "logs.following": ("Following new usage records (Ctrl-C stops)…", "正在跟踪新的使用记录（Ctrl-C 结束）…"),
    "config.written": ("Configuration written to {path}.", "配置已写入 {path}。"),
    "file.unreadable": ("Cannot read {path}: {reason}", "无法读取 {path}：{reason}"),
    "file.unwritable": ("Cannot write {path}: {reason}", "无法写入 {path}：{reason}"),
    "workers.refused": ("Several workers need a shared store: set REDIS_URL so limits and balances are "
                        "shared, or run one worker.",
                        "多个工作进程需要共享存储：请设置 REDIS_URL 以共享限流和余额，或只运行一个工作进程。"),
    "amount.invalid": ("'{value}' is not an amount: use a decimal number such as 10 or 12.50 (at most 9 "
                       "decimals, no currency words).",
                       "'{value}' 不是有效金额：请使用 10 或 12.50 这样的十进制数（最多 9 位小数，不带货币单位）。"),
    "balance.title": ("Balance of {owner} ({ident})", "{owner}（{ident}）的余额"),
    "balance.balance": ("balance", "余额"),
    "balance.held": ("held for requests in flight", "处理中请求的预留"),
    "balance.available": ("available", "可用"),
    "balance.topped_up": ("Topped up {owner} by {amount} ({reason}); balance now {balance}.",
                          "已为 {owner} 充值 {amount}（{reason}）；当前余额 {balance}。"),
    "balance.adjusted": ("Adjusted the balance of {owner} by {amount} ({reason}); balance now {balance}.",
                         "已调整 {owner} 的余额 {amount}（{reason}）；当前余额 {balance}。"),
    "balance.mismatch": ("Owner {owner} ({ident}) does not reconcile: stored balance {stored}, held {stored_held}; "
                         "its ledger entries sum to {entries}, held {entries_held}.",
                         "负责人 {owner}（{ident}）对账不符：记录的余额 {stored}、预留 {stored_held}；"
                         "账目合计余额 {entries}、预留 {entries_held}。"),
    "balance.stale_hold": ("Stale hold: request {request_id} of {owner} still holds {amount}, but its gateway process "
                           "({instance}) is gone. Start the gateway (it releases such holds at start) or wait for "
                           "a running one to sweep them.",
                           "过期预留：{owner} 的请求 {request_id} 仍预留 {amount}，"
                           "但其网关进程（{instance}）已不在运行。请启动网关（启动时会释放此类预留），或等待运行中的网关清理。"),
    "balance.unreplayed": ("Gateway process {instance} stopped (crash or kill) and its journal is not stored yet: "
                           "{records} finished requests and {streams} streams it was running, whose usage records "
                           "and charges the database may lack. Start the gateway: it stores them before serving.",
                           "网关进程 {instance} 已停止（崩溃或被强制结束），其日志尚未入库：{records} 个已完成的请求和 "
                           "{streams} 个进行中的流式请求，数据库可能缺少它们的用量记录和扣费。"
                           "请启动网关：它会在开始服务前写入。"),
    "balance.reconciled": ("All {count} owners reconcile: every stored balance equals the sum of its ledger entries.",
                           "全部 {count} 个负责人对账一致：每个余额都等于其账目合计。"),
    "balance.nothing": ("No owner holds a balance or a ledger entry yet: nothing to reconcile, nothing held.",
                        "尚无负责人有余额或账目：无需对账，也没有冻结的金额。"),
    "statement.written": ("Statement written to {path}.", "对账单已写入 {path}。"),
    "format.invalid": ("Unknown format '{value}'; use one of: {known}.", "未知格式 '{value}'；可用：{known}。"),
    "prices.none": ("No prices set yet (relaygate prices set MODEL --input X --output Y).",
                    "尚未设置任何价格（relaygate prices set MODEL --input X --output Y）。"),
    "price.saved": ("Price of '{model}' saved: {summary}.", "模型 '{model}' 的价格已保存：{summary}。"),
    "price.deleted": ("Price of '{model}' deleted.", "已删除模型 '{model}' 的价格。"),
    "price.free": ("free", "免费"),
    "price.per_request": ("{amount} per request", "每次请求 {amount}"),
    "price.tokens": ("input {input} / output {output} per 1M tokens", "每 1M tokens：输入 {input} / 输出 {output}"),
    "price.cached": ("; cached input {cached}", "；缓存输入 {cached}"),
    "price.kind.free": ("free", "免费"),
    "price.kind.request": ("per request", "按次"),
    "price.kind.tokens": ("per 1M tokens", "每 1M tokens"),
    "terms.saved": ("Group '{name}' terms: price multiplier {multiplier}, rpm {rpm}, tpm {tpm}, "
                    "concurrency {concurrency}.",
                    "分组 '{name}' 的条款：价格倍率 {multiplier}，rpm {rpm}，tpm {tpm}，并发 {concurrency}。"),
    "terms.clear_invalid": ("--clear cannot remove '{value}'; it takes: {known}.",
                            "--clear 不能清除 '{value}'；可用：{known}。"),
    "terms.set_and_clear": ("'{value}' is both set and cleared; give one or the other.",
                            "'{value}' 同时被设置和清除；请只选其一。"),
    "unlimited": ("unlimited", "不限"),
}


def say(settings: Settings, key: str, **params: Any) -> str:
    en, zh = MESSAGES[key]
    return (zh if settings.lang_code() == "zh-CN" else en).format(**params)
