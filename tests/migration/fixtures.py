"""Realistic One API and New API databases for the migration tests, on SQLite, MariaDB and PostgreSQL.

``build_source`` creates the tables (see schemas.py) in a source database and a separate logs
database and fills them with rows that cover what the importer must get right: every channel type
in use, tokens in every state (and the status column lying about it), negative balances, NULL /
empty / invalid JSON, unknown columns, New API soft deletes, ratio keys of the ``model(type)``
form, options and logs. ``Facts`` tells a test what each row should become.
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import MetaData, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.migration.schemas import (
    newapi_logs_metadata,
    newapi_metadata,
    oneapi_logs_metadata,
    oneapi_metadata,
)

DAY = 86400
_ALNUM = string.ascii_letters + string.digits


def make_key(seed: int) -> str:
    """A 48-character key like both projects generate (stored without sk-)."""
    rnd = random.Random(seed)
    return "".join(rnd.choice(_ALNUM) for _ in range(48))


@dataclass
class TokenFact:
    id: int
    key: str
    name: str
    owner: str
    state: str  # active disabled expired exhausted owner_disabled deleted owner_deleted
    models: list[str] | None = None
    networks: list[str] | None = None


@dataclass
class Facts:
    kind: str
    now: int
    tokens: dict[str, TokenFact] = field(default_factory=dict)  # by token name
    balances: dict[str, int] = field(default_factory=dict)  # username -> quota (imported owners)
    skipped_users: list[str] = field(default_factory=list)
    admin_tokens: dict[str, str] = field(default_factory=dict)  # username -> access token
    channels: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> expectations


def _tok(rows: list[dict[str, Any]], facts: Facts, kind: str, tid: int, user: tuple[int, str], name: str,
         state: str, **cols: Any) -> None:
    key = make_key(1000 * (1 if kind == "oneapi" else 2) + tid)
    now = facts.now
    row = {"id": tid, "user_id": user[0], "key": key, "status": 1, "name": name, "created_time": now - 30 * DAY,
           "accessed_time": now - DAY, "expired_time": -1, "remain_quota": 500_000, "unlimited_quota": False,
           "used_quota": 1234}
    row.update(cols)
    rows.append(row)
    facts.tokens[name] = TokenFact(tid, key, name, user[1], state)


_VERTEX_PEM: list[str] = []


def vertex_key(root: str, project: str) -> str:
    """A service-account key as Google issues it (a fresh RSA key; token_uri at the fake upstream)."""
    if not _VERTEX_PEM:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _VERTEX_PEM.append(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()).decode())
    return json.dumps({"type": "service_account", "project_id": project, "private_key_id": "k1" + project,
                       "private_key": _VERTEX_PEM[0], "client_email": f"relay@{project}.iam.gserviceaccount.com",
                       "client_id": "1234567890", "token_uri": f"{root}/token" if root else
                       "https://oauth2.googleapis.com/token"})


def oneapi_rows(now: int, openai_base: str = "") -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]], Facts]:
    f = Facts("oneapi", now)
    users = [
        dict(id=1, username="root", role=100, status=1, quota=500_000_000_000_000, group="default",
             access_token="3f1c7a2b9d8e4f60a1b2c3d4e5f6a7b8", aff_code="R00T"),
        dict(id=2, username="alice", role=1, status=1, quota=12_345_678, group="default",
             access_token="a1b2c3d4e5f60718293a4b5c6d7e8f90", aff_code="AL1C", x_department="research"),
        dict(id=3, username="bob", role=1, status=1, quota=-250_001, group="vip", access_token=None, aff_code="B0B1"),
        dict(id=4, username="carol", role=10, status=1, quota=1_000_000, group="svip",
             access_token="c0ffeec0ffeec0ffeec0ffeec0ffee01", aff_code="CARO"),
        dict(id=5, username="dave", role=1, status=2, quota=700_000, group="default", aff_code="DAVE"),
        dict(id=6, username="deleted_5b9a0c1e2d3f4a5b6c7d8e9f", role=1, status=3, quota=100, group="default",
             aff_code="DEL6"),
        dict(id=7, username="admin", role=1, status=1, quota=7, group="default", aff_code="ADM7", email="a@x.io"),
    ]
    for u in users:
        u.setdefault("password", "$2a$10$abcdefghijklmnopqrstuuJ3eHf3pXQm0F6oXvGZ0Zl9lXQ0y8H2a")
        u.setdefault("display_name", u["username"])
        u.setdefault("used_quota", 1000)
    f.balances = {u["username"]: u["quota"] for u in users if u["status"] != 3}
    f.skipped_users = ["deleted_5b9a0c1e2d3f4a5b6c7d8e9f"]
    f.admin_tokens = {"root": users[0]["access_token"], "carol": users[3]["access_token"]}
    A, B, C, D, E, R = (2, "alice"), (3, "bob"), (4, "carol"), (5, "dave"), (6, "deleted"), (1, "root")
    toks: list[dict[str, Any]] = []
    _tok(toks, f, "oneapi", 1, A, "laptop", "active", unlimited_quota=True, models="", subnet="")
    _tok(toks, f, "oneapi", 2, A, "ci-bot", "active", remain_quota=1_000_000, models="gpt-4o-mini, gpt-3.5-turbo",
         subnet=None)
    f.tokens["ci-bot"].models = ["gpt-4o-mini", "gpt-3.5-turbo"]
    _tok(toks, f, "oneapi", 3, A, "office", "active", subnet="10.0.0.0/8, 127.0.0.1/32", models=None)
    f.tokens["office"].networks = ["10.0.0.0/8", "127.0.0.1/32"]
    _tok(toks, f, "oneapi", 4, A, "branch", "active", subnet="192.168.0.0/16,192.168.7.7", x_rate_limit=60)
    f.tokens["branch"].networks = ["192.168.0.0/16"]
    _tok(toks, f, "oneapi", 5, A, "old-laptop", "disabled", status=2)
    _tok(toks, f, "oneapi", 6, B, "expired-but-status-1", "expired", expired_time=now - 2 * DAY)
    _tok(toks, f, "oneapi", 7, A, "exhausted-but-status-1", "exhausted", remain_quota=0)
    _tok(toks, f, "oneapi", 8, B, "overdrawn", "exhausted", status=4, remain_quota=-500)
    _tok(toks, f, "oneapi", 9, C, "admin-script", "active", unlimited_quota=True, expired_time=now + 365 * DAY)
    _tok(toks, f, "oneapi", 10, D, "banned-user", "owner_disabled", unlimited_quota=True)
    _tok(toks, f, "oneapi", 11, E, "ghost", "owner_deleted", user_id=6)
    _tok(toks, f, "oneapi", 12, R, "root-token", "active", unlimited_quota=True)
    _tok(toks, f, "oneapi", 13, B, "expired-status-3", "expired", status=3, expired_time=now - 40 * DAY)
    _tok(toks, f, "oneapi", 14, B, "vip-token", "active", remain_quota=250_000)
    key_3 = "sk-ant-api03-" + "x" * 40
    chans = [
        dict(id=1, type=1, name="openai-main", key="sk-proj-upstream-main-0001", base_url=openai_base or None,
             models="gpt-4o,gpt-4o-mini,gpt-3.5-turbo,text-embedding-3-small,dall-e-3,tts-1,whisper-1",
             group="default,vip,svip",
             priority=10, weight=0, model_mapping=None, status=1, config=""),
        dict(id=2, type=3, name="azure-east", key="azurekey0000000000000000000000001",
             base_url="https://east.openai.azure.com", other="2024-02-15-preview", models="gpt-4o,gpt-4",
             group="default", priority=5, weight=3, model_mapping='{"gpt-4": "gpt-4o"}', status=1, config="{}"),
        dict(id=3, type=14, name="claude", key=key_3, base_url="",
             models="claude-3-5-sonnet-20241022,claude-3-haiku-20240307", group="default,vip", priority=0,
             weight=None, model_mapping="", status=1, config=None),
        dict(id=4, type=24, name="gemini", key="AIzaSyA-gemini-key-000000000000000", base_url=None, other="v1beta",
             models="gemini-1.5-pro,gemini-1.5-flash", group="default", priority=0, status=3, config="{}"),
        dict(id=5, type=36, name="deepseek", key="sk-deepseek-0000000000000000001", base_url="",
             models="deepseek-chat,deepseek-reasoner", group="default,vip", priority=0, status=1, config=""),
        dict(id=6, type=50, name="local-vllm", key="token-vllm", base_url="http://10.0.0.5:8000/v1",
             models="qwen2.5-72b-instruct, my-finetune", group="default", priority=0, status=1,
             model_mapping='{"my-finetune": "ft:qwen2.5-72b:acme:42"}', config=""),
        dict(id=7, type=1, name="openai-backup", key="sk-proj-upstream-backup-0002", base_url=openai_base or None,
             models="gpt-4o-mini,gpt-3.5-turbo", group="default,vip", priority=0, weight=5,
             model_mapping="{gpt-3.5-turbo: gpt-4o-mini", status=1, config=""),
        dict(id=8, type=33, name="bedrock", key="AKIAEXAMPLE0000|wJalrXUtnFEMI/K7MDENG/bPxRfiCY|us-east-1",
             models="claude-3-5-sonnet-20241022", group="default", priority=0, status=2,
             config='{"region":"us-east-1","ak":"AKIAEXAMPLE0000","sk":"wJalrXUtnFEMI/K7MDENG/bPxRfiCY"}'),
        dict(id=9, type=40, name="doubao", key="ark-0000-1111", base_url="", models="doubao-pro-32k",
             model_mapping='{"doubao-pro-32k": "ep-20240601-abcde"}', group="default", priority=0, status=1),
        dict(id=10, type=8, name="custom-proxy", key="sk-custom", base_url="https://proxy.example.com",
             models="gpt-4o-mini", group="svip", priority=1, status=1, system_prompt="You are a helpful assistant."),
        dict(id=11, type=29, name="groq", key="gsk_groq_000000", base_url=None, models="llama3-70b-8192",
             group="default", priority=0, status=1),
        dict(id=12, type=42, name="vertex", key="", base_url=openai_base or None,
             models="gemini-2.0-flash-001,claude-3-5-sonnet-v2@20241022", group="default", priority=0, status=1,
             config=json.dumps({"region": "us-central1", "vertex_ai_project_id": "acme-prod",
                                "vertex_ai_adc": vertex_key(openai_base, "acme-prod")})),
    ]
    for c in chans:
        c.setdefault("created_time", now - 90 * DAY)
        c.setdefault("balance", 12.5)
        c.setdefault("used_quota", 42)
    options = [
        ("QuotaPerUnit", "500000"), ("LogConsumeEnabled", "true"), ("RetryTimes", "2"),
        ("ModelRatio", json.dumps({"gpt-4o": 2.5, "gpt-4o(3)": 1.25, "gpt-4o-mini": 0.075, "gpt-3.5-turbo": 0.25,
                                   "gpt-4": 15, "claude-3-5-sonnet-20241022": 1.5, "deepseek-chat": 0.07,
                                   "text-embedding-3-small": 0.01, "ft:qwen2.5-72b:acme:42": 3, "dall-e-3": 20})),
        ("CompletionRatio", json.dumps({"ft:qwen2.5-72b:acme:42": 2})),
        ("GroupRatio", json.dumps({"default": 1, "vip": 0.8, "svip": 0.5})),
        ("Notice", ""), ("SystemName", "Acme One API"), ("TopUpLink", "not json at all {"),
    ]
    tables: dict[str, list[dict[str, Any]]] = {
        "users": users, "tokens": toks, "channels": chans,
        "options": [{"key": k, "value": v} for k, v in options],
        "abilities": [{"group": "default", "model": "gpt-4o", "channel_id": 1, "enabled": True, "priority": 10},
                      {"group": "default", "model": "gpt-5", "channel_id": 99, "enabled": True, "priority": 0}],
        "redemptions": [{"id": 1, "user_id": 0, "key": "f" * 32, "status": 1, "name": "promo", "quota": 500_000,
                         "created_time": now - DAY, "redeemed_time": 0}],
    }
    return tables, _logs(now, "oneapi"), f


def newapi_rows(now: int, openai_base: str = "") -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]], Facts]:
    f = Facts("newapi", now)
    deleted = "2025-04-11 10:00:00.123+08:00"
    users = [
        dict(id=1, username="root", role=100, status=1, quota=100_000_000, group="default",
             access_token="na-root-token-28-chars-long1", aff_code="RNA1", setting='{"language":"zh"}'),
        dict(id=2, username="erin", role=1, status=1, quota=2_500_000, group="default", access_token=None,
             aff_code="ERIN", setting=""),
        dict(id=3, username="frank", role=1, status=1, quota=-1_000_000, group="vip", aff_code="FRNK", setting=None),
        dict(id=4, username="gone", role=1, status=1, quota=999, group="default", aff_code="GONE",
             deleted_at=deleted),
        dict(id=5, username="grace", role=10, status=1, quota=3_000_003, group="vip",
             access_token="grace0admin0token0000000000001", aff_code="GRAC"),
        dict(id=6, username="hank", role=1, status=2, quota=400_000, group="default", aff_code="HANK"),
    ]
    for u in users:
        u.setdefault("password", "$2a$10$abcdefghijklmnopqrstuuJ3eHf3pXQm0F6oXvGZ0Zl9lXQ0y8H2a")
        u.setdefault("display_name", u["username"])
        u.setdefault("created_at", now - 100 * DAY)
    f.balances = {u["username"]: u["quota"] for u in users if not u.get("deleted_at")}
    f.skipped_users = ["gone"]
    f.admin_tokens = {"root": users[0]["access_token"], "grace": users[4]["access_token"]}
    E, F_, G, GR, H = (2, "erin"), (3, "frank"), (4, "gone"), (5, "grace"), (6, "hank")
    toks: list[dict[str, Any]] = []
    _tok(toks, f, "newapi", 1, E, "na-laptop", "active", unlimited_quota=True, group="")
    _tok(toks, f, "newapi", 2, E, "na-limited", "active", model_limits_enabled=True,
         model_limits="gpt-4o-mini,deepseek-chat", allow_ips="")
    f.tokens["na-limited"].models = ["gpt-4o-mini", "deepseek-chat"]
    _tok(toks, f, "newapi", 3, E, "na-ips", "active", allow_ips="127.0.0.1\n10.1.0.0/16\n\n",
         model_limits_enabled=False, model_limits="gpt-4")
    f.tokens["na-ips"].networks = ["127.0.0.1", "10.1.0.0/16"]
    _tok(toks, f, "newapi", 4, E, "na-deleted", "deleted", deleted_at=deleted)
    _tok(toks, f, "newapi", 5, F_, "na-expired", "expired", expired_time=now - DAY)
    _tok(toks, f, "newapi", 6, F_, "na-exhausted", "exhausted", remain_quota=-20)
    _tok(toks, f, "newapi", 7, F_, "na-disabled", "disabled", status=2)
    _tok(toks, f, "newapi", 8, E, "na-vip-override", "active", group="vip", unlimited_quota=True)
    _tok(toks, f, "newapi", 9, E, "na-auto", "active", group="auto", unlimited_quota=True)
    _tok(toks, f, "newapi", 10, G, "na-ghost", "owner_deleted")
    _tok(toks, f, "newapi", 11, GR, "na-no-models", "active", model_limits_enabled=True, model_limits="")
    f.tokens["na-no-models"].models = []
    # token groups New API refused: svip is not among erin's usable groups; legacy is usable but has no ratio
    _tok(toks, f, "newapi", 12, E, "na-svip", "active", group="svip", unlimited_quota=True)
    _tok(toks, f, "newapi", 13, E, "na-legacy", "active", group="legacy", unlimited_quota=True)
    _tok(toks, f, "newapi", 14, GR, "na-admin", "active", unlimited_quota=True)
    _tok(toks, f, "newapi", 15, F_, "na-broke", "active")  # frank owes $2: New API refused his user (403)
    _tok(toks, f, "newapi", 16, H, "na-banned", "owner_disabled", unlimited_quota=True)  # hank is disabled
    chans = [
        dict(id=1, type=1, name="oa", key="sk-na-openai-1\nsk-na-openai-2\nsk-na-openai-3", base_url=openai_base,
             models="gpt-4o,gpt-4o-mini,gpt-4.1,dall-e-3,tts-1,whisper-1,tts-1-hd,gpt-4o-transcribe",
             group="default,vip", priority=5, weight=10,
             status=1,
             model_mapping='{"gpt-4.1": "gpt-4o", "gpt-4o": "gpt-4o-2024-11-20"}',
             channel_info={"is_multi_key": True, "multi_key_size": 3, "multi_key_status_list": {"1": 2},
                           "multi_key_mode": "polling"}, auto_ban=1, tag="openai"),
        dict(id=2, type=43, name="deepseek", key="sk-na-deepseek", base_url="", models="deepseek-chat",
             group="default,vip", priority=0, weight=0, status=1, settings='{"allow_service_tier":false}'),
        dict(id=3, type=14, name="claude", key="sk-ant-na", models="claude-sonnet-4-20250514", group="default",
             status=3, other_info='{"status_reason":"credit balance is too low","status_time":1717000000}'),
        dict(id=4, type=24, name="gemini", key="AIza-na", models="gemini-2.5-flash", group="vip", status=1),
        dict(id=5, type=50, name="kling", key="ak|sk", models="kling-v1", group="default", status=1),
        dict(id=6, type=36, name="suno", key="suno-key", models="suno_music", group="default", status=2),
        dict(id=7, type=8, name="custom-full-url", key="sk-custom-na",
             base_url="https://llm.internal.example/v1/chat/completions", models="internal-chat", group="default",
             status=1, model_mapping="not-json", status_code_mapping='{"429":"500"}'),
        dict(id=8, type=3, name="azure-na", key="azure-na-key", base_url="https://na.openai.azure.com",
             other="2024-10-21", models="gpt-4o-mini", group="vip", status=1, weight=0, priority=5),
        dict(id=9, type=1, name="vip-only", key="sk-na-vip", base_url=openai_base, models="gpt-4o-vip,gpt-unpriced",
             group="vip", status=1, priority=0),
        dict(id=10, type=1, name="na-off", key="sk-na-off", base_url=openai_base, models="gpt-4o-mini",
             group="default", status=2, priority=0),
        dict(id=11, type=41, name="vertex-na", key=vertex_key(openai_base.removesuffix("/v1"), "acme-na"),
             base_url=openai_base.removesuffix("/v1"),
             other='{"default": "us-east5", "gemini-2.5-pro": "europe-west4"}',
             models="gemini-2.5-pro,claude-opus-4-1-20250805", group="default", status=1, priority=0,
             settings='{"vertex_key_type": "json"}'),
    ]
    for c in chans:
        c.setdefault("created_time", now - 60 * DAY)
        info = c.pop("channel_info", None)
        c["channel_info"] = info
    options = [
        ("QuotaPerUnit", "500000"), ("LogConsumeEnabled", "true"),
        ("ModelRatio", json.dumps({"gpt-4o": 1.25, "gpt-4o-mini": 0.075, "gpt-4.1": 1, "deepseek-chat": 0.135,
                                   "claude-sonnet-4-20250514": 1.5, "gemini-2.5-flash": 0.15,
                                   "internal-chat": 0.5, "gpt-4o(3)": 9, "gpt-4o-vip": 1,
                                   "claude-opus-4-1-20250805": 7.5, "tts-1-hd": 15, "gpt-4o-transcribe": 1.25})),
        ("CompletionRatio", ""), ("ModelPrice", json.dumps({"suno_music": 0.1, "kling-v1": 0.35, "dall-e-3": 0.04,
                                                            "tts-1": 0.015})),
        ("CacheRatio", json.dumps({"gpt-4o": 0.5})), ("GroupRatio", json.dumps({"default": 1, "vip": 0.9})),
        ("AutoGroups", '["default","vip"]'), ("general_setting.quota_display_type", "USD"),
        ("UserUsableGroups", json.dumps({"default": "默认分组", "vip": "vip分组", "legacy": "旧分组"})),
        ("SelfUseModeEnabled", "false"),
    ]
    tables = {
        "users": users, "tokens": toks, "channels": chans,
        "options": [{"key": k, "value": v} for k, v in options],
        "abilities": [{"group": "default", "model": "gpt-4o", "channel_id": 1, "enabled": True, "priority": 5,
                       "weight": 10, "tag": "openai"},  # a stale row: channel 99 was deleted, New API answered 503
                      {"group": "default", "model": "gpt-5", "channel_id": 99, "enabled": True, "priority": 0,
                       "weight": 0, "tag": ""}],
        "setups": [{"id": 1, "version": "v0.9.0", "initialized_at": now - 100 * DAY}],
        "redemptions": [
            {"id": 1, "user_id": 1, "key": "a" * 32, "status": 1, "name": "welcome", "quota": 1_000_000,
             "created_time": now - DAY, "redeemed_time": 0, "expired_time": 0},
            {"id": 2, "user_id": 1, "key": "b" * 32, "status": 3, "name": "spent", "quota": 250_000,
             "created_time": now - 9 * DAY, "redeemed_time": now - 8 * DAY, "used_user_id": 2, "expired_time": 0},
            {"id": 3, "user_id": 1, "key": "c" * 32, "status": 2, "name": "revoked", "quota": 5,
             "created_time": now - DAY, "redeemed_time": 0, "expired_time": now + 30 * DAY},
            {"id": 4, "user_id": 1, "key": "d" * 32, "status": 1, "name": "removed", "quota": 5,
             "created_time": now - DAY, "redeemed_time": 0, "deleted_at": deleted},
        ], "tasks": [{"id": 1, "created_at": now, "updated_at": now, "task_id": "task_abc",
                                      "platform": "36", "user_id": 2, "channel_id": 6, "quota": 50_000,
                                      "action": "MUSIC", "status": "IN_PROGRESS", "private_data": {"key": "x"}}],
    }
    return tables, _logs(now, "newapi"), f


def _logs(now: int, kind: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    rnd = random.Random(7)
    names = (["laptop", "ci-bot", "office", "admin-script"] if kind == "oneapi"
             else ["na-laptop", "na-limited", "na-ips"])
    users = {"laptop": (2, "alice"), "ci-bot": (2, "alice"), "office": (2, "alice"), "admin-script": (4, "carol"),
             "na-laptop": (2, "erin"), "na-limited": (2, "erin"), "na-ips": (2, "erin")}
    for i in range(120):
        token = names[i % len(names)]
        uid, uname = users[token]
        rows.append({"user_id": uid, "username": uname, "token_name": token, "type": 2, "model_name": "gpt-4o-mini",
                     "created_at": now - (i % 9) * DAY - rnd.randint(0, 3000), "quota": 150 + i,
                     "prompt_tokens": 1000, "completion_tokens": 500, "channel_id": 1,
                     "content": "模型倍率 0.07，分组倍率 1.00" if kind == "oneapi" else "", "request_id": f"r{i}"})
    failures = (
        [("渠道 gemini 测试失败，错误：status code 429: Resource has been exhausted", 4),
         ("渠道 openai-main 测试失败，错误：Post \"https://api.openai.com/v1/chat/completions\": context "
          "deadline exceeded (Client.Timeout exceeded while awaiting headers)", 1),
         ("渠道 claude 测试失败，错误：bad response status code 503", 3),
         ("渠道 deepseek 测试成功，响应：pong", 5)]
        if kind == "oneapi" else
        [("当前分组 default 下对于模型 gpt-5 无可用渠道 (request id: 202405291234)", 0),
         ("用户额度不足, 剩余额度: $-2.00", 0), ("This token has no access to model gpt-4", 0),
         ("Invalid token", 0), ("bad response status code 429", 1), ("bad response status code 502", 1),
         ("credit balance is too low", 3)])
    if kind == "oneapi":  # type-4 system rows: some carry errors, some are notes
        for content in ("渠道「claude」（#3）已被禁用，原因：bad response status code 401",
                        "新用户注册赠送 $0.20 额度"):
            rows.append({"user_id": 0, "username": "", "type": 4, "content": content, "created_at": now - DAY})
    else:  # OpenAI's "out of credit" comes as a 429; and a message no rule knows
        for content in ('{"error":{"message":"You exceeded your current quota, please check your plan and billing '
                        'details.","type":"insufficient_quota","code":"insufficient_quota"}}',
                        "something nobody has seen before"):
            rows.append({"user_id": 2, "username": "erin", "type": 5, "content": content, "created_at": now - DAY,
                         "other": json.dumps({"status_code": 429 if "quota" in content else 0})})
    for i, (content, channel) in enumerate(failures * 3):
        other = None
        if kind == "newapi":
            other = json.dumps({"status_code": 429 if "429" in content else 0, "error_code": "model_not_found"
                                if "无可用渠道" in content else ""})
        rows.append({"user_id": 2 if kind == "newapi" else 0, "username": "", "token_name": "", "type": 5,
                     "model_name": "", "created_at": now - (i % 4) * DAY, "content": content, "channel_id": channel,
                     **({"other": other} if other else {})})
    rows.append({"user_id": 1, "username": "root", "type": 3, "content": "管理员将用户额度从 $1 修改为 $2",
                 "created_at": now - DAY})
    rows.append({"user_id": 2, "username": "alice", "type": 1, "content": "通过兑换码充值 $1.000000 额度",
                 "created_at": now - 2 * DAY, "quota": 500000})
    return rows


# --- loading ---------------------------------------------------------------------------------


def sibling_url(url: str, database: str) -> str:
    """The same server as ``url`` (a test database URL), another database on it."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def ensure_database(url: str) -> None:
    """Create the database ``url`` names on a PostgreSQL or MariaDB server if it is missing."""
    parsed = make_url(url)
    name = parsed.database
    if parsed.get_backend_name() == "postgresql":
        admin = create_async_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            if not (await conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})).first():
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
    elif parsed.get_backend_name() in ("mysql", "mariadb"):
        admin = create_async_engine(parsed.set(database="mysql"))
        async with admin.begin() as conn:
            await conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4"))
        await admin.dispose()


def _backend_value(value: Any, backend: str, column: Any) -> Any:
    if isinstance(value, dict):
        return json.dumps(value).encode() if backend == "sqlite" else value
    if column is not None and column.name == "deleted_at" and isinstance(value, str) and backend != "sqlite":
        return datetime.fromisoformat(value).astimezone(UTC).replace(tzinfo=None if backend != "postgresql"
                                                                     else UTC)
    return value


async def load_tables(url: str, meta: MetaData, rows: dict[str, list[dict[str, Any]]]) -> None:
    engine = create_async_engine(url)
    backend = engine.url.get_backend_name()
    async with engine.begin() as conn:
        existing = MetaData()
        await conn.run_sync(existing.reflect)  # start from an empty database, whatever a last run left
        await conn.run_sync(existing.drop_all)
        await conn.run_sync(meta.create_all)
        for name, table in meta.tables.items():
            data = rows.get(name) or []
            if not data:
                continue
            cols = {c for r in data for c in r}
            prepared = [{c: _backend_value(r.get(c), backend, table.c.get(c)) for c in cols} for r in data]
            for i in range(0, len(prepared), 5000):
                await conn.execute(table.insert(), prepared[i:i + 5000])
        if backend == "postgresql":  # explicit ids: move the sequences past them, as gorm's would be
            for name, table in meta.tables.items():
                if "id" in table.c and rows.get(name):
                    await conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                            f"(SELECT COALESCE(MAX(id), 1) FROM {name}))"))
    await engine.dispose()


async def build_source(url: str, logs_url: str, kind: str, now: int, openai_base: str = "") -> Facts:
    """Create and fill a One API or New API database at ``url`` with its logs at ``logs_url``."""
    for u in (url, logs_url):
        await ensure_database(u)
    if kind == "oneapi":
        tables, logs, facts = oneapi_rows(now, openai_base)
        meta, logs_meta = oneapi_metadata(), oneapi_logs_metadata()
    else:
        tables, logs, facts = newapi_rows(now, openai_base)
        meta, logs_meta = newapi_metadata(), newapi_logs_metadata()
    await load_tables(url, meta, tables)
    await load_tables(logs_url, logs_meta, {"logs": logs})
    return facts
