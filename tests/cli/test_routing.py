"""Channels and models through the CLI: secrets stay masked, health is shown, retired models need a replacement."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from relaygate.core.clock import now_ms
from relaygate.core.keys import mask_secret
from relaygate.providers.vendors import VENDORS
from relaygate.store import tables as t

from .conftest import Invoke, JsonRun

UPSTREAM_SECRET = "sk-upstream-secret-abcdef123456"
OTHER_SECRET = "sk-second-upstream-zyxwvu987654"


def _add_channel(cli: Invoke, *extra: str) -> str:
    return cli("channels", "add", "--name", "main", "--base-url", "https://up.example.com/v1/",
               "--secret", UPSTREAM_SECRET, "--secret", OTHER_SECRET,
               "--models", "chat=up-chat, embed", "--priority", "5", *extra).output


def test_channel_add_list_show_mask_secrets(cli: Invoke, cli_json: JsonRun) -> None:
    outputs = [_add_channel(cli, "--groups", "b,a", "--total-timeout", "120")]
    outputs += [cli("channels", "list").output, cli("channels", "show", "main").output,
                cli("channels", "health").output]
    channels = cli_json("channels", "list")
    shown = cli_json("channels", "show", "1")
    outputs += [str(channels), str(shown), str(cli_json("channels", "health"))]
    for text in outputs:
        assert UPSTREAM_SECRET not in text
        assert OTHER_SECRET not in text
        assert "abcdef123456" not in text
    assert len(channels) == 1
    channel = channels[0]
    assert channel == shown
    assert channel["secrets"] == [mask_secret(UPSTREAM_SECRET), mask_secret(OTHER_SECRET)] == [
        "sk-…3456", "sk-…7654"]
    assert channel["models"] == {"chat": "up-chat", "embed": "embed"}
    assert channel["base_url"] == "https://up.example.com/v1"
    assert (channel["protocol"], channel["priority"], channel["weight"]) == ("openai", 5, 1)
    assert channel["groups"] == ["a", "b"]
    assert channel["timeouts"] == {"connect": 10.0, "first_byte": 60.0, "total": 120.0}
    assert channel["health"]["state"] == "healthy"


def test_vendor_fills_base_url(cli: Invoke, cli_json: JsonRun) -> None:
    cli("channels", "add", "--name", "ds", "--vendor", "deepseek", "--secret", "k-123456789012",
        "--models", "deepseek-chat")
    assert cli_json("channels", "show", "ds")["base_url"] == VENDORS["deepseek"][1]
    unknown = cli("channels", "add", "--name", "x", "--vendor", "nope", "--secret", "k", "--models", "m",
                  ok=False)
    assert unknown.exit_code == 2
    assert "Unknown vendor 'nope'" in unknown.output
    no_secret = cli("channels", "add", "--name", "y", "--vendor", "groq", "--models", "m", ok=False)
    assert (no_secret.exit_code, "needs 'secrets'" in no_secret.output) == (2, True)


def test_channel_disable_enable_update_delete(cli: Invoke, cli_json: JsonRun) -> None:
    _add_channel(cli)
    needs_reason = cli("channels", "disable", "main", ok=False)
    assert needs_reason.exit_code == 2
    assert "--reason" in needs_reason.output
    cli("channels", "disable", "main", "--reason", "quota exhausted")
    channel = cli_json("channels", "list")[0]
    assert (channel["enabled"], channel["disabled_reason"]) == (False, "quota exhausted")
    assert "quota exhausted" in cli("channels", "list").output
    cli("channels", "enable", "1")
    channel = cli_json("channels", "list")[0]
    assert (channel["enabled"], channel["disabled_reason"]) == (True, None)

    assert cli("channels", "update", "main", ok=False).exit_code == 2
    updated = cli_json("channels", "update", "main", "--weight", "3", "--secret", "sk-replaced-000011112222")
    assert updated["weight"] == 3
    assert updated["secrets"] == ["sk-…2222"]
    assert updated["models"] == {"chat": "up-chat", "embed": "embed"}  # untouched
    bad = cli("channels", "update", "main", "--base-url", "ftp://nowhere", ok=False)
    assert (bad.exit_code, "must be http(s)" in bad.output) == (2, True)

    cli("channels", "delete", "main")
    assert cli_json("channels", "list") == []
    assert cli("channels", "show", "main", ok=False).exit_code == 2


def test_health_comes_from_the_channel_health_table(cli: Invoke, cli_json: JsonRun, sync_db: Engine) -> None:
    _add_channel(cli)
    until = now_ms() + 60_000
    with sync_db.begin() as conn:
        conn.execute(t.channel_health.insert().values(channel_id=1, state="cooling", reason="HTTP 502",
                                                      consecutive_failures=4, cooldown_until=until,
                                                      updated_at=now_ms()))
    health = cli_json("channels", "health")
    assert len(health) == 1
    assert (health[0]["name"], health[0]["state"], health[0]["reason"], health[0]["consecutive_failures"]) == (
        "main", "cooling", "HTTP 502", 4)
    assert health[0]["cooldown_until"] is not None
    listed = cli("channels", "list").output
    assert "cooling" in listed
    assert "HTTP 502" in listed
    cli("channels", "enable", "main")  # enabling resets the health record
    assert cli_json("channels", "health")[0]["state"] == "healthy"


def test_models_unsupported_requires_replacement(cli: Invoke, cli_json: JsonRun) -> None:
    cli("models", "add", "old-chat", "--alias", "oc", "--alias", "old", "--description", "legacy")
    missing = cli("models", "unsupported", "old-chat", ok=False)
    assert missing.exit_code == 2
    assert "needs a replacement" in missing.output
    assert cli_json("models", "list")[0]["status"] == "active"

    assert "use 'new-chat'" in cli("models", "unsupported", "old-chat", "--replacement", "new-chat").output
    model = cli_json("models", "list")[0]
    assert (model["name"], model["status"], model["replacement"]) == ("old-chat", "unsupported", "new-chat")
    assert (model["aliases"], model["description"]) == (["oc", "old"], "legacy")  # kept

    taken = cli("models", "add", "other", "--alias", "oc", ok=False)
    assert (taken.exit_code, "already the name or an alias" in taken.output) == (2, True)
    cli("models", "delete", "old-chat")
    assert cli_json("models", "list") == []
    assert cli("models", "delete", "old-chat", ok=False).exit_code == 2


def test_models_list_shows_channels_serving_them(cli: Invoke, cli_json: JsonRun) -> None:
    _add_channel(cli)
    models = {m["name"]: m for m in cli_json("models", "list")}
    assert set(models) == {"chat", "embed"}
    assert models["chat"]["channels"] == ["main"]
