"""The in-memory snapshot of keys, groups and routing that the hot path reads instead of the database."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from relaygate.core.compat import KeyRules
from relaygate.core.domain import ChannelRecord, GroupRecord, KeyRecord, ModelRecord, OwnerRecord
from relaygate.core.errors import GatewayError
from relaygate.store.repo import PriceRow, StateRows


@dataclass(frozen=True, slots=True)
class Route:
    """One channel able to serve a public model, with the name to send upstream."""

    channel: ChannelRecord
    upstream_model: str


@dataclass(frozen=True)
class Snapshot:
    keys_by_hash: dict[str, KeyRecord]
    keys_by_id: dict[str, KeyRecord]
    owners: dict[str, OwnerRecord]
    groups: dict[str, GroupRecord]
    channels: dict[int, ChannelRecord]
    models: dict[str, ModelRecord]
    aliases: dict[str, str]  # alias -> public name
    routes: dict[str, list[Route]]  # public name -> every channel serving it (enabled or not)
    public_names: frozenset[str] = field(default_factory=frozenset)
    prices: dict[str, PriceRow] = field(default_factory=dict)
    rules: dict[str, KeyRules] = field(default_factory=dict)  # key id -> old-system rules (imported keys)
    model_tasks: dict[str, str] = field(default_factory=dict)  # public name -> images | audio | … (not chat)

    @classmethod
    def build(cls, rows: StateRows) -> Snapshot:
        models = {m.name: m for m in rows.models}
        aliases = {alias: m.name for m in rows.models for alias in m.aliases}
        routes: dict[str, list[Route]] = {}
        for ch in rows.channels:
            for public, upstream in ch.models.items():
                routes.setdefault(aliases.get(public, public), []).append(Route(ch, upstream or public))
        for entries in routes.values():
            entries.sort(key=lambda r: -r.channel.priority)
        model_tasks = {aliases.get(str(m), str(m)): str(task) for ch in rows.channels
                       for m, task in (ch.options.get("model_tasks") or {}).items()}
        names = frozenset(n for n, m in models.items() if m.status == "active") | frozenset(routes)
        return cls(
            keys_by_hash={k.key_hash: k for k in rows.keys},
            keys_by_id={k.id: k for k in rows.keys},
            owners={o.id: o for o in rows.owners},
            groups={g.name: g for g in rows.groups},
            channels={c.id: c for c in rows.channels},
            models=models, aliases=aliases, routes=routes, public_names=names, prices=rows.prices,
            rules=rows.key_rules, model_tasks=model_tasks,
        )

    @classmethod
    def empty(cls) -> Snapshot:
        return cls.build(StateRows([], [], [], [], []))

    # --- model resolution -------------------------------------------------------------------

    def resolve(self, requested: str) -> str:
        """The public model name for what the caller sent; raises 404 errors that help."""
        name = self.aliases.get(requested, requested)
        model = self.models.get(name)
        if model is not None and model.status == "unsupported":
            if model.replacement:
                raise GatewayError("model_unsupported", model=requested, replacement=model.replacement)
            raise GatewayError("model_not_found", model=requested,
                               suggestion=" It was retired and has no replacement.")
        if name in self.routes or (model is not None):
            return name
        close = difflib.get_close_matches(requested, sorted(self.public_names | set(self.aliases)), n=3,
                                          cutoff=0.5)
        suggestion = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise GatewayError("model_not_found", model=requested, suggestion=suggestion)

    def allowed_models(self, key: KeyRecord) -> list[str]:
        """Public models the key may call: its own list, within its group's, served by some channel."""
        names = set(self.routes)
        group = self.groups.get(key.group)
        if group is not None and group.models is not None:
            names &= group.models
        if key.allowed_models is not None:
            names &= {self.aliases.get(m, m) for m in key.allowed_models}
        usable = []
        for name in names:
            model = self.models.get(name)
            if model is not None and model.status != "active":
                continue
            if any(r.channel.enabled and r.channel.serves_group(key.group) for r in self.routes[name]):
                usable.append(name)
        return sorted(usable)

    def check_allowed(self, key: KeyRecord, public: str, requested: str) -> None:
        group = self.groups.get(key.group)
        in_group = group is None or group.models is None or public in group.models
        in_key = key.allowed_models is None or public in key.allowed_models or requested in key.allowed_models
        if not (in_group and in_key):
            allowed = self.allowed_models(key)
            raise GatewayError("model_not_allowed", key_id=key.id, model=requested,
                               allowed=", ".join(allowed[:20]) + (" …" if len(allowed) > 20 else "")
                               if allowed else "(none)")

    def check_task(self, public: str, requested: str, operation: str) -> None:
        """An image, audio or video model (a channel's ``options.model_tasks``) is not sent as a chat call."""
        task = self.model_tasks.get(public)
        if task is None or operation not in ("chat", "completions", "count_tokens"):
            return
        path = {"images": "/v1/images/generations", "audio": "/v1/audio/speech or /v1/audio/transcriptions",
                "video": "/v1/videos"}.get(task, f"its {task} endpoint")
        kind_zh = {"images": "图像", "audio": "音频", "video": "视频"}.get(task, task)
        raise GatewayError("media_not_served", model=requested, what="chat completions", what_zh="对话补全",
                           detail=f"it is an {task} model; call {path}", detail_zh=f"它是{kind_zh}模型，请调用 {path}")

    def candidates(self, public: str, group: str) -> list[Route]:
        return [r for r in self.routes.get(public, ()) if r.channel.enabled and r.channel.serves_group(group)]
