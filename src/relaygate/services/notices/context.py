"""What the notices say, gathered from the live configuration (catalogue, channels, groups, settings) and the plan."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.settings import Settings
from relaygate.services.notices.clients import BaseForms
from relaygate.services.notices.plan import MappingRow, MigrationPlan
from relaygate.services.operate.accounts import AccountsAdmin
from relaygate.services.operate.routing import RoutingAdmin
from relaygate.store import tables as t


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    status: str
    replacement: str | None
    aliases: tuple[str, ...]
    served: bool  # an enabled channel serves it


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the launch checklist that the configuration can answer."""

    ok: bool
    en: str
    zh: str

    def text(self, lang: str) -> str:
        return self.zh if lang.startswith("zh") else self.en


@dataclass(frozen=True, slots=True)
class MediaModels:
    """Served models by media kind, for the image and video clients' notices (empty: none served yet)."""

    image: tuple[str, ...] = ()
    video: tuple[str, ...] = ()  # OpenAI's video task API
    kling: tuple[str, ...] = ()  # Kling's task routes

    def first(self, kind: str, placeholder: str) -> str:
        names: tuple[str, ...] = getattr(self, kind)
        return names[0] if names else placeholder


IMAGE_WORDS = ("image", "dall-e", "flux", "midjourney", "mj_", "seedream", "imagen")
VIDEO_WORDS = ("sora", "video", "veo", "kling", "vidu", "seedance", "hailuo", "wan2")


@dataclass(frozen=True)
class Live:
    service: str
    forms: BaseForms
    old_forms: BaseForms | None
    plan: MigrationPlan
    models: tuple[ModelInfo, ...]
    groups: tuple[str, ...]
    mapping: tuple[MappingRow, ...]
    example_model: str
    docs_url: str
    checks: tuple[Check, ...]
    media: MediaModels = MediaModels()

    @property
    def served_models(self) -> list[str]:
        return [m.name for m in self.models if m.served and m.status == "active"]


def _mapping(plan: MigrationPlan, models: list[ModelInfo]) -> list[MappingRow]:
    """The plan's rows, then what the catalogue itself maps: aliases and retired names."""
    rows = list(plan.model_mapping)
    seen = {r.old for r in rows}
    for m in models:
        for alias in m.aliases:
            if alias not in seen:
                rows.append(MappingRow(alias, m.name, "alias"))
                seen.add(alias)
        if m.status != "active" and m.replacement and m.name not in seen:
            rows.append(MappingRow(m.name, m.replacement, "retired"))
            seen.add(m.name)
    return rows


def _checks(settings: Settings, plan: MigrationPlan, forms: BaseForms, models: list[ModelInfo],
            mapping: list[MappingRow]) -> list[Check]:
    served = {m.name for m in models if m.served and m.status == "active"}
    answered = served | {a for m in models if m.served for a in m.aliases}
    checks = [Check(bool(settings.public_base_url),
                    f"RELAYGATE_PUBLIC_BASE_URL is set (error messages then name {forms.v1}, whatever Host the caller "
                    "used)",
                    f"已设置 RELAYGATE_PUBLIC_BASE_URL（报错信息才会始终给出 {forms.v1}，而不受调用方 Host 影响）"),
              Check(bool(settings.docs_url),
                    "RELAYGATE_DOCS_URL is set and docs/errors is published there (error bodies link to it)",
                    "已设置 RELAYGATE_DOCS_URL 并在该地址发布 docs/errors（错误响应会附带文档链接）")]
    if plan.new_base_url and settings.public_base_url:
        same = BaseForms.from_setting(plan.new_base_url) == BaseForms.from_setting(settings.public_base_url)
        checks.append(Check(same, f"the plan's new base URL equals RELAYGATE_PUBLIC_BASE_URL ({forms.v1})",
                            f"迁移计划中的新 Base URL 与 RELAYGATE_PUBLIC_BASE_URL 一致（{forms.v1}）"))
    checks.append(Check(bool(plan.old_entry_until and plan.rollback_deadline),
                        "the announcement states how long the old entry stays and the rollback deadline",
                        "公告写明了旧入口保留到何时以及回滚截止时间"))
    for row in mapping:
        if row.new and row.cls not in ("unsupported",):
            checks.append(Check(row.new in served, f"model '{row.new}' (new name of '{row.old}') is served by an "
                                f"enabled channel", f"模型 '{row.new}'（'{row.old}' 的新名称）有启用的渠道提供"))
        if row.cls in ("same", "replace", "downgrade") and row.old != row.new:
            checks.append(Check(row.old in answered,
                                f"old name '{row.old}' still answers (relaygate models add {row.new} --alias "
                                f"{row.old}), or callers were told to switch",
                                f"旧名称 '{row.old}' 仍可调用（relaygate models add {row.new} --alias {row.old}），"
                                "或已通知调用方改名"))
    checks.append(Check(bool(served), "at least one model is served by an enabled channel",
                        "至少有一个模型由启用的渠道提供"))
    return checks


async def gather(engine: AsyncEngine, settings: Settings, plan: MigrationPlan) -> Live:
    """Read the catalogue, channels and groups (never a key or a secret) and combine them with the plan."""
    views = await RoutingAdmin(engine, []).list_models()
    groups = [g["name"] for g in await AccountsAdmin(engine).list_groups()]
    models = [ModelInfo(v["name"], v["status"], v.get("replacement"), tuple(v.get("aliases") or ()),
                        any(not ch.endswith("(disabled)") for ch in v.get("channels") or []))
              for v in views]
    base = plan.new_base_url or settings.public_base_url
    forms = BaseForms.from_setting(base, f"{settings.host}:{settings.port}")
    old_forms = BaseForms.from_setting(plan.old_base_url) if plan.old_base_url else None
    mapping = _mapping(plan, models)
    served = [m.name for m in models if m.served and m.status == "active"]
    mapped = [r.new for r in mapping if r.new and r.cls != "unsupported" and r.new in served]
    example = (mapped or served or [r.new for r in mapping if r.new] or ["gpt-4o-mini"])[0]
    return Live(plan.service_name or "relaygate", forms, old_forms, plan, tuple(models), tuple(groups),
                tuple(mapping), example, settings.docs_url.rstrip("/"),
                tuple(_checks(settings, plan, forms, models, mapping)), await _media(engine, served))


async def _media(engine: AsyncEngine, served: list[str]) -> MediaModels:
    """Image, video and Kling models among those served: by the channel's protocol and what the model is for
    (its media price unit, the task an import recorded), else by its name."""
    channels = [c for c in await RoutingAdmin(engine, []).list_channels() if c["enabled"]]
    kling = {m for c in channels if c["protocol"] == "kling" for m in c["models"]}
    tasks = {m: str(task) for c in channels for m, task in ((c.get("options") or {}).get("model_tasks") or {}).items()}
    async with engine.connect() as conn:
        units = {(r.model, r.unit) for r in await conn.execute(select(t.media_prices.c.model, t.media_prices.c.unit))}

    images = {m for m, unit in units if unit == "image"} | {m for m, task in tasks.items() if task == "images"}
    return classify(served, kling, images, {m for m, task in tasks.items() if task == "video"})


def classify(models: list[str], kling: set[str], images: set[str], videos: set[str]) -> MediaModels:
    """Image, video and Kling models among ``models``: what serves or prices them first, then their names."""
    found: dict[str, list[str]] = {"image": [], "video": [], "kling": []}
    for name in models:
        low = name.lower()
        if name in kling:
            found["kling"].append(name)
        elif name in images or any(w in low for w in IMAGE_WORDS):
            found["image"].append(name)
        elif name in videos or any(w in low for w in VIDEO_WORDS):
            found["video"].append(name)
    return MediaModels(tuple(found["image"]), tuple(found["video"]), tuple(found["kling"]))
