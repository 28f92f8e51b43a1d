"""The operator's self-service key policy form (console, Key holders): an empty field clears that bound (stored as
no bound, never refused, never 0), the form opened for an owner shows that owner's bounds so saving it keeps
the ones left alone, and a key holder of a cleared owner then gets a key without that bound. The API's null
clears the same way."""

from __future__ import annotations

import re

from relaygate.store import tables as t
from tests.console.helpers import Browser, add_operators
from tests.harness import Running

FULL = {"self_keys": "1", "max_keys": "3", "group": "", "models": "demo-a,demo-b", "max_cap_total": "50",
        "max_cap_daily": "2", "max_cap_monthly": "20", "max_rpm": "60", "max_tpm": "10000", "max_concurrency": "4",
        "max_days": "30"}
BOUNDS = ("max_keys", "models", "max_cap_total", "max_cap_daily", "max_cap_monthly", "max_rpm", "max_tpm",
          "max_concurrency", "max_days")


async def _row(gw: Running, owner_id: str) -> dict[str, object]:
    from sqlalchemy import select

    async with gw.gateway.engine.connect() as conn:
        row = (await conn.execute(select(t.owner_portal).where(t.owner_portal.c.owner_id == owner_id))).one()
    return dict(row._mapping)


def _field(html: str, name: str) -> str:
    form = html.split('data-testid="policy-form"', 1)[1].split("</form>", 1)[0]
    found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', form)
    return found.group(1) if found else ""


async def test_an_empty_field_clears_its_bound_and_the_form_keeps_the_others(gw: Running) -> None:
    await add_operators(gw)
    owner = await gw.gateway.accounts.create_owner("policy team")
    owner_id = owner["id"]
    async with Browser(gw) as ada:
        assert (await ada.sign_in("ada")).status == 200
        status, _ = await ada.post("/console/holders/policy", {"owner": owner_id, **FULL}, allow_redirects=False)
        assert status == 303
        row = await _row(gw, owner_id)
        assert row["max_keys"] == 3 and row["max_rpm"] == 60 and row["max_days"] == 30 and row["max_cap_daily"]

        # opened for this owner, the form shows its bounds: saving it unchanged keeps every one
        status, html = await ada.get(f"/console/holders?policy={owner_id}")
        assert status == 200
        shown = {name: _field(html, name) for name in FULL if name not in ("self_keys", "group")}
        assert shown == {name: FULL[name] for name in shown}, shown
        assert f'value="{owner_id}" selected' in html
        status, _ = await ada.post("/console/holders/policy", {"owner": owner_id, **FULL, **shown},
                                   allow_redirects=False)
        assert status == 303 and await _row(gw, owner_id) == row | {"updated_at": (await _row(gw, owner_id))[
            "updated_at"]}

        # one field emptied: only that bound goes (None, not 0), the others stay
        status, _ = await ada.post("/console/holders/policy", {"owner": owner_id, **FULL, "max_rpm": ""},
                                   allow_redirects=False)
        assert status == 303
        after = await _row(gw, owner_id)
        assert after["max_rpm"] is None and after["max_keys"] == 3 and after["max_cap_daily"] == row["max_cap_daily"]

        # every field emptied (what a browser sends for empty inputs): every bound cleared, nothing refused
        status, _ = await ada.post("/console/holders/policy", {"owner": owner_id, "self_keys": "1",
                                                               **{name: "" for name in FULL if name != "self_keys"}},
                                   allow_redirects=False)
        assert status == 303
        cleared = await _row(gw, owner_id)
        assert all(cleared[name] is None for name in BOUNDS), cleared
        assert cleared["self_keys"] is True or cleared["self_keys"] == 1
        status, html = await ada.get(f"/console/holders?policy={owner_id}")
        assert all(_field(html, name) == "" for name in BOUNDS)

        # a zero is refused with a message, not stored
        status, html = await ada.post("/console/holders/policy", {"owner": owner_id, "self_keys": "1",
                                                                  "max_keys": "0"})
        assert status == 400 and "max_keys" in html
        assert (await _row(gw, owner_id))["max_keys"] is None

    # the key holder now gets a key with no bound at all (a stored 0 would refuse it or cap it at zero)
    secret, _ = await gw.add_key(owner_id, name="first")
    async with Browser(gw) as s:
        async with s.session.post(gw.root + "/api/user/keys", json={"name": "second"},
                                  headers={"Authorization": f"Bearer {secret}"}) as resp:
            made = await resp.json()
            assert resp.status == 201, made
        assert all(v is None for v in made["caps"].values()) and all(v is None for v in made["limits"].values())
        assert made["expires_at"] is None

    # the API: null (and an empty amount) clears, like the form
    auth = {"Authorization": f"Bearer {gw.admin_token}"}
    async with Browser(gw) as s:
        async with s.session.put(gw.root + f"/api/owners/{owner_id}/portal", headers=auth,
                                 json={"max_keys": 5, "max_rpm": 10, "max_cap_daily": "3"}) as resp:
            assert resp.status == 200
        async with s.session.put(gw.root + f"/api/owners/{owner_id}/portal", headers=auth,
                                 json={"max_keys": None, "max_cap_daily": ""}) as resp:
            view = await resp.json()
            assert resp.status == 200, view
        assert view["max_keys"] is None and view["max_cap_daily"] is None and view["max_rpm"] == 10
