"""`notices render` from a live configuration and a plan: every client in both languages, no key anywhere."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from typer.testing import CliRunner, Result

from relaygate.cli import main as cli_main
from relaygate.core.keys import key_hash, mask_key
from relaygate.services.notices.clients import EMAIL_CLIENTS, MASKED_PLACEHOLDER, BaseForms
from relaygate.services.notices.guide import documented_codes
from tests.harness import Running, running_gateway, start_fake
from tests.support.conftest import DOCS, PUBLIC

pytestmark = pytest.mark.asyncio(loop_scope="module")

FORMS = BaseForms.from_setting(PUBLIC)
PLAN = """\
old_base_url: https://old-relay.example.net/v1
switch_time: 2026-12-01 10:00 +08:00
old_entry_until: 2026-12-15 00:00 +08:00
rollback_deadline: 2026-12-08 00:00 +08:00
support_contact: support@example.com
model_mapping:
  - {old: gpt-3.5-turbo, new: gpt-4o-mini, class: replace, note: cheaper and better}
  - {old: claude-2.1, new: claude-sonnet-4-5, class: replace}
  - {old: text-davinci-003, new: null, class: unsupported, note: use a chat model}
batches:                      # fields of a fuller migration plan are ignored
  - {name: pilot, owners: [data team]}
"""
# how each client names its fields, per language
LABELS = {
    "cursor": {"en": ["OpenAI API Key", "Override OpenAI Base URL", "Verify"],
               "zh-CN": ["OpenAI API Key", "Override OpenAI Base URL", "Verify"]},
    "cherry-studio": {"en": ["API Host", "API Key", "Model Provider"], "zh-CN": ["API 地址", "API 密钥", "模型服务"]},
    "lobechat": {"en": ["API Proxy Address", "API Key"], "zh-CN": ["API 代理地址", "API Key"]},
    "chatbox": {"en": ["API Host", "API Path", "OpenAI API Compatible"],
                "zh-CN": ["API 域名（API Host）", "API 路径（API Path）", "OpenAI API 兼容"]},
    "claude-code": {"en": ["ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_MODEL"],
                    "zh-CN": ["ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_MODEL"]},
    "codex-cli": {"en": ["base_url", "env_key", 'wire_api = "responses"'],
                  "zh-CN": ["base_url", "env_key", 'wire_api = "responses"']},
    "python-sdk": {"en": ["base_url=", "OPENAI_API_KEY", "OPENAI_BASE_URL"],
                   "zh-CN": ["base_url=", "OPENAI_API_KEY", "OPENAI_BASE_URL"]},
    "node-sdk": {"en": ["baseURL:", "apiKey:", "OPENAI_BASE_URL"], "zh-CN": ["baseURL:", "apiKey:", "OPENAI_BASE_URL"]},
    "openai-media": {lang: ["base_url=", "OPENAI_API_KEY", "images.generate", "videos.create", "download_content",
                            "callback_url", "X-Relaygate-Signature"] for lang in ("en", "zh-CN")},
    "kling-http": {lang: ["/kling/v1/videos/text2video", "Authorization: Bearer", '"task_status":"succeed"',
                          "image2video", "model_name"] for lang in ("en", "zh-CN")},
}
SAFETY = {"en": "Never paste the key into chats, tickets or screenshots", "zh-CN": "不要把密钥贴到聊天、工单或截图里"}


@dataclass
class Rendered:
    gw: Running
    secret: str
    out: dict[str, Path]
    plan_file: Path
    db_file: Path


def env_for(db_file: Path) -> dict[str, str]:
    return {"RELAYGATE_DATABASE_URL": f"sqlite+aiosqlite:///{db_file}", "RELAYGATE_LANG": "en",
            "RELAYGATE_PUBLIC_BASE_URL": PUBLIC, "RELAYGATE_DOCS_URL": DOCS, "RELAYGATE_DEMO_UPSTREAM": "false",
            "COLUMNS": "200"}


async def cli(db_file: Path, *args: str) -> Result:
    cli_main._register()
    return await asyncio.to_thread(CliRunner().invoke, cli_main.app, list(args), env=env_for(db_file))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rendered(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rendered]:
    tmp = tmp_path_factory.mktemp("notices")
    db_file = tmp / "relaygate.db"
    fake = await start_fake()
    async with running_gateway(f"sqlite+aiosqlite:///{db_file}", data_dir=str(tmp), public_base_url=PUBLIC,
                               docs_url=DOCS) as gw:
        gw.fakes.append(fake)
        await gw.add_channel(fake, "openai-main", {"gpt-4o-mini": "gpt-4o-mini", "gpt-4o": "gpt-4o"})
        await gw.add_channel(fake, "anthropic", {"claude-sonnet-4-5": "claude-sonnet-4-5-20250929"})
        await gw.gateway.routing.upsert_model("gpt-4o-mini", ["gpt-35-turbo"])
        await gw.gateway.routing.upsert_model("gpt-4-32k", [], "unsupported", "gpt-4o")
        secret, _ = await gw.add_key("grace", name="real key in the database")
        plan_file = tmp / "plan.yaml"
        plan_file.write_text(PLAN)
        out = {}
        for lang in ("en", "zh-CN"):
            out[lang] = tmp / f"out-{lang}"
            result = await cli(db_file, "notices", "render", "--plan", str(plan_file), "--lang", lang,
                               "--out", str(out[lang]))
            assert result.exit_code == 0, (result.output, result.exception)
            assert secret not in result.output
        yield Rendered(gw, secret, out, plan_file, db_file)


def fenced(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S)]


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
@pytest.mark.parametrize("client", EMAIL_CLIENTS, ids=[c.id for c in EMAIL_CLIENTS])
async def test_every_client_email(rendered: Rendered, client: object, lang: str) -> None:
    from relaygate.services.notices.clients import ClientSpec

    assert isinstance(client, ClientSpec)
    md = (rendered.out[lang] / "emails" / f"{client.id}.md").read_text()
    html = (rendered.out[lang] / "emails" / f"{client.id}.html").read_text()
    expected = client.base_url(FORMS)
    assert fenced(md)[0] == expected, "the value to enter, alone in a block, in the form this client expects"
    assert client.base_label(lang) in md
    if client.base_form == "root":
        assert f"{client.base_label(lang)} | `{FORMS.root}`" in md or f"{FORMS.root}\"" in md
        assert f"| `{FORMS.v1}` |" not in md  # the /v1 form is never offered as the value to enter
    else:
        assert f"`{FORMS.v1}`" in md
    for label in LABELS[client.id][lang]:
        assert label in md, label
    model = "claude-sonnet-4-5" if client.id == "claude-code" else "gpt-4o-mini"
    assert f"`{model}`" in md or f'"{model}"' in md, "a real model name from the mapping / catalogue"
    assert "gpt-3.5-turbo" in md, "the mapping table names the old model"
    assert MASKED_PLACEHOLDER in md and SAFETY[lang] in md
    assert rendered.secret not in md and rendered.secret not in html
    assert mask_key(rendered.secret) not in md, "not even the real key's masked form: only the placeholder"
    assert html.startswith("<!doctype html>") and f'<html lang="{lang}">' in html and expected in html


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_announcement_faq_checklist_replies(rendered: Rendered, lang: str) -> None:
    out = rendered.out[lang]
    announcement = (out / "announcement.md").read_text()
    for part in ("https://old-relay.example.net/v1", FORMS.v1, "2026-12-01 10:00 +08:00", "2026-12-15 00:00 +08:00",
                 "2026-12-08 00:00 +08:00", "support@example.com", "X-Request-Id", MASKED_PLACEHOLDER,
                 "`gpt-3.5-turbo` | `gpt-4o-mini`", "`gpt-35-turbo` | `gpt-4o-mini`", "`gpt-4-32k` | `gpt-4o`",
                 "`text-davinci-003` | —"):
        assert part in announcement, part
    for client in EMAIL_CLIENTS:
        assert f"| {client.name} | {client.base_label(lang)} | `{client.base_url(FORMS)}` |" in announcement
    faq = (out / "faq.md").read_text()
    assert "base_url_mistake" in faq and f"{DOCS}/errors/invalid_api_key" in faq
    checklist = (out / "checklist.md").read_text()
    assert "- [x]" in checklist and "- [ ]" in checklist
    assert re.search(r"- \[x\] .*claude-sonnet-4-5", checklist)  # served: checked against the live configuration
    for code in documented_codes():
        reply = (out / "replies" / f"{code}.md").read_text()
        assert f"`{code}`" in reply and MASKED_PLACEHOLDER in reply
    index = (out / "index.html").read_text()
    assert 'href="emails/cursor.html"' in index and 'href="announcement.html"' in index


async def test_no_file_anywhere_holds_a_key(rendered: Rendered) -> None:
    files = [p for lang in rendered.out.values() for p in lang.rglob("*") if p.is_file()]
    assert len(files) == 2 * 2 * (4 + len(EMAIL_CLIENTS) + len(documented_codes()))
    for path in files:
        text = path.read_text()
        assert rendered.secret not in text and key_hash(rendered.secret) not in text, path
        assert not re.search(r"sk-[A-Za-z0-9]{20,}", text), path


async def test_operator_overrides(rendered: Rendered, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    (templates / "en" / "replies").mkdir(parents=True)
    (templates / "en" / "replies" / "invalid_api_key.md.j2").write_text(
        "# Our own answer\n\nDear customer, re-copy the key for {{ base.v1 }}.\n")
    (templates / "clients").mkdir()
    (templates / "clients" / "cursor.md.j2").write_text("## Cursor, our way\n\nAsk IT for {{ base.v1 }}.\n")
    out = tmp_path / "out"
    result = await cli(rendered.db_file, "notices", "render", "--lang", "en", "--out", str(out),
                       "--templates", str(templates))
    assert result.exit_code == 0, result.output
    reply = (out / "replies/invalid_api_key.md").read_text()
    assert "Dear customer, re-copy the key for https://ai.example.com/v1." in reply
    assert "Ask IT for https://ai.example.com/v1." in (out / "emails/cursor.md").read_text()
    assert "Cherry Studio" in (out / "emails/cherry-studio.md").read_text()  # the rest stays built in
    assert "Reply template: key_disabled" in (out / "replies/key_disabled.md").read_text()


async def test_bad_input_is_explained(rendered: Rendered, tmp_path: Path) -> None:
    result = await cli(rendered.db_file, "notices", "render", "--lang", "fr", "--out", str(tmp_path))
    assert result.exit_code == 2 and "use en or zh-CN" in result.output
    (tmp_path / "bad.yaml").write_text("model_mapping:\n  - {new: x}\n")
    result = await cli(rendered.db_file, "notices", "render", "--lang", "en", "--out", str(tmp_path),
                       "--plan", str(tmp_path / "bad.yaml"))
    assert result.exit_code == 2 and "model_mapping entry 1 needs at least 'old'" in result.output


async def test_admin_api_renders_notices(rendered: Rendered) -> None:
    gw = rendered.gw
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{gw.root}/api/support/notices", params={"lang": "zh-CN"}, data=PLAN,
                          headers={"Authorization": f"Bearer {gw.admin_token}"}) as resp:
            assert resp.status == 200
            text = await resp.text()
            data = await resp.json()
    assert data["base_url"] == FORMS.v1 and "emails/cherry-studio.md" in data["files"]
    assert "API 地址" in data["files"]["emails/cherry-studio.md"] and rendered.secret not in text

