"""Render the notices with Jinja2, in Markdown and HTML; any template can be overridden from a folder.

Lookup order for a template name: ``OVERRIDE/<lang>/name``, ``OVERRIDE/name``, then the package's
``templates/<lang>/name``. Reply templates are looked up as ``replies/<code>.md.j2`` first, then the
generic ``reply.md.j2``, so an operator can rewrite the answer to one error code only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, TemplateError

from relaygate.core.errors import InvalidInput
from relaygate.services.notices.clients import EMAIL_CLIENTS, MASKED_PLACEHOLDER, ClientSpec
from relaygate.services.notices.context import Live
from relaygate.services.notices.guide import CLASSES, GUIDES, documented_codes
from relaygate.services.notices.markdown import to_html

TEMPLATES = Path(__file__).resolve().parent / "templates"
LANGS = ("en", "zh-CN")
# the error codes a caller can hit (the FAQ covers these; reply templates exist for every code)
CALLER_CODES = ("base_url_mistake", "invalid_api_key", "missing_api_key", "key_disabled", "key_expired",
                "model_not_found", "model_unsupported", "model_not_allowed", "insufficient_balance", "rate_limited",
                "no_healthy_channel", "upstream_timeout", "upstream_error", "upstream_rejected",
                "endpoint_not_served", "network_not_allowed", "body_too_large", "client_disconnected")
_MD_LINK = re.compile(r'href="(?!https?://)([^"#]+)\.md(#[^"]*)?"')
_TITLE = re.compile(r"^#\s+(.+)$", re.M)


def lang_code(lang: str) -> str:
    if lang.lower().startswith("zh"):
        return "zh-CN"
    if lang.lower().startswith("en"):
        return "en"
    raise InvalidInput(f"Unknown language '{lang}'; use en or zh-CN.", f"未知语言 '{lang}'；请使用 en 或 zh-CN。")


class Renderer:
    """One Jinja environment per language, with the operator's override folder in front."""

    def __init__(self, lang: str, templates_dir: Path | None = None) -> None:
        self.lang = lang_code(lang)
        loaders = []
        if templates_dir is not None:
            if not templates_dir.is_dir():
                raise InvalidInput(f"The templates folder {templates_dir} does not exist.",
                                   f"模板目录 {templates_dir} 不存在。")
            loaders.append(FileSystemLoader([str(templates_dir / self.lang), str(templates_dir)]))
        loaders.append(FileSystemLoader(str(TEMPLATES / self.lang)))
        self.env = Environment(loader=ChoiceLoader(loaders), undefined=StrictUndefined, autoescape=False,
                               trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)

    def render(self, names: str | list[str], **ctx: Any) -> str:
        try:
            template = self.env.select_template([names] if isinstance(names, str) else names)
            return template.render(**ctx).strip() + "\n"
        except TemplateError as exc:
            where = getattr(exc, "name", None) or names
            raise InvalidInput(f"Template {where} failed: {exc}", f"模板 {where} 渲染失败：{exc}") from exc

    def reply(self, code: str, **ctx: Any) -> str:
        return self.render([f"replies/{code}.md.j2", "reply.md.j2"], code=code, guide=GUIDES[code], **ctx)

    def html(self, markdown: str) -> str:
        match = _TITLE.search(markdown)
        title = match.group(1) if match else ""
        body = _MD_LINK.sub(lambda m: f'href="{m.group(1)}.html{m.group(2) or ""}"', to_html(markdown))
        return self.render("layout.html.j2", title=title, body=body, lang=self.lang)


def common_context(live: Live, lang: str) -> dict[str, Any]:
    """What every template may use (see docs/support.md for the list)."""
    claude = [m for m in live.served_models if "claude" in m.lower()]
    return {
        "lang": lang, "zh": lang.startswith("zh"), "service": live.service, "base": live.forms,
        "old": live.old_forms, "plan": live.plan, "models": live.served_models, "mapping": live.mapping,
        "example_model": live.example_model, "claude_model": claude[0] if claude else live.example_model,
        "groups": live.groups, "masked": MASKED_PLACEHOLDER, "docs_url": live.docs_url,
        "clients": EMAIL_CLIENTS, "guides": GUIDES, "classes": CLASSES, "caller_codes": CALLER_CODES,
        "checks": live.checks, "media": live.media,
        "image_model": live.media.first("image", "IMAGE_MODEL"),
        "video_model": live.media.first("video", "VIDEO_MODEL"),
        "kling_model": live.media.first("kling", "KLING_MODEL"),
    }


def render_reply(live: Live, lang: str, code: str, evidence: dict[str, Any] | None = None,
                 specific: str | None = None, client: ClientSpec | None = None,
                 templates_dir: Path | None = None) -> str:
    """One ticket answer: from a diagnosis (evidence) or, without it, the template with placeholders."""
    lang = lang_code(lang)
    if code not in GUIDES:
        code = "internal_error"
    renderer = Renderer(lang, templates_dir)
    return renderer.reply(code, **common_context(live, lang), evidence=evidence, specific=specific,
                          client=client)


MAIN_PAGES = ("announcement.md", "faq.md", "checklist.md")


def render_page(renderer: Renderer, ctx: dict[str, Any], name: str) -> str:
    """One notice in Markdown: a main page (announcement.md, faq.md, checklist.md) or emails/<client>.md."""
    if name in MAIN_PAGES:
        return renderer.render(name + ".j2", **ctx)
    client = next((c for c in EMAIL_CLIENTS if name == f"emails/{c.id}.md"), None)
    if client is None:
        raise InvalidInput(f"No notice named '{name}'.", f"没有名为 '{name}' 的通知。", status=404)
    return renderer.render("email.md.j2", **ctx, client=client)


def render_notices(live: Live, lang: str, templates_dir: Path | None = None) -> dict[str, str]:
    """Every notice as {relative path: text}, each in Markdown (.md) and HTML (.html)."""
    lang = lang_code(lang)
    renderer = Renderer(lang, templates_dir)
    ctx = common_context(live, lang)
    pages: dict[str, str] = {name: render_page(renderer, ctx, name) for name in MAIN_PAGES}
    for client in EMAIL_CLIENTS:
        pages[f"emails/{client.id}.md"] = render_page(renderer, ctx, f"emails/{client.id}.md")
    for code in documented_codes():
        pages[f"replies/{code}.md"] = renderer.reply(code, **ctx, evidence=None, specific=None, client=None)
    pages["index.md"] = renderer.render("index.md.j2", **ctx, files=sorted(pages))
    out: dict[str, str] = {}
    for name, text in pages.items():
        out[name] = text
        out[name[:-3] + ".html"] = renderer.html(text)
    return out


def write_notices(files: dict[str, str], out_dir: Path) -> list[Path]:
    written = []
    for name, text in sorted(files.items()):
        path = out_dir / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"Cannot write {path}: {exc.strerror}.", f"无法写入 {path}：{exc.strerror}。") from exc
        written.append(path)
    return written
