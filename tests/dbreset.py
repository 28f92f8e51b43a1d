"""Drop every table of a test database so each test starts from an empty schema."""

from __future__ import annotations

from sqlalchemy import MetaData

from relaygate.store.db import make_engine


async def reset_database(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            meta = MetaData()
            await conn.run_sync(meta.reflect)
            await conn.run_sync(meta.drop_all)
    finally:
        await engine.dispose()
