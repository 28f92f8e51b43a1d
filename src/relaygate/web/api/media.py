"""Admin REST API for media: per-unit prices and a task's support view."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Query
from pydantic import BaseModel, Field

from relaygate.app import Gateway
from relaygate.core.errors import InvalidInput
from relaygate.services.operate.media import KeyCallbacks, MediaPricing


class KeyCallbackIn(BaseModel):
    url: str = Field(description="http(s) URL every video task of this key reports its end to, signed, unless the "
                                 "submit gives its own callback_url. Private and loopback addresses are refused "
                                 "unless allow-listed (RELAYGATE_MEDIA_ALLOW_HOSTS).")


class MediaPriceIn(BaseModel):
    model: str = Field(description="Public model name.")
    unit: str = Field(description="image, second, mchars (per 1M characters), mtokens (per 1M output tokens) or call.")
    amount: str = Field(description="Price per unit as a decimal string in the deployment's currency.")
    variant: str = Field("*", description="Images: SIZE/QUALITY or SIZE; seconds: a size or resolution; * otherwise.")


def add_media_routes(app: FastAPI, gw: Gateway, auth: list[Any]) -> None:
    pricing = MediaPricing(gw.engine, gw.settings.currency)

    @app.get("/api/media/prices", dependencies=auth, tags=["media"])
    async def list_media_prices() -> list[dict[str, Any]]:
        return await pricing.list_prices()

    @app.put("/api/media/prices", dependencies=auth, tags=["media"])
    async def put_media_price(body: MediaPriceIn) -> dict[str, Any]:
        return await pricing.set_price(body.model, body.unit, body.amount, body.variant)

    @app.delete("/api/media/prices/{model:path}", dependencies=auth, tags=["media"])
    async def delete_media_price(model: str, unit: str | None = Query(None),
                                 variant: str | None = Query(None)) -> dict[str, Any]:
        return {"deleted": await pricing.delete_price(model, unit, variant)}

    callbacks = KeyCallbacks(gw.engine, gw.settings.media_allow_hosts)

    @app.get("/api/media/keys/{key}/callback", dependencies=auth, tags=["media"])
    async def get_key_callback(key: str) -> dict[str, Any]:
        return await callbacks.get(key)

    @app.put("/api/media/keys/{key}/callback", dependencies=auth, tags=["media"])
    async def put_key_callback(key: str, body: KeyCallbackIn) -> dict[str, Any]:
        return await callbacks.set(key, body.url, "api")

    @app.delete("/api/media/keys/{key}/callback", dependencies=auth, tags=["media"])
    async def delete_key_callback(key: str) -> dict[str, Any]:
        return await callbacks.clear(key)

    @app.get("/api/media/tasks/{task_id}", dependencies=auth, tags=["media"])
    async def media_task(task_id: str) -> dict[str, Any]:
        view = await pricing.task(task_id)
        if view is None:
            raise InvalidInput(f"No media task '{task_id}'.", f"找不到媒体任务 '{task_id}'。", status=404)
        return view
