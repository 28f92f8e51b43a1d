"""Resource commands (keys, channels, models, owners, groups, logs, config), registered on the main app."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from relaygate.cli.accounts import groups_app, keys_app, owners_app
    from relaygate.cli.alerts import alerts_app
    from relaygate.cli.billing import balance_app, prices_app
    from relaygate.cli.configfile import config_app
    from relaygate.cli.logs import logs_app
    from relaygate.cli.operators import operators_app, tokens_app
    from relaygate.cli.routing import channels_app, models_app
    from relaygate.cli.secrets import secrets_app
    from relaygate.cli.support import COMMANDS as SUPPORT_COMMANDS  # support diagnose, notices render, stats

    if any(group.name == "owners" for group in app.registered_groups):
        return  # already registered (main() and tests may both call this)
    for name, sub in (("owners", owners_app), ("groups", groups_app), ("keys", keys_app),
                      ("channels", channels_app), ("models", models_app), ("logs", logs_app),
                      ("config", config_app), ("balance", balance_app), ("prices", prices_app),
                      ("migrate", __import__("relaygate.cli.migrate", fromlist=["migrate_app"]).migrate_app),
                      ("alerts", alerts_app), ("secrets", secrets_app), *SUPPORT_COMMANDS,
                      ("media", __import__("relaygate.cli.media", fromlist=["media_app"]).media_app),
                      ("codes", __import__("relaygate.cli.codes", fromlist=["codes_app"]).codes_app),
                      ("operators", operators_app), ("admin-tokens", tokens_app),
                      ("users", __import__("relaygate.cli.users", fromlist=["users_app"]).users_app),
                      ("rollout", __import__("relaygate.cli.rollout", fromlist=["rollout_app"]).rollout_app)):
        app.add_typer(sub, name=name)
