"""The support docs stay true: every error code has a page, the mistake table is current and agrees with the router."""

from __future__ import annotations

from pathlib import Path

from relaygate.core.errors import CATALOGUE
from relaygate.services.notices.guide import CLASSES, GUIDES, documented_codes
from relaygate.services.support.docgen import error_page, errors_index, misconfiguration_page
from relaygate.services.support.examples import EXAMPLES
from relaygate.services.support.misconfig import RULES, is_endpoint
from relaygate.web.relay import oneapi_billing as compat
from relaygate.web.relay.asgi import MODEL_PREFIXES, RELAY_ENDPOINTS, gemini_entry

DOCS = Path(__file__).resolve().parents[2] / "docs"
REGENERATE = "run .venv/bin/python scripts/gen_support_docs.py"


def test_every_error_code_has_a_guide_entry_and_a_current_page() -> None:
    assert set(CATALOGUE) <= set(GUIDES), f"add guide entries for {set(CATALOGUE) - set(GUIDES)}"
    for code in documented_codes():
        guide = GUIDES[code]
        assert guide.cls in CLASSES
        page = (DOCS / "errors" / f"{code}.md").read_text()
        assert page == error_page(code), f"docs/errors/{code}.md is stale: {REGENERATE}"
        for heading in ("## Cause", "## What to check", "## Fix", "### 原因", "### 需要检查", "### 解决办法"):
            assert heading in page
    assert (DOCS / "errors" / "README.md").read_text() == errors_index(), REGENERATE


def test_misconfiguration_doc_is_the_generated_table() -> None:
    text = (DOCS / "misconfiguration.md").read_text()
    assert text == misconfiguration_page(), f"docs/misconfiguration.md is stale: {REGENERATE}"
    rows = [line for line in text.splitlines() if line.startswith("| `") and "` | `" in line and "404" in line]
    assert len(rows) == len(EXAMPLES)


def test_the_mistake_table_agrees_with_the_router() -> None:
    """What support/misconfig calls an endpoint is what web/asgi routes; no example path is routed."""
    for path in RELAY_ENDPOINTS:
        assert is_endpoint(path), path
    for path in compat.PATHS:
        assert is_endpoint(path), path
    assert is_endpoint("/v1beta/models/gemini-2.5-pro:streamGenerateContent")
    assert gemini_entry("/v1beta/models/gemini-2.5-pro:streamGenerateContent") is not None
    for example in EXAMPLES:
        path = example.path
        routed = (path in RELAY_ENDPOINTS or gemini_entry(path) is not None or path.startswith(MODEL_PREFIXES)
                  or path in compat.PATHS or path.startswith("/api"))
        assert not routed, f"{path} now has an endpoint: update services/support/examples.py"
    assert {e.rule for e in EXAMPLES} == set(RULES), "every rule has an example in the docs"


def test_support_doc_names_every_rule_client_and_template() -> None:
    from relaygate.services.notices.clients import EMAIL_CLIENTS
    from relaygate.services.notices.render import TEMPLATES

    text = (DOCS / "support.md").read_text()
    for rule in ("no_requests_here", "succeeded", "old_base_url", "key_disabled", "key_expired", "old_model_name",
                 "model_not_offered", "model_typo", "model_not_allowed", "base_url:<mistake>", "client_disconnected"):
        assert f"`{rule}`" in text, rule
    for client in EMAIL_CLIENTS:
        assert client.name.replace("OpenAI ", "").split(" SDK")[0] in text, client.name
    for lang in ("en", "zh-CN"):
        names = {p.relative_to(TEMPLATES / lang).as_posix() for p in (TEMPLATES / lang).rglob("*.j2")}
        assert names == {p.relative_to(TEMPLATES / "en").as_posix() for p in (TEMPLATES / "en").rglob("*.j2")}
        for name in names:
            shown = "clients/<client>.md.j2" if name.startswith("clients/") else name
            assert f"`{shown}`" in text, name
