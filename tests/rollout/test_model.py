"""Rollout vocabulary without a database: conditions, error classes, selectors, deadlines, request ids."""

from __future__ import annotations

import pytest

from relaygate.core.errors import InvalidInput
from relaygate.services.rollout.model import (
    MOVES,
    Batch,
    Condition,
    OwnerFacts,
    Selector,
    classify,
    duration_seconds,
    ledger_request_id,
    old_user,
    stable_percent,
)
from relaygate.services.rollout.repo import assign


def test_conditions_parse_three_ways_and_round_trip() -> None:
    absolute, delta, ratio = Condition.parse("timeout>5%"), Condition.parse("5xx > +2%"), Condition.parse("401>3x")
    assert (absolute.mode, absolute.value) == ("abs", 0.05) and absolute.text() == "timeout>5%"
    assert (delta.cls, delta.mode, delta.value) == ("5xx", "delta", 0.02) and delta.text() == "5xx>+2%"
    assert (ratio.mode, ratio.value, ratio.text()) == ("ratio", 3.0, "401>3x")
    assert Condition.parse("404>+1%").cls == Condition.parse("mnf>+1%").cls == "model_not_found"
    assert Condition.from_dict(delta.to_dict()) == delta
    assert absolute.tripped(0.051, 0.5) and not absolute.tripped(0.05, 0.0)
    assert delta.tripped(0.031, 0.01) and not delta.tripped(0.03, 0.01)
    assert ratio.tripped(0.031, 0.01) and not ratio.tripped(0.03, 0.01)
    assert ratio.limit(0.0) == pytest.approx(0.01)  # a zero baseline still needs a point more


@pytest.mark.parametrize("bad", ["5xx", "5xx>", "foo>5%", "5xx>+2x", "401>1x", "5xx>101%", "5xx<5%"])
def test_bad_conditions_are_refused_in_both_languages(bad: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        Condition.parse(bad)
    assert exc.value.message("en") and exc.value.message("zh-CN") != exc.value.message("en")


@pytest.mark.parametrize(("status", "code", "cls"), [
    (200, None, None), (401, "invalid_api_key", "401"), (401, "key_expired", "401"), (401, "legacy_http_401", "401"),
    (402, "insufficient_balance", "402"), (403, "model_not_allowed", "403"), (403, "legacy_http_403", "403"),
    (404, "model_not_found", "model_not_found"), (404, "model_unsupported", "model_not_found"),
    (404, "legacy_http_404", "model_not_found"), (404, "not_found", "other"), (429, "rate_limited", "429"),
    (504, "upstream_timeout", "timeout"), (524, "legacy_http_524", "timeout"), (502, "upstream_error", "5xx"),
    (503, "no_healthy_channel", "5xx"), (400, "bad_request", "other"), (499, "client_disconnected", "other"),
])
def test_error_classes(status: int, code: str | None, cls: str | None) -> None:
    assert classify(status, code) == cls


def owner(oid: str, keys: set[str] = frozenset(), envs: set[str] = frozenset()) -> OwnerFacts:  # type: ignore[assignment]
    return OwnerFacts(oid, oid.upper(), frozenset(keys), frozenset(envs))


def test_selectors_name_owners_or_filter_them() -> None:
    tester = owner("own_oa_1", {"k1"}, {"testing"})
    mixed = owner("own_oa_2", {"k2", "k3"}, {"testing", "production"})
    assert Selector(environments=("testing",)).matches(tester)
    assert not Selector(environments=("testing",)).matches(mixed)  # not all of its keys are test keys
    assert Selector(keys=("k3",)).matches(mixed) and Selector(owners=("OWN_OA_2",)).matches(mixed)
    assert Selector(rest=True).matches(mixed) and Selector().empty
    share = sum(Selector(percent=5).matches(owner(f"own_oa_{i}")) for i in range(20000)) / 20000
    assert 0.04 < share < 0.06  # about 5% of owners, and always the same ones
    assert stable_percent("own_oa_7") == stable_percent("own_oa_7")
    assert "5% of owners" in Selector(percent=5).text() and "5% 的负责人" in Selector(percent=5).text("zh-CN")


def batch(bid: int, selector: Selector, state: str = "planned", members: frozenset[str] = frozenset(),
          **kw: object) -> Batch:
    b = Batch(bid, f"b{bid}", bid, None, selector, None, None, kw.get("window"), [], 900, 20, 7,  # type: ignore[arg-type]
              True, state, 0, 0, None, kw.get("first"), None, None, 0)  # type: ignore[arg-type]
    b.members = members
    return b


def test_an_owner_belongs_to_one_batch_and_frozen_members_win() -> None:
    owners = {o: owner(o) for o in ("own_oa_1", "own_oa_2", "own_oa_3")}
    first = batch(1, Selector(owners=("own_oa_1", "own_oa_2")))
    rest = batch(2, Selector(rest=True))
    assert assign([first, rest], owners) == {1: {"own_oa_1", "own_oa_2"}, 2: {"own_oa_3"}}
    frozen = batch(2, Selector(rest=True), "switched", frozenset({"own_oa_2"}))
    assert assign([first, frozen], owners) == {1: {"own_oa_1"}, 2: {"own_oa_2"}}


def test_deadline_is_fixed_or_counted_from_the_first_switch() -> None:
    b = batch(1, Selector(rest=True), window=60_000)
    assert b.deadline() is None and b.rollback_open(10**13)  # not switched yet: nothing to close
    b.first_switched_at = 1_000
    assert b.deadline() == 61_000 and b.rollback_open(61_000) and not b.rollback_open(61_001)
    b.rollback_deadline = 5_000
    assert b.deadline() == 5_000
    assert MOVES["switched"] == {"planned", "rolled_back"} and "completed" not in MOVES["rolled_back"]


def test_small_helpers() -> None:
    assert duration_seconds("15m") == 900 and duration_seconds("2h") == 7200 and duration_seconds("90") == 90
    with pytest.raises(InvalidInput):
        duration_seconds("soon")
    assert old_user("own_oa_42") == ("oa", 42) and old_user("own_9f8e") is None
    rid = ledger_request_id("abcdefgh", 4_294_967_295, 99_999, 99_999)
    assert rid.startswith("imp:abcdefgh:u4294967295:") and len(rid) <= 40
