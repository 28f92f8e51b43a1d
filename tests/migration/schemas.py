"""One API and New API tables as their gorm models create them (column names and types per backend).

Sources: songquanpeng/one-api model/*.go at 8df4a26 and QuantumNous/new-api model/*.go at 4ca47ee2,
as summarised in oneapi-newapi.md. A few columns neither project has (``x_*``) stand for the columns a
newer release adds, which the importer must ignore.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import mysql, postgresql

Id = BigInteger().with_variant(Integer, "sqlite")
Idx = String(191)  # gorm gives indexed strings varchar(191) on MySQL
Blob = JSON().with_variant(LargeBinary(), "sqlite")  # New API's json columns are BLOBs on SQLite
SoftDelete = DateTime(timezone=True).with_variant(Text(), "sqlite").with_variant(mysql.DATETIME(fsp=3), "mysql")
Uint = BigInteger().with_variant(mysql.BIGINT(unsigned=True), "mysql")
Dbl = Float().with_variant(postgresql.DOUBLE_PRECISION(), "postgresql").with_variant(mysql.DOUBLE(), "mysql")


def oneapi_metadata() -> MetaData:
    m = MetaData()
    Table("users", m,
          Column("id", Id, primary_key=True, autoincrement=True), Column("username", Idx, unique=True, index=True),
          Column("password", Text, nullable=False), Column("display_name", Idx, index=True),
          Column("role", BigInteger, server_default="1"), Column("status", BigInteger, server_default="1"),
          Column("email", Idx, index=True), Column("github_id", Idx, index=True),
          Column("wechat_id", Idx, index=True), Column("lark_id", Idx, index=True), Column("oidc_id", Idx, index=True),
          Column("access_token", String(32).with_variant(mysql.CHAR(32), "mysql").with_variant(
              postgresql.CHAR(32), "postgresql"), unique=True),
          Column("quota", BigInteger, server_default="0"), Column("used_quota", BigInteger, server_default="0"),
          Column("request_count", BigInteger, server_default="0"),
          Column("group", String(32), server_default="default"), Column("aff_code", String(32), unique=True),
          Column("inviter_id", BigInteger, index=True), Column("x_department", Idx))
    Table("tokens", m,
          Column("id", Id, primary_key=True, autoincrement=True), Column("user_id", BigInteger),
          Column("key", String(48).with_variant(mysql.CHAR(48), "mysql").with_variant(postgresql.CHAR(48),
                                                                                      "postgresql"), unique=True),
          Column("status", BigInteger, server_default="1"), Column("name", Idx, index=True),
          Column("created_time", BigInteger), Column("accessed_time", BigInteger),
          Column("expired_time", BigInteger, server_default="-1"),
          Column("remain_quota", BigInteger, server_default="0"),
          Column("unlimited_quota", Boolean, server_default="0"), Column("used_quota", BigInteger, server_default="0"),
          Column("models", Text), Column("subnet", Text), Column("x_rate_limit", BigInteger))
    Table("channels", m,
          Column("id", Id, primary_key=True, autoincrement=True), Column("type", BigInteger, server_default="0"),
          Column("key", Text), Column("status", BigInteger, server_default="1"), Column("name", Idx, index=True),
          Column("weight", Uint, server_default="0"), Column("created_time", BigInteger),
          Column("test_time", BigInteger), Column("response_time", BigInteger), Column("base_url", Text),
          Column("other", Text), Column("balance", Dbl), Column("balance_updated_time", BigInteger),
          Column("models", Text), Column("group", String(32), server_default="default"),
          Column("used_quota", BigInteger, server_default="0"), Column("model_mapping", String(1024)),
          Column("priority", BigInteger, server_default="0"), Column("config", Text), Column("system_prompt", Text))
    Table("abilities", m,
          Column("group", String(32), primary_key=True), Column("model", Idx, primary_key=True),
          Column("channel_id", BigInteger, primary_key=True, index=True), Column("enabled", Boolean),
          Column("priority", BigInteger, server_default="0", index=True))
    Table("options", m, Column("key", Idx, primary_key=True), Column("value", Text))
    Table("redemptions", m,
          Column("id", Id, primary_key=True, autoincrement=True), Column("user_id", BigInteger),
          Column("key", String(32), unique=True), Column("status", BigInteger, server_default="1"),
          Column("name", Idx, index=True), Column("quota", BigInteger, server_default="100"),
          Column("created_time", BigInteger), Column("redeemed_time", BigInteger))
    return m


def oneapi_logs_metadata() -> MetaData:
    m = MetaData()
    Table("logs", m,
          Column("id", Id, primary_key=True, autoincrement=True), Column("user_id", BigInteger, index=True),
          Column("created_at", BigInteger, index=True), Column("type", BigInteger, index=True),
          Column("content", Text), Column("username", Idx, server_default="", index=True),
          Column("token_name", Idx, server_default="", index=True),
          Column("model_name", Idx, server_default="", index=True), Column("quota", BigInteger, server_default="0"),
          Column("prompt_tokens", BigInteger, server_default="0"),
          Column("completion_tokens", BigInteger, server_default="0"), Column("channel_id", BigInteger, index=True),
          Column("request_id", Idx, server_default=""), Column("elapsed_time", BigInteger, server_default="0"),
          Column("is_stream", Boolean, server_default="0"), Column("system_prompt_reset", Boolean, server_default="0"))
    return m


def newapi_metadata() -> MetaData:
    m = MetaData()
    Table("users", m,
          Column("id", Id, primary_key=True, autoincrement=True), Column("username", Idx, unique=True, index=True),
          Column("password", Text, nullable=False), Column("display_name", Idx, index=True),
          Column("role", BigInteger, server_default="1"), Column("status", BigInteger, server_default="1"),
          Column("email", Idx, index=True), Column("github_id", Idx, index=True),
          Column("discord_id", Idx, index=True), Column("oidc_id", Idx, index=True),
          Column("wechat_id", Idx, index=True), Column("telegram_id", Idx, index=True),
          Column("linux_do_id", Idx, index=True),
          Column("access_token", String(32).with_variant(mysql.CHAR(32), "mysql").with_variant(
              postgresql.CHAR(32), "postgresql"), unique=True, nullable=True),
          Column("quota", BigInteger, server_default="0"), Column("used_quota", BigInteger, server_default="0"),
          Column("request_count", BigInteger, server_default="0"),
          Column("group", String(64), server_default="default"), Column("aff_code", String(32), unique=True),
          Column("aff_count", BigInteger, server_default="0"), Column("aff_quota", BigInteger, server_default="0"),
          Column("aff_history", BigInteger, server_default="0"), Column("inviter_id", BigInteger, index=True),
          Column("deleted_at", SoftDelete, index=True), Column("setting", Text), Column("remark", String(255)),
          Column("stripe_customer", String(64)), Column("created_at", BigInteger),
          Column("last_login_at", BigInteger), Column("x_org_id", BigInteger))
    Table("tokens", m,
          Column("id", Id, primary_key=True, autoincrement=True), Column("user_id", BigInteger, index=True),
          Column("key", String(128), unique=True), Column("status", BigInteger, server_default="1"),
          Column("name", Idx, index=True), Column("created_time", BigInteger), Column("accessed_time", BigInteger),
          Column("expired_time", BigInteger, server_default="-1"),
          Column("remain_quota", BigInteger, server_default="0"),
          Column("unlimited_quota", Boolean, server_default="0"),
          Column("model_limits_enabled", Boolean, server_default="0"), Column("model_limits", Text),
          Column("allow_ips", Text), Column("used_quota", BigInteger, server_default="0"),
          Column("group", Idx, server_default=""), Column("cross_group_retry", Boolean, server_default="0"),
          Column("deleted_at", SoftDelete, index=True), Column("x_scope", String(32)))
    Table("channels", m,
          Column("id", Id, primary_key=True, autoincrement=True), Column("type", BigInteger, server_default="0"),
          Column("key", Text, nullable=False), Column("open_ai_organization", Text), Column("test_model", Text),
          Column("status", BigInteger, server_default="1"), Column("name", Idx, index=True),
          Column("weight", Uint, server_default="0"), Column("created_time", BigInteger),
          Column("test_time", BigInteger), Column("response_time", BigInteger), Column("base_url", Text),
          Column("other", Text), Column("balance", Dbl), Column("balance_updated_time", BigInteger),
          Column("models", Text), Column("group", String(64), server_default="default"),
          Column("used_quota", BigInteger, server_default="0"), Column("model_mapping", Text),
          Column("status_code_mapping", String(1024), server_default=""),
          Column("priority", BigInteger, server_default="0"), Column("auto_ban", BigInteger, server_default="1"),
          Column("other_info", Text), Column("tag", Idx, index=True), Column("setting", Text),
          Column("param_override", Text), Column("header_override", Text), Column("remark", String(255)),
          Column("channel_info", Blob), Column("settings", Text), Column("x_region", String(32)))
    Table("abilities", m,
          Column("group", String(64), primary_key=True), Column("model", String(255), primary_key=True),
          Column("channel_id", BigInteger, primary_key=True, index=True), Column("enabled", Boolean),
          Column("priority", BigInteger, server_default="0", index=True),
          Column("weight", BigInteger, server_default="0", index=True), Column("tag", Idx, index=True))
    Table("options", m, Column("key", Idx, primary_key=True), Column("value", Text))
    Table("redemptions", m,
          Column("id", Id, primary_key=True, autoincrement=True), Column("user_id", BigInteger),
          Column("key", String(32), unique=True), Column("status", BigInteger, server_default="1"),
          Column("name", Idx, index=True), Column("quota", BigInteger, server_default="100"),
          Column("created_time", BigInteger), Column("redeemed_time", BigInteger),
          Column("used_user_id", BigInteger), Column("deleted_at", SoftDelete, index=True),
          Column("expired_time", BigInteger))
    Table("setups", m, Column("id", Id, primary_key=True, autoincrement=True), Column("version", String(50)),
          Column("initialized_at", BigInteger))
    Table("tasks", m,
          Column("id", Id, primary_key=True, autoincrement=True), Column("created_at", BigInteger),
          Column("updated_at", BigInteger), Column("task_id", String(191), index=True),
          Column("platform", String(30)), Column("user_id", BigInteger), Column("group", String(50)),
          Column("channel_id", BigInteger), Column("quota", BigInteger), Column("action", String(40)),
          Column("status", String(20)), Column("fail_reason", Text), Column("submit_time", BigInteger),
          Column("start_time", BigInteger), Column("finish_time", BigInteger), Column("progress", String(20)),
          Column("properties", Blob), Column("private_data", Blob), Column("data", Blob))
    return m


def newapi_logs_metadata() -> MetaData:
    m = MetaData()
    Table("logs", m,
          Column("id", Id, primary_key=True, autoincrement=True), Column("user_id", BigInteger, index=True),
          Column("created_at", BigInteger, index=True), Column("type", BigInteger, index=True),
          Column("content", Text), Column("username", Idx, server_default="", index=True),
          Column("token_name", Idx, server_default="", index=True),
          Column("model_name", Idx, server_default="", index=True), Column("quota", BigInteger, server_default="0"),
          Column("prompt_tokens", BigInteger, server_default="0"),
          Column("completion_tokens", BigInteger, server_default="0"),
          Column("use_time", BigInteger, server_default="0"),
          Column("is_stream", Boolean, server_default="0"), Column("channel_id", BigInteger, index=True),
          Column("token_id", BigInteger, server_default="0", index=True), Column("group", Idx, index=True),
          Column("ip", Idx, index=True), Column("request_id", String(64), index=True),
          Column("upstream_request_id", String(128)), Column("other", Text))
    return m
