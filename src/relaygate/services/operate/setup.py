"""First start: an admin token, a default group, a first owner and key, and the demo channel."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

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
    admin_token: str
    api_key: str
    key_id: str


async def first_run(engine: AsyncEngine, settings: Settings, protocols: list[str]) -> FirstRun | None:
    """Seed an empty database; returns the secrets to print once, or None when already set up."""
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
    key, secret = await accounts.create_key("first key", owner["id"], "default", "testing")
    token = await accounts.create_admin_token("first admin token")
    return FirstRun(token, secret, key["id"])
