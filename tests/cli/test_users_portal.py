"""`relaygate users invite|invites|invite-revoke|reset-link|policy`: links shown once, listings without them."""

from __future__ import annotations

import re

from tests.cli.conftest import Invoke, JsonRun


def test_invites_reset_links_and_policies_from_the_cli(cli: Invoke, cli_json: JsonRun) -> None:
    cli("owners", "add", "acme")
    cli("users", "add", "ann", "--owner", "acme", "--password", "ann-password-1")
    out = cli("users", "invite", "--owner", "acme", "--base-url", "https://ai.example.com").output
    link = re.search(r"https://ai\.example\.com/portal/invite/rgi_\S+", out)
    assert link, out
    code = cli("users", "invite", "--uses", "5", "--base-url", "https://ai.example.com").output
    assert "rgi_" in code and "5" in code
    listed = cli_json("users", "invites")
    assert len(listed) == 2 and link.group(0).rsplit("/", 1)[1] not in str(listed)
    cli("users", "invite-revoke", listed[0]["id"])
    assert {i["state"] for i in cli_json("users", "invites")} == {"open", "revoked"}
    reset = cli("users", "reset-link", "ann", "--base-url", "https://ai.example.com").output
    assert re.search(r"https://ai\.example\.com/portal/reset/rgr_\S+", reset), reset
    assert "No user" in cli("users", "reset-link", "nobody", ok=False).output
    shown = cli_json("users", "policy", "acme")
    assert shown["self_keys"] is False
    set_ = cli_json("users", "policy", "acme", "--self-keys", "--max-keys", "4", "--max-cap-daily", "2.5")
    assert set_["self_keys"] is True and set_["max_keys"] == 4 and set_["max_cap_daily"] == "2.5"
