"""Notices as the console previews them: the plan comes from what relaygate already knows, not from a file.

The mapping is the last applied migration plan's (with its ``notice:`` section, if the operator wrote
one), the old base URL is the rollout's old entry, the dates are the first batch's. ``relaygate notices
render --plan FILE`` stays the way to publish with hand-written dates and contacts; both render the
same templates with ``render_notices``.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.settings import Settings
from relaygate.services.notices.clients import EMAIL_CLIENTS
from relaygate.services.notices.context import Live, gather
from relaygate.services.notices.plan import plan_from_mapping
from relaygate.services.notices.render import (
    MAIN_PAGES,
    Renderer,
    common_context,
    lang_code,
    render_notices,
    render_page,
)


async def live_for_preview(engine: AsyncEngine, settings: Settings) -> Live:
    from relaygate.services.migration import documents
    from relaygate.services.rollout.batches import Planner

    plan = await documents.latest(engine, "plan")
    doc: dict[str, Any] = {}
    body = (plan or {}).get("body") or {}
    if isinstance(body.get("notice"), dict):
        doc.update(body["notice"])
    if body.get("models"):
        doc["models"] = body["models"]
    planner = Planner(engine, settings)
    legacy = await planner.legacy()
    if legacy.get("base_url") and not doc.get("old_base_url"):
        doc["old_base_url"] = legacy["base_url"]
    batches = await planner.status()
    first = next((b for b in batches if b["switched_at"] or b["switch_at"]), None)
    if first is not None:
        doc.setdefault("switch_time", _minute(first["switched_at"] or first["switch_at"]))
        if first["rollback_deadline"]:
            doc.setdefault("rollback_deadline", _minute(first["rollback_deadline"]))
    return await gather(engine, settings, plan_from_mapping(doc))


def _minute(stamp: str) -> str:
    """2026-12-07T21:41:58.633Z as a person reads it in a notice: 2026-12-07 21:41 UTC."""
    return f"{stamp[:10]} {stamp[11:16]} UTC" if len(stamp) >= 16 and stamp[10] == "T" else stamp


def notice_names() -> list[str]:
    """The previewable notices in reading order: the three main ones, then one email per client."""
    return [*MAIN_PAGES, *(f"emails/{c.id}.md" for c in EMAIL_CLIENTS)]


def bundle(files: dict[str, str], lang: str) -> bytes:
    """Every notice of one language (Markdown and HTML) as a zip, in folder ``notices-<lang>/``."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in sorted(files.items()):
            zf.writestr(f"notices-{lang}/{name}", text)
    return out.getvalue()


def render_all(live: Live, lang: str) -> dict[str, str]:
    return render_notices(live, lang)


class Previews:
    """One notice at a time, with one Jinja environment per language kept (templates compiled once)."""

    def __init__(self) -> None:
        self.renderers: dict[str, Renderer] = {}

    def render(self, live: Live, lang: str, name: str) -> str:
        lang = lang_code(lang)
        renderer = self.renderers.get(lang)
        if renderer is None:
            renderer = self.renderers[lang] = Renderer(lang)
        return render_page(renderer, common_context(live, lang), name)
