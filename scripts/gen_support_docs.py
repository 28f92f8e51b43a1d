"""Regenerate docs/errors/<code>.md, docs/errors/README.md and docs/misconfiguration.md (tests check them)."""

from __future__ import annotations

from pathlib import Path

from relaygate.services.notices.guide import documented_codes
from relaygate.services.support.docgen import error_page, errors_index, misconfiguration_page

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main() -> None:
    (DOCS / "errors").mkdir(exist_ok=True)
    for code in documented_codes():
        (DOCS / "errors" / f"{code}.md").write_text(error_page(code))
    (DOCS / "errors" / "README.md").write_text(errors_index())
    (DOCS / "misconfiguration.md").write_text(misconfiguration_page())


if __name__ == "__main__":
    main()
