"""Portal accounts as services, on real databases: invites (single use, revocable, expiring), sign-up modes,
reset links that die with a password change, self-service keys within the owner's bounds (and the last free
place taken once under real concurrency), and the abuse windows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from relaygate.core.errors import InvalidInput
from relaygate.core.money import parse_amount
from relaygate.core.settings import Settings
from relaygate.services.operate.abuse import RULES, AbuseGuard
from relaygate.services.operate.accounts import AccountsAdmin
from relaygate.services.operate.mail import Mailer
from relaygate.services.operate.operators import SignInRefused
from relaygate.services.operate.portal_accounts import PortalAccounts
from relaygate.services.operate.portal_users import PortalUsers
from relaygate.services.operate.self_keys import SelfKeys
from relaygate.store import tables as t
from relaygate.store.counters_memory import MemoryCounters
from relaygate.store.db import make_engine, upgrade


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[Any]:
    eng = make_engine(sqlite_url)
    await upgrade(eng)
    accounts = AccountsAdmin(eng)
    for owner in ("acme", "bolt"):
        await accounts.create_owner(owner)
    await accounts.upsert_group("default")
    yield eng
    await eng.dispose()


def portal(engine: Any, tmp: Path, **settings: Any) -> PortalAccounts:
    cfg = Settings(database_url="sqlite://", data_dir=str(tmp), **settings)
    return PortalAccounts(engine, cfg, Mailer(cfg))


async def test_an_invite_makes_one_account_of_its_owner_and_then_no_more(engine: Any, tmp_path: Path) -> None:
    accounts = portal(engine, tmp_path)  # sign-up off: invites still work
    made = await accounts.invite(owner="acme", actor="ada", base="https://ai.example.com")
    assert made["link"].startswith("https://ai.example.com/portal/invite/rgi_") and made["uses_left"] == 1
    user = (await accounts.register("ann", "ann-password-1", None, made["token"]))["user"]
    assert user["owner_id"] == (await AccountsAdmin(engine).list_owners())[0]["id"]  # acme
    with pytest.raises(InvalidInput) as used:
        await accounts.register("ann2", "ann-password-1", None, made["token"])
    assert used.value.status == 410
    fixed = await accounts.invite(owner="acme", actor="ada", username="ben", email="ben@example.com")
    with pytest.raises(InvalidInput):
        await accounts.register("notben", "ben-password-1", None, fixed["token"])
    ben = (await accounts.register("ben", "ben-password-1", None, fixed["token"]))["user"]
    assert ben["email"] == "ben@example.com" and ben["email_verified"]  # the link reached that mailbox
    revoked = await accounts.invite(owner="acme", actor="ada")
    await accounts.revoke_invite(revoked["id"])
    with pytest.raises(InvalidInput):
        await accounts.register("cat", "cat-password-1", None, revoked["token"])
    expired = await accounts.invite(owner="acme", actor="ada")
    async with engine.begin() as conn:
        await conn.execute(update(t.portal_tokens).where(t.portal_tokens.c.id == expired["id"]).values(expires_at=1))
    with pytest.raises(InvalidInput):
        await accounts.register("cat", "cat-password-1", None, expired["token"])
    listed = {i["id"]: i["state"] for i in await accounts.invites()}
    assert listed[made["id"]] == "used" and listed[revoked["id"]] == "revoked" and listed[expired["id"]] == "expired"
    assert made["token"] not in str(await accounts.invites()) and "rgi_" not in str(await accounts.invites())


async def test_sign_up_modes(engine: Any, tmp_path: Path) -> None:
    for mode, status in (("off", 403), ("invite", 403)):
        with pytest.raises(InvalidInput) as refused:
            await portal(engine, tmp_path, portal_signup=mode).register("dan", "dan-password-1", None, None)
        assert refused.value.status == status
    invite_only = portal(engine, tmp_path, portal_signup="invite")
    code = await invite_only.invite(owner=None, actor="ada", uses=2)  # a sign-up code for two people
    one = (await invite_only.register("eve", "eve-password-1", None, code["token"]))["user"]
    two = (await invite_only.register("fay", "fay-password-1", None, code["token"]))["user"]
    assert one["owner_id"] != two["owner_id"]  # each its own owner
    with pytest.raises(InvalidInput):
        await invite_only.register("gus", "gus-password-1", None, code["token"])  # two uses, no more
    opened = portal(engine, tmp_path, portal_signup="open", portal_signup_keys=0)
    gil = (await opened.register("gil", "gil-password-1", None, None))["user"]
    assert not (await SelfKeys(engine, "USD").policy(gil["owner_id"]))["self_keys"]
    with pytest.raises(InvalidInput) as taken:
        await opened.register("gil", "gil-password-1", None, None)
    assert taken.value.status == 409
    for bad in ("x", "has space", "a" * 65):
        with pytest.raises(InvalidInput):
            await opened.register(bad, "gil-password-1", None, None)
    with pytest.raises(InvalidInput):
        await opened.register("hal", "short", None, None)


async def test_reset_links_work_once_and_die_with_a_password_change(engine: Any, tmp_path: Path) -> None:
    accounts = portal(engine, tmp_path)
    users = PortalUsers(engine)
    await users.add("ivy", "acme", "ivy-password-1")
    first = await accounts.reset_link("ivy", "ada", "https://ai.example.com")
    second = await accounts.reset_link("ivy", "ada", "https://ai.example.com")
    await accounts.reset_password(second["token"], "ivy-password-2")
    with pytest.raises(InvalidInput):
        await accounts.reset_password(second["token"], "ivy-password-3")  # used
    with pytest.raises(InvalidInput):
        await accounts.reset_password(first["token"], "ivy-password-3")  # ended by the reset
    third = await accounts.reset_link("ivy", "ada", "https://ai.example.com")
    await users.passwd("ivy", "ivy-password-4")  # an operator's change ends open links too
    with pytest.raises(InvalidInput):
        await accounts.reset_password(third["token"], "ivy-password-5")
    with pytest.raises(SignInRefused):
        await users.sign_in("ivy", "ivy-password-2")
    assert (await users.sign_in("ivy", "ivy-password-4")).name == "ivy"
    with pytest.raises(InvalidInput):
        await accounts.reset_password("rgr_" + "x" * 43, "ivy-password-5")  # a guessed token


async def test_own_keys_stay_within_the_owners_bounds(engine: Any) -> None:
    keys = SelfKeys(engine, "USD")
    acme = (await AccountsAdmin(engine).list_owners())[0]["id"]
    bolt = (await AccountsAdmin(engine).list_owners())[1]["id"]
    with pytest.raises(InvalidInput) as off:
        await keys.create(acme, "user:ann", "laptop")
    assert off.value.status == 403  # not allowed until an operator says so
    await keys.set_policy("acme", "ada", self_keys=True, max_keys=2, max_cap_daily="5", max_rpm=60, max_days=30,
                          models=["demo-chat", "demo-image"])
    view, secret = await keys.create(acme, "user:ann", "laptop")
    assert secret.startswith("sk-") and secret not in str(view)
    assert view["caps"]["daily"] == "5" and view["limits"]["rpm"] == 60 and view["expires_at"]  # the bounds
    assert view["allowed_models"] == ["demo-chat", "demo-image"]
    for bad in ({"cap_daily": "6"}, {"rpm": 61}, {"days": 31}, {"models": ["gpt-4o"]}, {"cap_daily": "-1"}):
        with pytest.raises(InvalidInput):
            await keys.create(acme, "user:ann", "too much", **bad)
    small, _ = await keys.create(acme, "user:ann", "ci", cap_daily="1", rpm=10, days=1, models=["demo-chat"])
    assert small["caps"]["daily"] == "1" and small["allowed_models"] == ["demo-chat"]
    with pytest.raises(InvalidInput) as full:
        await keys.create(acme, "user:ann", "third")
    assert full.value.status == 409
    with pytest.raises(InvalidInput) as other:
        await keys.disable(bolt, view["id"], "user:bob")  # another owner's id: not found
    assert other.value.status == 404
    assert not (await keys.disable(acme, view["id"], "user:ann"))["enabled"]
    third, _ = await keys.create(acme, "user:ann", "third")  # a place is free again
    assert third["enabled"]


@pytest.mark.parametrize("attempts", [8])
async def test_the_last_free_place_is_taken_once_under_concurrency(backend_url: str, attempts: int) -> None:
    eng = make_engine(backend_url)
    await upgrade(eng)
    try:
        accounts = AccountsAdmin(eng)
        await accounts.create_owner("race")
        await accounts.upsert_group("default")
        keys = SelfKeys(eng, "USD")
        await keys.set_policy("race", "ada", self_keys=True, max_keys=3)
        owner = (await accounts.list_owners())[0]["id"]
        results = await asyncio.gather(*(keys.create(owner, "user:r", f"k{i}") for i in range(attempts)),
                                       return_exceptions=True)
        made = [r for r in results if not isinstance(r, BaseException)]
        assert len(made) == 3, results
        assert len(await accounts.list_keys("race")) == 3
    finally:
        await eng.dispose()


async def test_abuse_windows_count_and_refuse() -> None:
    guard = AbuseGuard(MemoryCounters())
    limit, _ = RULES["signup"]
    for _ in range(limit):
        assert await guard.take("signup", "10.0.0.1") is None
    assert (await guard.take("signup", "10.0.0.1") or 0) > 0
    assert await guard.take("signup", "10.0.0.2") is None  # per address
    limit, _ = RULES["redeem"]
    for _ in range(limit - 1):
        await guard.failed("redeem", "own_x")
    assert await guard.blocked("redeem", "own_x") is None  # counting failures only, peeking costs nothing
    await guard.failed("redeem", "own_x")
    assert (await guard.blocked("redeem", "own_x") or 0) > 0


async def test_a_low_balance_notice_goes_only_to_the_owners_confirmed_address(engine: Any, tmp_path: Path) -> None:
    from relaygate.services.operate.balance_notices import BalanceNotices

    cfg = Settings(database_url="sqlite://", data_dir=str(tmp_path), smtp_host="127.0.0.1", smtp_from="a@b.example")
    notices = BalanceNotices(engine, cfg, Mailer(cfg))
    owners = {o["name"]: o["id"] for o in await AccountsAdmin(engine).list_owners()}
    await PortalUsers(engine).add("joy", "acme", "joy-password-1", email="joy@example.com")
    await PortalUsers(engine).add("kim", "bolt", "kim-password-1", email="kim@example.com")
    with pytest.raises(InvalidInput):
        await notices.set(owners["acme"], "user:joy", threshold="1", email="kim@example.com", webhook_url=None)
    with pytest.raises(InvalidInput):
        await notices.set(owners["acme"], "user:joy", threshold="0", email="joy@example.com", webhook_url=None)
    view = await notices.set(owners["acme"], "user:joy", threshold="1.5", email="joy@example.com", webhook_url=None)
    assert view["threshold"] == "1.5" and view["state"] == "armed" and view["webhook_secret"].startswith("whsec_")
    assert (await notices.get(owners["bolt"]))["webhook_secret"] != view["webhook_secret"]
    assert not (await notices.set(owners["acme"], "user:joy", threshold=None, email=None, webhook_url=None))["enabled"]
    assert parse_amount("1.5") == 1_500_000_000
