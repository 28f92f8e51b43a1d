"""Prepare a fresh database (SQLite or PostgreSQL) for the benchmark, through relaygate's own services.

Usage: .venv/bin/python bench/setup_db.py DATABASE_URL [upstream base, default http://127.0.0.1:9100]
[large upstream base, e.g. http://127.0.0.1:9101]. DATABASE_URL is sqlite+aiosqlite:////tmp/x/bench.db
or postgresql+asyncpg://postgres@127.0.0.1:5432/<empty database>. Prints one line, ``KEY=<secret>``,
for bench/run.sh and bench/large.sh to use. With a large upstream (bench/start-mock-big.sh) it adds the
channels of bench/large.sh: 200 KB bodies, 1 MB answers, Claude-Code- and Codex-shaped agent turns.

It creates what a real deployment has on the request path: the 'default' group, an owner, a key, and
two channels pointing at the nginx mock (one per upstream shape). It also creates an admin token so
that ``relaygate serve`` sees an initialised database and skips its first-run seeding (no demo channel).

When the tree has billing (services/operate/pricing.py, services/gateway/balances.py), both models get a price
(gpt-4o-mini's list price) and the owner a large top-up, so every request holds, settles and writes a
ledger entry as in production; a second stdout line, ``BILLING=on``, says so. Serve with
RELAYGATE_BILLING=false to measure without it.
"""

from __future__ import annotations

import asyncio
import os
import sys

from relaygate.core.settings import Settings
from relaygate.providers import protocols
from relaygate.services.operate.accounts import AccountsAdmin
from relaygate.services.operate.routing import RoutingAdmin
from relaygate.store.db import make_engine, upgrade
from relaygate.store.secret_rows import prepare_secrets

LARGE = (  # model, protocol, path on the large mock: bench/large.sh's scenarios
    ("bench-large", "openai", "plain"), ("bench-large-claude-pass", "anthropic", "anthropic"),
    ("bench-large-claude", "openai", "plain"), ("bench-big", "openai", "big"),
    ("bench-bigstream", "openai", "bigstream"), ("bench-agent-pass", "anthropic", "agent"),
    ("bench-agent-xlate", "openai", "agentx"), ("bench-codex", "openai-responses", "codex"),
)


async def setup(url: str, upstream: str, large: str | None = None) -> tuple[str, bool]:
    engine = make_engine(url)
    try:
        await upgrade(engine)
        # channel secrets are sealed: the key file goes where `relaygate serve` looks (beside a SQLite
        # file, else in the data folder), or the environment's key is used
        await prepare_secrets(engine, os.environ.get("RELAYGATE_SECRETS_KEY", ""),
                              os.environ.get("RELAYGATE_SECRETS_KEY_FILE", ""),
                              os.environ.get("RELAYGATE_DATA_DIR", "data"))
        accounts = AccountsAdmin(engine)
        routing = RoutingAdmin(engine, protocols())
        await accounts.upsert_group("default", None)
        owner = await accounts.create_owner("bench", "service", note="benchmark owner")
        # limits far above what one core can reach: every request still takes and returns them. tpm counts
        # answers too: 1 MB answers at ~1,500 req/s are ~0.4 G tokens a second, so 2 G a minute (the old bound,
        # from int4 columns) refused most of big1m with 429 after a few seconds; limit columns are 64-bit now
        _, secret = await accounts.create_key("bench key", owner["id"], "default", "production",
                                              rpm=100_000_000, tpm=10**15, concurrency=100_000)
        for name, path in (("bench-plain", "plain"), ("bench-stream", "stream")):
            await routing.create_channel(name=name, protocol="openai", base_url=f"{upstream}/{path}/v1",
                                         secrets=["sk-upstream"], models={name: "gpt-4o-mini"})
        # Anthropic callers: passed through to an Anthropic upstream, or translated to an OpenAI one
        await routing.create_channel(name="bench-claude-pass", protocol="anthropic",
                                     base_url=f"{upstream}/anthropic/v1", secrets=["sk-upstream"],
                                     models={"bench-claude-pass": "claude-sonnet-4-5"})
        await routing.create_channel(name="bench-claude", protocol="openai", base_url=f"{upstream}/plain/v1",
                                     secrets=["sk-upstream"], models={"bench-claude": "gpt-4o-mini"})
        for model, protocol, path in LARGE if large else ():
            await routing.create_channel(name=model, protocol=protocol, base_url=f"{large}/{path}/v1",
                                         secrets=["sk-upstream"], models={model: model})
        await accounts.create_admin_token("bench admin token")
        billing = await setup_billing(engine, owner["id"])
    finally:
        await engine.dispose()
    return secret, billing


async def setup_billing(engine: object, owner_id: str) -> bool:
    """Prices and a balance, if this relaygate has billing; False when it has none."""
    try:
        from relaygate.core.money import parse_amount
        from relaygate.services.operate.balances import LedgerAdmin
        from relaygate.services.operate.pricing import PricingAdmin
    except ImportError:
        return False
    currency = Settings.from_env().currency
    pricing = PricingAdmin(engine, currency)  # type: ignore[arg-type]
    for model in ("bench-plain", "bench-stream", "bench-claude", "bench-claude-pass", *(m for m, _, _ in LARGE)):
        await pricing.set_price(model, input_per_m="0.15", output_per_m="0.60")
    await LedgerAdmin(engine, currency).record(  # type: ignore[arg-type]
        owner_id, "topup", parse_amount("1000000"), "benchmark balance", "bench/setup_db.py")
    return True


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: setup_db.py DATABASE_URL [UPSTREAM_BASE]")
    upstream = sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:9100"
    large = sys.argv[3].rstrip("/") if len(sys.argv) > 3 else None
    secret, billing = asyncio.run(setup(sys.argv[1], upstream.rstrip("/"), large))
    print(f"KEY={secret}")
    print(f"BILLING={'on' if billing else 'absent'}")


if __name__ == "__main__":
    main()
