"""Roles are enforced on the server: support and viewer get 403 on every money, key, routing, rollout and
operator action, whatever form they send; admins are not refused. Each refusal is in the audit log."""

from __future__ import annotations

import pytest

from tests.console.helpers import Browser, add_operators
from tests.harness import Running, start_fake

# every state-changing console route (path template, form); {owner} {key} {channel} filled in below
ACTIONS = [
    ("/console/balances/{owner}/change", {"kind": "topup", "amount": "100", "reason": "x", "confirmed": "1"}),
    ("/console/balances/{owner}/change", {"kind": "adjustment", "amount": "-5", "reason": "x", "confirmed": "1"}),
    ("/console/channels", {"name": "evil", "base_url": "http://127.0.0.1:9/v1", "secrets": "sk-x",
                           "models": "m"}),
    ("/console/channels/{channel}", {"name": "renamed", "base_url": "http://127.0.0.1:9/v1", "models": "m"}),
    ("/console/channels/{channel}/toggle", {}),
    ("/console/channels/{channel}/test", {}),
    ("/console/channels/test", {}),
    ("/console/models/price", {"model": "m", "input_per_m": "1", "output_per_m": "2", "confirmed": "1"}),
    ("/console/keys", {"name": "k", "owner": "{owner}"}),
    ("/console/keys/{key}/toggle", {}),
    ("/console/keys/{key}/terms", {"cap_total": "1000000", "rpm": "100000"}),
    ("/console/owners", {"name": "intruder"}),
    ("/console/groups", {"name": "default", "models": "m"}),
    ("/console/groups/default/terms", {"multiplier": "0.1", "rpm": "100000", "confirmed": "1"}),
    ("/console/rollout/b1/switch", {"reason": "x", "confirm": "yes"}),
    ("/console/rollout/b1/rollback", {"reason": "x", "confirm": "yes"}),
    ("/console/rollout/b1/complete", {"reason": "x", "confirm": "yes"}),
    ("/console/rollout/guard", {}),
    ("/console/rollout/plan", {"name": "b2", "owners": "{owner}"}),
    ("/console/rollout/disputes", {"owner": "{owner}", "note": "x"}),
    ("/console/rollout/disputes/1/resolve", {"resolution": "x", "confirm": "yes"}),
    ("/console/migration/inventory", {}),
    ("/console/holders/invite", {"owner": "{owner}", "email": "x@example.com"}),
    ("/console/holders/invites/1/revoke", {}),
    ("/console/holders/users/u1/toggle", {}),
    ("/console/holders/policy", {"owner": "{owner}"}),
    ("/console/codes", {"name": "free money", "amount": "100", "count": "5"}),
    ("/console/codes/native_code_1/disable", {}),
    ("/console/team/operators/{op}/toggle", {}),
    ("/console/team/sessions/0123456789abcdef/revoke", {}),
]


OPEN_TO_ALL = ("/console/login", "/console/logout")  # signing in and out
SUPPORT_MAY = [("/console/holders/users/u1/reset-link", {})]  # support work: refused to a viewer only


def test_every_state_changing_console_route_is_in_the_list(gw: Running) -> None:
    """A POST route added without a line above would escape the role check this file makes."""
    from starlette.routing import Route

    from relaygate.web.console.app import build_console_app

    app = build_console_app(gw.gateway).app  # type: ignore[attr-defined]
    posts = [r for r in app.routes if isinstance(r, Route) and "POST" in (r.methods or ())
             and r.path.startswith("/console") and not r.path.startswith(OPEN_TO_ALL)]
    assert posts
    for route in posts:
        assert any(route.path_regex.match(path.split("?")[0]) for path, _ in ACTIONS + SUPPORT_MAY), route.path


@pytest.mark.parametrize("name", ["sam", "vic"])
async def test_support_and_viewer_get_403_on_every_money_and_routing_action(gw: Running, name: str) -> None:
    await add_operators(gw)
    fake = await start_fake()
    gw.fakes.append(fake)
    channel = await gw.add_channel(fake, "c1", ["m"])
    _, key = await gw.add_key("acme")
    owner = (await gw.gateway.accounts.list_owners())[0]["id"]
    from relaygate.services.operate.operators import OperatorsAdmin

    op = (await OperatorsAdmin(gw.gateway.engine).get("ada"))["id"]
    async with Browser(gw) as b:
        await b.sign_in(name)
        assert b.csrf
        for path, form in ACTIONS:
            fill = {"owner": owner, "key": key, "channel": str(channel), "op": op}
            status, _ = await b.post(path.format(**fill), {k: v.format(**fill) for k, v in form.items()})
            assert status == 403, (path, status)
        for path, form in SUPPORT_MAY if name == "vic" else []:
            status, _ = await b.post(path, form)
            assert status == 403, (path, status)
    balance = (await gw.gateway.accounts.list_owners())
    assert balance  # the owner is untouched:
    from relaygate.services.operate.balance_views import balances

    assert (await balances(gw.gateway.engine, "USD", owner))[0]["balance"] == 0
    assert [c["name"] for c in await gw.gateway.routing.list_channels()] == ["c1"]
    assert (await gw.gateway.accounts.get_key(key))["enabled"]
    from relaygate.services.operate.audit import AuditLog

    refused = [r for r in await AuditLog(gw.gateway.engine).search(actor=name, limit=100)
               if r["outcome"] == "refused"]
    assert len(refused) == len(ACTIONS) + (len(SUPPORT_MAY) if name == "vic" else 0)


async def test_admin_may_top_up_and_it_is_audited(gw: Running) -> None:
    await add_operators(gw)
    await gw.add_key("acme")
    owner = (await gw.gateway.accounts.list_owners())[0]["id"]
    async with Browser(gw) as b:
        await b.sign_in("ada")
        status, html = await b.post(f"/console/balances/{owner}/change",
                                    {"kind": "topup", "amount": "7", "reason": "trial credit"})
        assert status == 200 and "$7.00" in html  # the confirmation page, nothing booked yet
        from relaygate.services.operate.balance_views import balances

        assert (await balances(gw.gateway.engine, "USD", owner))[0]["balance"] == 0
        status, html = await b.post(f"/console/balances/{owner}/change",
                                    {"kind": "topup", "amount": "7", "reason": "trial credit", "confirmed": "1"})
        assert status == 200 and "trial credit" in html
    assert (await balances(gw.gateway.engine, "USD", owner))[0]["balance"] == 7_000_000_000
    from relaygate.services.operate.audit import AuditLog

    rows = await AuditLog(gw.gateway.engine).search(action="balance.topup")
    assert rows[0]["actor"] == "ada" and rows[0]["before"] == {"balance": "$0.00"}
    assert rows[0]["after"]["balance"] == "$7.00" and rows[0]["ip"] == "127.0.0.1"


async def test_a_price_is_previewed_as_a_sample_cost_then_saved(gw: Running) -> None:
    await add_operators(gw)
    async with Browser(gw) as b:
        await b.sign_in("ada")
        form = {"model": "gpt-x", "input_per_m": "2", "output_per_m": "8"}
        status, html = await b.post("/console/models/price", form)
        assert status == 200 and "$0.006" in html  # 1000 x $2/1M + 500 x $8/1M
        assert not await gw.gateway.pricing.list_prices()
        status, html = await b.post("/console/models/price", {**form, "confirmed": "1"})
        assert status == 200 and "gpt-x" in html
    assert [p["model"] for p in await gw.gateway.pricing.list_prices()] == ["gpt-x"]


async def test_a_group_multiplier_is_previewed_as_sample_costs_then_saved(gw: Running) -> None:
    """`relaygate groups terms` from the owners page: the sample request's cost per priced model, at the group's
    multiplier now and the new one, before anything is saved."""
    await add_operators(gw)
    await gw.gateway.pricing.set_price("gpt-x", input_per_m="2", output_per_m="8")
    async with Browser(gw) as b:
        await b.sign_in("ada")
        _, page = await b.get("/console/owners")
        assert 'action="/console/groups/default/terms"' in page
        form = {"multiplier": "1.5", "rpm": "120"}
        status, html = await b.post("/console/groups/default/terms", form)
        assert status == 200 and 'data-testid="terms-sample"' in html
        sample = html.split('data-testid="terms-sample"')[1].split("</table>")[0]
        assert "gpt-x" in sample and "$0.006" in sample and "$0.009" in sample  # ×1 now, ×1.5 after
        groups = {g["name"]: g for g in await gw.gateway.accounts.list_groups()}
        assert groups["default"]["multiplier"] in ("1", "1.0")  # nothing saved yet
        status, html = await b.post("/console/groups/default/terms", {**form, "confirmed": "1"})
        assert status == 200
        groups = {g["name"]: g for g in await gw.gateway.accounts.list_groups()}
        assert groups["default"]["multiplier"] == "1.5" and groups["default"]["rpm"] == 120
        status, html = await b.post("/console/groups/default/terms", {"multiplier": "lots"})
        assert status == 400  # the service's words, never a 500
        _, audit = await b.get("/console/audit?action=group.")
        assert "group.terms" in audit


async def test_admin_sets_a_keys_limits_and_caps(gw: Running) -> None:
    await add_operators(gw)
    _, key = await gw.add_key("acme")
    async with Browser(gw) as b:
        await b.sign_in("ada")
        status, html = await b.post(f"/console/keys/{key}/terms", {"rpm": "60", "cap_daily": "5"})
        assert status == 200 and 'value="60"' in html
    view = await gw.gateway.accounts.get_key(key)
    assert view["limits"]["rpm"] == 60 and view["caps"]["daily"] == "5"
