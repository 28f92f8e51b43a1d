"""Reading the source: DSN forms, detection, read-only access, lenient parsing, real token states."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
from sqlalchemy import text

from relaygate.core.errors import InvalidInput
from relaygate.services.migration.dsn import mask_dsn, plan_dsn, to_url
from relaygate.services.migration.inventory import inspect_source
from relaygate.services.migration.logs import classify
from relaygate.services.migration.parse import json_object, ratio_map
from relaygate.services.migration.records import networks
from relaygate.services.migration.source import Source
from relaygate.services.migration.units import Units
from tests.migration.conftest import Backend
from tests.migration.fixtures import build_source

USD = Units(Fraction(500_000), Fraction(1))


def test_dsn_forms() -> None:
    url = to_url("oneapi:p@ss@tcp(db.internal:3307)/oneapi?charset=utf8mb4&parseTime=True&loc=Local")
    assert (url.drivername, url.host, url.port, url.username, url.password, url.database) == (
        "mysql+aiomysql", "db.internal", 3307, "oneapi", "p@ss", "oneapi")
    assert dict(url.query) == {"charset": "utf8mb4"}  # Go-only parameters dropped
    assert to_url("postgres://u:pw@h/na?sslmode=disable").drivername == "postgresql+asyncpg"
    assert dict(to_url("postgresql://u@h/na?sslmode=require").query) == {"ssl": "require"}
    assert to_url("mysql://u:pw@h/db").drivername == "mysql+aiomysql"
    assert mask_dsn("oneapi:s3cret@tcp(h)/db") == "oneapi:***@tcp(h)/db"
    assert plan_dsn("postgres://u:s3cret@h/db") == "postgres://u:${RELAYGATE_SOURCE_PASSWORD}@h/db"
    with pytest.raises(InvalidInput, match="no such SQLite file"):
        to_url("/nonexistent/one-api.db?_busy_timeout=30000")
    with pytest.raises(InvalidInput, match="unknown scheme"):
        to_url("redis://localhost")


def test_lenient_json_and_lists() -> None:
    assert json_object(None) == ({}, None) and json_object("") == ({}, None) and json_object("{}") == ({}, None)
    assert json_object("{gpt-4: x")[1] is not None and json_object("[1]")[1] is not None
    ratios, problem = ratio_map('{"a": 0.075, "b": "x"}')
    assert str(ratios["a"]) == "0.075" and problem and "b" in problem
    oa = networks("10.0.0.0/8, 192.168.1.7", "oneapi")  # One API never matched a bare address
    assert oa.allowed == ["10.0.0.0/8"] and oa.ignored == ["192.168.1.7"]
    na = networks("127.0.0.1\n10.1.0.0/16\n1.2.3.4,5.6.7.8\n", "newapi")  # New API drops commas in a line
    assert na.allowed == ["127.0.0.1", "10.1.0.0/16"] and na.ignored == ["1.2.3.45.6.7.8"]
    assert networks("", "oneapi").allowed is None and networks(None, "newapi").allowed is None


def test_error_classes() -> None:
    assert classify("当前分组 default 下对于模型 x 无可用渠道 (request id: 20240429500123)") == "no_channel"
    assert classify("bad response status code 502") == "upstream_5xx"
    assert classify("", {"status_code": 429}) == "rate_limited"
    assert classify("context deadline exceeded") == "timeout"
    assert classify("令牌额度不足") == "insufficient_quota"
    assert classify("request id: 20240429") == "other"  # digits inside ids are not status codes


@pytest.mark.parametrize("kind", ["oneapi", "newapi"])
async def test_inventory(backend: Backend, kind: str) -> None:
    now = int(time.time())
    facts = await build_source(backend.src_url, backend.logs_url, kind, now)
    src = await Source.open(backend.src_dsn, backend.logs_dsn)
    try:
        assert src.kind == kind, src.evidence
        inv = await inspect_source(src, USD, now_s=now, limit=0)
        async with src.engine.connect() as conn:  # the source is opened read-only
            with pytest.raises(Exception, match=r"(?i)read.?only"):
                await conn.execute(text("UPDATE tokens SET status = 2"))
    finally:
        await src.close()
    states: dict[str, int] = {}
    for fact in facts.tokens.values():
        states[fact.state] = states.get(fact.state, 0) + 1
    assert inv["tokens"]["by_state"] == states
    views = {t["name"]: t for t in inv["tokens"]["items"]}
    for name, fact in facts.tokens.items():
        assert views[name]["state"] == fact.state, name
        assert views[name]["key"].startswith("sk-") and fact.key not in str(views[name])  # masked
        if fact.models is not None:
            assert views[name]["models"] == fact.models
        if fact.networks is not None:
            assert views[name]["networks"] == fact.networks
    assert inv["tokens"]["status_says_enabled_but_not"] == 2
    assert inv["users"]["negative"] == 1
    assert all(not s.startswith("sk-") or "…" in s for ch in inv["channels"]["items"] for s in ch["secrets"])
    assert inv["source"]["unknown_columns"]  # x_* columns are reported, not read
    assert inv["logs"]["available"] and inv["logs"]["callers"] and inv["logs"]["error_totals"]
    # deleted users are counted the same way in every breakdown: once, as deleted
    users = inv["users"]
    assert users["deleted"] == 1 and users["by_state"]["deleted"] == 1 and users["by_role"]["deleted"] == 1
    assert sum(users["by_state"].values()) == sum(users["by_role"].values()) == users["total"]
    assert sum(g["users"] + g["deleted_users"] for g in inv["groups"]) == users["total"]
    logs = inv["logs"]
    assert logs["rows"] <= logs["rows_total"] and logs["window"]["to"]
    totals = logs["error_totals"]
    assert logs["unclassified"] == totals.get("other", 0) == sum(s["rows"] for s in logs["unclassified_samples"])
    by_type = {row["type"]: row for row in inv["channels"]["by_type"]}
    if kind == "oneapi":
        assert by_type[36]["type_name"] == "DeepSeek" and by_type[14]["relaygate"] == "needs the 'anthropic' adapter"
        assert inv["ratios"]["typed_keys"] == ["gpt-4o(3)"]
        assert {"rate_limited", "timeout", "upstream_5xx", "upstream_auth"} <= set(inv["logs"]["error_totals"])
        assert totals["upstream_auth"] == 1  # the type-4 row of a channel One API disabled on a 401
        assert logs["unclassified"] == 0  # the registration gift (type 4) is a note, not an error
        assert inv["abilities"]["stale"] == 1 and inv["abilities"]["stale_items"][0]["channel_id"] == 99
        assert inv["users"]["balance_total"].startswith("$1000000027.59")
    else:
        assert by_type[43]["type_name"] == "DeepSeek" and by_type[50]["type_name"] == "Kling"
        assert {"no_channel", "insufficient_quota", "model_not_allowed", "invalid_key"} <= set(
            inv["logs"]["error_totals"])
        assert totals["upstream_quota"] == 4  # 3 "credit balance is too low" + OpenAI's 429 insufficient_quota
        assert totals["rate_limited"] == 3  # the 429 with an upstream quota message is not a rate limit
        assert logs["unclassified"] == 1 and logs["unclassified_samples"][0]["message"].startswith("something")
        assert inv["abilities"]["stale"] == 1 and inv["abilities"]["stale_items"][0]["channel_id"] == 99
        assert inv["side_tables"]["tasks"] == 1
