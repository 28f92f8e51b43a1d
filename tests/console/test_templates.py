"""Static checks of the console's templates: every text in both languages, nothing the CSP would block."""

from __future__ import annotations

import re
from pathlib import Path

from relaygate.web.console.messages import MESSAGES

ROOT = Path(__file__).resolve().parents[2] / "src/relaygate/web/console"
TEMPLATES = sorted((ROOT / "templates").glob("*.html"))
KEY = re.compile(r"""\bt\(\s*["']([a-z0-9_.-]+)["']""")
DYNAMIC = re.compile(r"""\bt\(\s*["']([a-z0-9_.-]+\.)["']\s*~""")


def test_every_text_key_exists_in_english_and_chinese() -> None:
    used: set[str] = set()
    prefixes: set[str] = set()
    for path in [*TEMPLATES, *(ROOT / "pages").glob("*.py"), ROOT / "context.py"]:
        text = path.read_text()
        used |= set(KEY.findall(text))
        prefixes |= set(DYNAMIC.findall(text))
    missing = sorted(k for k in used if k not in MESSAGES and not k.endswith("."))
    assert not missing, missing
    for prefix in prefixes:  # t("ro.state." ~ state): the family must exist
        assert any(k.startswith(prefix) for k in MESSAGES), prefix
    for key, (en, zh) in MESSAGES.items():
        assert en.strip() and zh.strip(), key
        assert re.findall(r"{(\w+)}", en) == re.findall(r"{(\w+)}", zh) or \
            set(re.findall(r"{(\w+)}", en)) == set(re.findall(r"{(\w+)}", zh)), key


def test_no_inline_script_style_or_handlers() -> None:
    for path in TEMPLATES:
        html = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, (path.name, tag)
        assert not re.search(r"\sstyle=", html), path.name
        assert not re.search(r"\son[a-z]+=", html), path.name
        assert "javascript:" not in html, path.name
        assert "hx-on" not in html, path.name  # htmx's inline handlers need eval


def test_vendored_files_carry_their_licences() -> None:
    vendor = ROOT / "static/vendor"
    for name in ("htmx.min.js", "htmx.LICENSE", "uPlot.iife.min.js", "uPlot.LICENSE", "swagger-ui/LICENSE",
                 "swagger-ui/swagger-ui-bundle.js"):
        assert (vendor / name).is_file(), name


def test_every_value_a_migration_or_rollout_page_translates_has_its_text() -> None:
    from relaygate.services.migration.documents import KINDS
    from relaygate.services.notices.render import MAIN_PAGES
    from relaygate.web.console.pages.migration import CLASSES, RESULTS
    from relaygate.web.console.pages.rollout import STATES

    keys = [*(f"mig.class.{c}" for c in CLASSES), *(f"mig.result.{r}" for r in RESULTS),
            *(f"mig.kind.{k}" for k in KINDS), *(f"mig.doc.{n}" for n in MAIN_PAGES),
            *(f"ro.state.{s}" for s in STATES), "ro.route.native", "ro.route.legacy",
            "ro.dispute.status.open", "ro.dispute.status.resolved"]
    assert [k for k in keys if k not in MESSAGES] == []


def test_every_evidence_field_the_support_desk_shows_has_its_name_in_both_languages() -> None:
    """support_result.html names each evidence field through ctx.tr("sup.field.", name): a field without a
    message would show as its code (upstream_model) on a zh-CN page."""
    from relaygate.services.support.diagnose import EVIDENCE_FIELDS

    shown = [f for f in (*EVIDENCE_FIELDS, "mistake", "owner") if f != "attempts"]
    missing = [f for f in shown if f"sup.field.{f}" not in MESSAGES]
    assert not missing, missing
