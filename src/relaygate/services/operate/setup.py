"""First start: an admin token, a default group, a first owner and key, and the demo channel."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.errors import InvalidInput
from relaygate.core.settings import Settings
from relaygate.services.operate.accounts import AccountsAdmin
from relaygate.services.operate.pricing import PricingAdmin
from relaygate.services.operate.routing import RoutingAdmin
from relaygate.store import tables as t

DEMO_MODELS = {"demo-chat": "demo-chat", "demo-embedding": "demo-embedding", "demo-image": "demo-image",
               "demo-speech": "demo-speech", "demo-transcribe": "demo-transcribe", "demo-video": "demo-video"}
DEMO_DESCRIPTION = "Built-in demo upstream: deterministic answers, not a real model."


@dataclass(frozen=True)
class FirstRun:
    admin_token: str  # empty when the operator supplied it (RELAYGATE_ADMIN_TOKEN or _FILE): nothing to print
    api_key: str  # empty then too: the operator creates keys with the token they already hold
    key_id: str
    token_source: str = ""  # where a supplied admin token came from


def supplied_admin_token(settings: Settings) -> tuple[str, str] | None:
    """(token, where it came from) when the operator supplies the first admin token; raises InvalidInput if bad."""
    token, source = settings.admin_token.strip(), "RELAYGATE_ADMIN_TOKEN"
    if settings.admin_token_file:
        source = f"RELAYGATE_ADMIN_TOKEN_FILE ({settings.admin_token_file})"
        try:
            token = Path(settings.admin_token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InvalidInput(f"Cannot read the admin token file {settings.admin_token_file}: {exc.strerror}.",
                               f"无法读取管理令牌文件 {settings.admin_token_file}：{exc.strerror}。") from exc
    if not token:
        return None
    if not token.startswith("rga-") or len(token) < 36 or any(c.isspace() for c in token):
        raise InvalidInput(f"The admin token from {source} must start with 'rga-' and have at least 32 more "
                           "characters, without spaces (e.g. from: echo rga-$(openssl rand -hex 24)).",
                           f"来自 {source} 的管理令牌必须以 'rga-' 开头，后面至少 32 个字符，且不含空白"
                           "（例如：echo rga-$(openssl rand -hex 24)）。")
    return token, source


async def first_run(engine: AsyncEngine, settings: Settings, protocols: list[str]) -> FirstRun | None:
    """Seed an empty database; returns the secrets to print once, or None when already set up."""
    supplied = supplied_admin_token(settings)
    async with engine.connect() as conn:
        if (await conn.execute(select(func.count()).select_from(t.admin_tokens))).scalar():
            return None
    accounts = AccountsAdmin(engine)
    routing = RoutingAdmin(engine, protocols)
    await accounts.upsert_group("default", None, "Every model; keys land here unless told otherwise.")
    owner = await accounts.create_owner("admin", "person", note="Created at first start.")
    if settings.demo_upstream:
        await routing.create_channel(
            name="demo", protocol="openai", base_url=f"http://127.0.0.1:{settings.demo_port}/v1",
            secrets=["demo-upstream-secret"], models=dict(DEMO_MODELS), priority=0, weight=1,
            options={"note": DEMO_DESCRIPTION})
        pricing = PricingAdmin(engine, settings.currency)
        for name in DEMO_MODELS:
            await routing.upsert_model(name, description=DEMO_DESCRIPTION)
            await pricing.set_price(name, free=True)
    if supplied is not None:  # a container or unit: print no secret, so none lands in the logs
        await accounts.create_admin_token("first admin token", token=supplied[0])
        return FirstRun("", "", "", supplied[1])
    key, secret = await accounts.create_key("first key", owner["id"], "default", "testing")
    token = await accounts.create_admin_token("first admin token")
    return FirstRun(token, secret, key["id"])
