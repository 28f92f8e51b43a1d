"""The first admin token from RELAYGATE_ADMIN_TOKEN(_FILE): stored as a hash, nothing secret returned to print."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaygate.core.errors import InvalidInput
from relaygate.core.keys import hash_secret
from relaygate.core.settings import Settings
from relaygate.services.operate.accounts import AccountsAdmin
from relaygate.services.operate.setup import first_run
from relaygate.store.db import make_engine, upgrade

TOKEN = "rga-" + "a1b2c3d4" * 6


@pytest.mark.parametrize("how", ["env", "file"])
async def test_supplied_token_is_used_and_nothing_is_printed(tmp_path: Path, how: str) -> None:
    (tmp_path / "tok").write_text(TOKEN + "\n")
    extra = {"admin_token": TOKEN} if how == "env" else {"admin_token_file": str(tmp_path / "tok")}
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/db.sqlite", demo_upstream=False, **extra)
    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
        done = await first_run(engine, settings, ["openai"])
        assert done is not None and done.admin_token == "" and done.api_key == ""
        assert "RELAYGATE_ADMIN_TOKEN" in done.token_source
        assert await AccountsAdmin(engine).admin_token_hashes() == {hash_secret(TOKEN)}
        assert await first_run(engine, settings, ["openai"]) is None  # once only
    finally:
        await engine.dispose()


@pytest.mark.parametrize("bad", ["short", "rga-short", "rga-" + "x" * 40 + " y"])
async def test_a_weak_or_malformed_token_is_refused_before_anything_is_written(tmp_path: Path, bad: str) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/db.sqlite", demo_upstream=False,
                        admin_token=bad)
    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
        with pytest.raises(InvalidInput) as info:
            await first_run(engine, settings, ["openai"])
        assert "rga-" in info.value.message("en") and "rga-" in info.value.message("zh-CN")
        assert await AccountsAdmin(engine).list_owners() == []
    finally:
        await engine.dispose()
