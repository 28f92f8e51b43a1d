"""Regenerate docs/settings.md, docs/errors.md and docs/migration.md's generated sections from the code
(run after adding a setting, an error or a row of core/compat.py's REFUSALS)."""

from __future__ import annotations

import re
from pathlib import Path

from relaygate.core.compat import differences_markdown, status_table_markdown
from relaygate.core.errors import CATALOGUE
from relaygate.core.settings import setting_rows

DOCS = Path(__file__).resolve().parents[1] / "docs"
SDK = {400: "BadRequestError", 401: "AuthenticationError", 402: "APIStatusError", 403: "PermissionDeniedError",
       404: "NotFoundError", 405: "APIStatusError", 413: "APIStatusError", 429: "RateLimitError",
       500: "InternalServerError", 502: "InternalServerError", 503: "InternalServerError", 504: "InternalServerError"}


def settings_page() -> str:
    lines = ["# Settings", "",
             "Every setting is read from the environment when a relaygate process starts. The CLI flags of "
             "`relaygate serve` (`--host`, `--port`, `--workers`, `--database-url`, `--no-demo`) override the "
             "matching variable. A test fails when a setting is missing from this page "
             "(regenerate it with `.venv/bin/python scripts/gen_docs.py`).", "",
             "| variable | default | what it does |", "|---|---|---|"]
    for _, env, default, doc in setting_rows():
        shown = str(default).lower() if isinstance(default, bool) else repr(default) if isinstance(default, str) \
            else str(default)
        lines.append(f"| `{env}` | `{shown}` | {doc} |")
    lines += ["", "Test-only variables: `RELAYGATE_TEST_POSTGRES_URL`, `RELAYGATE_TEST_MYSQL_URL` and "
              "`RELAYGATE_TEST_REDIS_URL` point the test suite at real servers (`.ci/run` sets them)."]
    return "\n".join(lines) + "\n"


def errors_page() -> str:
    out = ["# Error reference", "",
           "Every error relaygate returns uses OpenAI's envelope: `{\"error\": {\"message\", \"type\", \"code\", "
           "\"param\", \"request_id\"}}`, with the request id also in the `X-Request-Id` header. The message is "
           "in Simplified Chinese when the caller's `Accept-Language` prefers Chinese. Give support the request "
           "id and the masked key (`sk-abcd…wxyz`), never the full key.", "",
           "| code | HTTP | OpenAI SDK exception | cause |", "|---|---|---|---|"]
    for code, spec in CATALOGUE.items():
        anchor = code.replace("_", "-")
        out.append(f"| [`{code}`](#{anchor}) | {spec.status} | {SDK.get(spec.status, 'APIStatusError')} | {spec.doc} |")
    out.append("")
    for code, spec in CATALOGUE.items():
        out += [f"## {code}", "", f"HTTP {spec.status}, type `{spec.type}`. {spec.doc}", "",
                f"- English: {spec.en}", f"- 中文：{spec.zh}", ""]
    return "\n".join(out)


def migration_page(current: str) -> str:
    """docs/migration.md with its generated sections (between the BEGIN/END comments) rewritten."""
    for name, body in (("status-table", status_table_markdown()), ("differences", differences_markdown())):
        pattern = re.compile(rf"(<!-- BEGIN {name} .*?-->\n).*?(<!-- END {name} -->)", re.S)
        current = pattern.sub(lambda m, b=body: m.group(1) + b + "\n" + m.group(2), current)
    return current


if __name__ == "__main__":
    page = DOCS / "migration.md"
    page.write_text(migration_page(page.read_text(encoding="utf-8")), encoding="utf-8")
    (DOCS / "settings.md").write_text(settings_page())
    (DOCS / "errors.md").write_text(errors_page())
