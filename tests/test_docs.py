"""Documentation stays true: every setting and every error code is documented; README starts with the commands."""

from __future__ import annotations

from pathlib import Path

from relaygate.core.errors import CATALOGUE
from relaygate.core.settings import setting_rows

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "settings.md").read_text()
    missing = [env for _, env, _, _ in setting_rows() if f"`{env}`" not in text]
    assert missing == [], f"document these settings in docs/settings.md: {missing}"


def test_every_error_code_has_a_page() -> None:
    text = (ROOT / "docs" / "errors.md").read_text()
    missing = [code for code in CATALOGUE if f"## {code}\n" not in text]
    assert missing == [], f"document these error codes in docs/errors.md: {missing}"


def test_readme_opens_with_run_and_test_commands() -> None:
    head = (ROOT / "README.md").read_text().split("\n## ")[0]
    assert "scripts/run" in head and "scripts/test" in head
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/test" in ci
