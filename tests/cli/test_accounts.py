"""Owners, groups and keys through the CLI: lifecycle, secrets shown once, JSON output."""

from __future__ import annotations

import json
import re
from datetime import datetime

from relaygate.core.clock import now_ms, parse_future, parse_time
from relaygate.core.keys import key_hash, key_id_for, mask_key

from .conftest import Invoke, JsonRun

SECRET = re.compile(r"sk-[A-Za-z0-9]{48}")
DAY_MS = 86_400_000


def _ms(iso_text: str) -> int:
    return int(datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp() * 1000)


def test_owner_group_key_lifecycle(cli: Invoke, cli_json: JsonRun) -> None:
    assert "Group 'default' saved; models: all." in cli("groups", "add", "default").output
    assert "Owner 'alice' created" in cli("owners", "add", "alice", "--kind", "team",
                                          "--email", "alice@example.com").output
    owners = cli_json("owners", "list")
    assert [(o["name"], o["kind"], o["email"], o["keys"]) for o in owners] == [
        ("alice", "team", "alice@example.com", 0)]

    created = cli("keys", "create", "--name", "ci", "--owner", "alice", "--expires", "30d",
                  "--models", "gpt-a, gpt-b", "--networks", "10.0.0.0/8,1.2.3.4")
    secrets = SECRET.findall(created.output)
    assert len(secrets) == 1
    secret = secrets[0]
    assert len(secret) == 51
    assert secret + "\n" in created.output  # on a line of its own, never wrapped
    assert "it will not be shown again" in created.output

    listed_text = cli("keys", "list").output
    listed_raw = cli("keys", "list", "--json").stdout
    assert secret not in listed_text
    assert secret not in listed_raw
    assert secret[3:20] not in listed_raw
    keys = json.loads(listed_raw)
    assert len(keys) == 1
    key = keys[0]
    assert key["id"] == key_id_for(key_hash(secret))
    assert key["masked"] == mask_key(secret)
    assert (key["owner"], key["group"], key["environment"], key["enabled"]) == (
        "alice", "default", "production", True)
    assert key["allowed_models"] == ["gpt-a", "gpt-b"]
    assert key["allowed_networks"] == ["10.0.0.0/8", "1.2.3.4"]
    assert abs(_ms(key["expires_at"]) - (now_ms() + 30 * DAY_MS)) < 60_000
    assert cli_json("owners", "list")[0]["keys"] == 1
    assert [k["id"] for k in cli_json("keys", "list", "--owner", "alice")] == [key["id"]]
    assert cli_json("keys", "list", "--group", "other") == []

    cli("keys", "disable", key["id"], "--reason", "left the team")
    shown = cli_json("keys", "show", key["id"])
    assert (shown["enabled"], shown["disabled_reason"]) == (False, "left the team")
    cli("keys", "enable", key["masked"])  # the masked form finds the key too
    shown = cli_json("keys", "show", secret)  # and so does the full key
    assert (shown["enabled"], shown["disabled_reason"]) == (True, None)

    updated = cli_json("keys", "update", key["id"], "--env", "testing", "--models", "", "--expires", "never")
    assert (updated["environment"], updated["allowed_models"], updated["expires_at"]) == ("testing", None, None)
    assert updated["allowed_networks"] == ["10.0.0.0/8", "1.2.3.4"]

    refused = cli("owners", "delete", "alice", ok=False)
    assert refused.exit_code == 2
    assert "still holds 1 key" in refused.output

    assert "Deleted key" in cli("keys", "delete", key["id"]).output
    assert cli_json("keys", "list") == []
    cli("owners", "delete", "alice")
    assert cli_json("owners", "list") == []
    cli("groups", "delete", "default")
    assert cli_json("groups", "list") == []


def test_create_json_carries_the_secret_once(cli: Invoke, cli_json: JsonRun) -> None:
    cli("groups", "add", "default")
    cli("owners", "add", "svc", "--kind", "service")
    made = cli_json("keys", "create", "--name", "bot", "--owner", "svc", "--env", "high-cost")
    assert SECRET.fullmatch(made["secret"])
    assert made["environment"] == "high-cost"
    shown = cli("keys", "show", made["id"], "--json").stdout
    assert "secret" not in json.loads(shown)
    assert made["secret"] not in shown


def test_update_without_options_and_unknown_key(cli: Invoke) -> None:
    nothing = cli("keys", "update", "key_000000000000", ok=False)
    assert nothing.exit_code == 2
    assert "Nothing to update" in nothing.output
    missing = cli("keys", "show", "key_000000000000", ok=False)
    assert missing.exit_code == 2
    assert "No key 'key_000000000000'" in missing.output


def test_group_add_is_an_upsert(cli: Invoke, cli_json: JsonRun) -> None:
    cli("groups", "add", "team-a", "--models", "m2,m1,m2", "--description", "first")
    assert [(g["name"], g["models"], g["description"]) for g in cli_json("groups", "list")] == [
        ("team-a", ["m1", "m2"], "first")]
    cli("groups", "add", "team-a")  # no --models: every model
    assert cli_json("groups", "list")[0]["models"] is None
    assert "all" in cli("groups", "list").output


def test_key_needs_an_existing_group_owner_and_a_future_expiry(cli: Invoke) -> None:
    cli("owners", "add", "bob")
    no_group = cli("keys", "create", "--name", "x", "--owner", "bob", ok=False)
    assert no_group.exit_code == 2
    assert "No group 'default'" in no_group.output
    cli("groups", "add", "default")
    no_owner = cli("keys", "create", "--name", "x", "--owner", "nobody", ok=False)
    assert (no_owner.exit_code, "No owner 'nobody'" in no_owner.output) == (2, True)
    past = cli("keys", "create", "--name", "x", "--owner", "bob", "--expires", "2001-01-01", ok=False)
    assert (past.exit_code, "in the past" in past.output) == (2, True)
    bad = cli("keys", "create", "--name", "x", "--owner", "bob", "--expires", "soon", ok=False)
    assert (bad.exit_code, "is not an expiry" in bad.output) == (2, True)
    bad_net = cli("keys", "create", "--name", "x", "--owner", "bob", "--networks", "10.0.0.0/33", ok=False)
    assert bad_net.exit_code == 2
    assert SECRET.search(bad_net.output) is None


def test_parse_future_counts_forward_where_parse_time_counts_back() -> None:
    now = now_ms()
    assert abs(parse_future("30d") - (now + 30 * DAY_MS)) < 5_000
    assert abs(parse_time("30d") - (now - 30 * DAY_MS)) < 5_000
    assert parse_future(" 2h ") > now
    assert parse_future("2030-01-02T03:04:05Z") == parse_time("2030-01-02T03:04:05Z") == 1893553445000
