"""The model mapping table: each old model name, what relaygate will call, its class and its risk."""

from __future__ import annotations

import re
from typing import Any

from relaygate.services.migration.channel_types import OPENAI, type_info
from relaygate.services.migration.pricing import Proposal, propose
from relaygate.services.migration.survey import RELAYED_TASKS, Route, Survey, tasks_of
from relaygate.services.migration.units import Units

CLASSES = ("same", "substitute", "downgrade", "unsupported")
_SNAPSHOT = re.compile(r"^-(\d{4}-\d{2}-\d{2}|\d{4}|latest|\d{8})$")
_LOWER_TIERS = ("mini", "nano", "lite", "flash", "haiku", "small", "tiny", "3.5", "instant", "air")


def usable(route: Route, kind: str, protocols: list[str]) -> bool:
    """Whether relaygate can call this route's channel today (OpenAI-compatible, or its adapter exists)."""
    proto = type_info(kind, route.channel.type).protocol
    if proto == "vertex":
        from relaygate.services.migration.vertex_plan import serves

        if not serves(kind, route.channel, route.upstream):
            return False  # an open model or Imagen on Vertex, or Claude behind an API key
    return proto == OPENAI or proto in protocols


def model_class(name: str, upstream: str) -> tuple[str, str]:
    """same (or a dated snapshot of it) / downgrade (a lower tier of the family) / substitute, with why."""
    if upstream == name:
        return "same", ""
    if upstream.startswith(name) and _SNAPSHOT.match(upstream[len(name):]):
        return "same", f"pinned to the snapshot {upstream}"
    lower = [t for t in _LOWER_TIERS if t in upstream.lower() and t not in name.lower()]
    if lower:
        return "downgrade", f"callers asking for {name} get {upstream} (a '{lower[0]}' tier)"
    return "substitute", f"callers asking for {name} get {upstream}"


def serves_media(route: Route, kind: str, protocols: list[str], task: str) -> bool:
    """Whether relaygate serves ``task`` (images, audio, video) on this route's channel today."""
    from relaygate.providers import MEDIA_TASKS

    proto = type_info(kind, route.channel.type).protocol
    return (proto == OPENAI or proto in protocols) and task in MEDIA_TASKS.get(proto, ())


def media_endpoint(task: str, model: str, kind: str, route: Route) -> str:
    if task == "images":
        return "/v1/images/generations"
    if task == "audio":
        from relaygate.services.migration.media_prices import audio_kind

        return "/v1/audio/speech" if audio_kind(model) == "speech" else "/v1/audio/transcriptions"
    return "/kling/v1/videos/text2video" if type_info(kind, route.channel.type).protocol == "kling" else "/v1/videos"


def _primary(routes: list[Route], kind: str, protocols: list[str]) -> Route:
    """The route relaygate will use first: enabled and callable, else callable, else enabled, else any."""
    ranked = sorted(routes, key=lambda r: (not (r.enabled and usable(r, kind, protocols)),
                                           not usable(r, kind, protocols), not r.enabled))
    return ranked[0]


def mapping_entry(name: str, routes: list[Route], survey: Survey, units: Units,
                  protocols: list[str]) -> tuple[dict[str, Any], Proposal]:
    kind = survey.kind
    primary = _primary(routes, kind, protocols)
    tasks = tasks_of(name, type_info(kind, primary.channel.type).tasks)
    ok_routes = [r for r in routes if usable(r, kind, protocols)]
    risks: list[str] = []
    prop = propose(survey.ratios, units, name, primary.upstream, primary.channel.type)
    risks.extend(prop.notes)
    unsupported = [t for t in tasks if t not in RELAYED_TASKS]
    media_routes = [r for r in routes if unsupported and serves_media(r, kind, protocols, unsupported[0])]
    media: dict[str, Any] | None = None
    if media_routes:  # images, audio, video: on their own endpoint, at the source's per-unit price
        from relaygate.services.migration.media_prices import TASK_NOUN, propose_media

        primary = _primary(media_routes, kind, protocols)
        task = unsupported[0]
        cls, why = model_class(name, primary.upstream)
        media = propose_media(survey.ratios, units, name, primary.upstream, primary.channel.type, task)
        media["endpoint"] = media_endpoint(task, primary.upstream, kind, primary)
        risks.insert(0, f"{TASK_NOUN[task]} model: served on {media['endpoint']}, never forwarded on chat "
                        "completions (400 media_not_served)" + (f"; {why}" if why else ""))
        if not media.get("unit"):
            risks.append(f"no per-unit price carried: {media['why']}")
    elif unsupported:
        cls = "unsupported"
        risks.insert(0, f"a {', '.join(unsupported)} model: never forwarded on chat completions (400 "
                        "media_not_served), and no channel serving it has a relaygate protocol for "
                        f"{', '.join(unsupported)}")
    elif not ok_routes:
        cls = "unsupported"
        needs = sorted({type_info(kind, r.channel.type).protocol for r in routes})
        risks.insert(0, f"served only by channels that need the {', '.join(repr(n) for n in needs)} adapter, "
                        "which this relaygate lacks: they are imported disabled")
    else:
        cls, why = model_class(name, primary.upstream)
        if why:
            risks.insert(0, why)
    if cls != "unsupported" and not any(r.enabled for r in ok_routes):
        risks.append("every channel serving it is disabled in the source")
    upstreams = {str(r.channel.id): r.upstream for r in routes}
    if len(set(upstreams.values())) > 1:
        risks.append("channels send different upstream names: "
                     + ", ".join(f"#{cid} → {up}" for cid, up in upstreams.items()))
    if kind == "oneapi":
        seen: dict[tuple[Any, Any], list[int]] = {}
        for r in routes:
            other = propose(survey.ratios, units, name, r.upstream, r.channel.type)
            seen.setdefault((other.model_ratio, other.completion_ratio), []).append(r.channel.id)
        if len(seen) > 1:
            risks.append("One API charged it differently per channel (ratio keys of the model(type) form or "
                         "different upstream names); relaygate has one price per model: the price of channel "
                         f"#{primary.channel.id} is used")
    entry: dict[str, Any] = {
        "old_name": name, "new_name": name, "upstream": primary.upstream, "channels": [r.channel.id for r in routes],
        "tasks": tasks, "class": cls, "risk": "; ".join(risks) or "none", "replacement": None,
        "price": prop.plan_entry(), **({"media_price": media} if media is not None else {}),
        "verification": {"result": "not run"},
    }
    if len(set(upstreams.values())) > 1:
        entry["upstreams"] = upstreams
    return entry, prop


def mapping_table(survey: Survey, units: Units, protocols: list[str]) -> list[dict[str, Any]]:
    return [mapping_entry(name, routes, survey, units, protocols)[0]
            for name, routes in sorted(survey.routes.items())]
