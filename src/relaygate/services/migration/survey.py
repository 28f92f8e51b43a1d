"""The small, shared picture of a source: options, ratios, channels, the models they serve, groups."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from relaygate.services.migration.channel_types import OPENAI, type_info
from relaygate.services.migration.parse import text
from relaygate.services.migration.pricing import Ratios, show_ratio
from relaygate.services.migration.records import Channel
from relaygate.services.migration.source import Source

EMBEDDING_HINTS = ("embedding", "bge-", "m3e", "embed-")
TASK_HINTS: list[tuple[str, tuple[str, ...]]] = [
    ("images", ("dall-e", "gpt-image", "flux", "stable-diffusion", "sdxl", "imagen", "cogview", "wanx", "mj_",
                "midjourney", "jimeng", "recraft", "ideogram")),
    ("video", ("sora", "kling", "veo-", "vidu", "video", "seedance", "hailuo", "wan2")),
    ("music", ("suno",)),
    ("audio", ("whisper", "tts", "transcribe", "-audio")),
    ("moderation", ("moderation",)),
    ("rerank", ("rerank",)),
]
RELAYED_TASKS = ("chat", "embeddings")  # what relaygate's relay serves today


def tasks_of(model: str, channel_tasks: tuple[str, ...] = ("chat", "embeddings")) -> list[str]:
    """What a model is used for, from its name (and the channel type when the name says nothing)."""
    low = model.lower()
    if any(h in low for h in EMBEDDING_HINTS):
        return ["embeddings"]
    for task, hints in TASK_HINTS:
        if any(h in low for h in hints):
            return [task]
    if channel_tasks and "chat" not in channel_tasks:
        return [channel_tasks[0]]
    return ["chat"]


@dataclass(frozen=True, slots=True)
class Route:
    """One source channel serving a public model under an upstream name."""

    channel: Channel
    upstream: str

    @property
    def enabled(self) -> bool:
        return self.channel.status == 1


@dataclass
class GroupFacts:
    name: str
    ratio: str | None  # the source's GroupRatio entry; None: not listed (ratio 1)
    users: int = 0
    channels: list[int] = field(default_factory=list)


@dataclass
class Survey:
    kind: str
    options: dict[str, str]
    ratios: Ratios
    channels: list[Channel]
    routes: dict[str, list[Route]]
    groups: dict[str, GroupFacts]
    problems: list[str]

    def protocol(self, channel: Channel, available: list[str]) -> tuple[str, bool]:
        """(protocol relaygate should use, whether it has it) for a channel."""
        info = type_info(self.kind, channel.type)
        return info.protocol, info.protocol in available or (info.protocol == OPENAI and OPENAI in available)


async def take_survey(source: Source) -> Survey:
    options = await source.options()
    ratios = Ratios.from_options(source.kind, options)
    problems = list(ratios.problems)
    channels = [Channel.from_row(r, source.kind) for r in await source.all_rows("channels")]
    routes: dict[str, list[Route]] = {}
    for ch in sorted(channels, key=lambda c: (-c.priority, c.id)):
        if ch.mapping_problem:
            problems.append(f"channel #{ch.id} {ch.name}: model_mapping {ch.mapping_problem}")
        for model in ch.models:
            routes.setdefault(model, []).append(Route(ch, ch.upstream(model, source.kind)))
        for key in ch.mapping:
            if key not in ch.models:
                problems.append(f"channel #{ch.id} {ch.name}: model_mapping key '{key}' is not in its model list; "
                                f"{source.name} never routed it (ignored)")
    if source.kind == "newapi" and ratios.typed_keys():
        problems.append("New API ignores ratio keys of the model(type) form: " + ", ".join(ratios.typed_keys()))
    groups: dict[str, GroupFacts] = {}
    for name, ratio in ratios.group.items():
        groups[name] = GroupFacts(name, show_ratio(ratio))
    users = source.table("users")
    assert users is not None
    query = select(users.c["group"], func.count()).group_by(users.c["group"])
    if "deleted_at" in users.c:  # deleted users (New API soft delete, One API status 3) are in no group
        query = query.where(users.c.deleted_at.is_(None))
    if source.kind == "oneapi" and "status" in users.c:
        query = query.where(users.c.status.is_(None) | (users.c.status != 3))
    for group, count in await source.execute("users", query):
        name = text(group).strip() or "default"
        groups.setdefault(name, GroupFacts(name, None)).users += int(count)
    for ch in channels:
        for name in ch.groups or ["default"]:
            groups.setdefault(name, GroupFacts(name, None)).channels.append(ch.id)
    return Survey(source.kind, options, ratios, channels, routes, groups, problems)


def channel_summary(ch: Channel, kind: str) -> dict[str, Any]:
    from relaygate.core.keys import mask_secret
    from relaygate.services.migration.records import CHANNEL_STATUS

    info = type_info(kind, ch.type)
    return {"id": ch.id, "name": ch.name, "type": ch.type, "type_name": info.name,
            "status": CHANNEL_STATUS.get(ch.status, str(ch.status)), "base_url": ch.base_url,
            "secrets": [mask_secret(s) for s in ch.secrets], "models": ch.models, "groups": ch.groups,
            "model_mapping": ch.mapping, "priority": ch.priority, "weight": ch.weight,
            "needs": info.protocol, "notes": ch.secret_notes + ([f"model_mapping {ch.mapping_problem}"]
                                                               if ch.mapping_problem else [])}


async def stale_abilities(source: Source, channels: list[Channel]) -> list[dict[str, Any]]:
    """abilities rows that the channels do not derive (both projects rebuild them from channels.models ×
    channels.group): a deleted channel, or a model or group the channel no longer lists. relaygate routes
    from the channels, so these rows are dropped; a model only they named answered 503 in the source."""
    if source.table("abilities") is None:
        return []
    derived = {(g, m, ch.id) for ch in channels for g in (ch.groups or ["default"]) for m in ch.models}
    by_id = {ch.id: ch for ch in channels}
    out: list[dict[str, Any]] = []
    async for chunk in source.chunks("abilities", size=5000, columns=["group", "model", "channel_id"]):
        for row in chunk:
            group, model, cid = text(row.get("group")).strip(), text(row.get("model")).strip(), int(
                row.get("channel_id") or 0)
            if (group, model, cid) in derived:
                continue
            ch = by_id.get(cid)
            why = (f"channel #{cid} does not exist" if ch is None else
                   f"channel #{cid} does not serve {model}" if model not in ch.models else
                   f"channel #{cid} is not in group {group}")
            out.append({"group": group, "model": model, "channel_id": cid, "why": why})
    return out

