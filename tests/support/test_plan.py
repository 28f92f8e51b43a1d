"""The plan the notices read: the minimal schema, nesting, maps, and the `relaygate migrate plan` file as is."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaygate.core.errors import InvalidInput
from relaygate.services.notices.plan import MappingRow, load_plan, plan_from_mapping


def test_minimal_schema_with_dates_and_extra_fields() -> None:
    plan = plan_from_mapping({"old_base_url": "https://old.example.com/v1", "switch_time": "2026-12-01 10:00",
                              "rollback_deadline": None, "anything": {"else": 1},
                              "model_mapping": [{"old": "a", "new": "b"}, {"old": "c", "new": "c"}, {"old": "d"}]})
    assert plan.old_base_url == "https://old.example.com/v1" and plan.rollback_deadline is None
    assert plan.model_mapping == (MappingRow("a", "b", "replace"), MappingRow("c", "c", "same"),
                                  MappingRow("d", None, "unsupported"))


def test_nested_sections_and_map_form(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("notice:\n  switch_time: 2026-12-01\n  support_contact: ops@example.com\n"
                    "model_mapping: {gpt-3.5-turbo: gpt-4o-mini}\n")
    plan = load_plan(path)
    assert plan.switch_time == "2026-12-01" and plan.support_contact == "ops@example.com"
    assert plan.model_mapping == (MappingRow("gpt-3.5-turbo", "gpt-4o-mini", "replace"),)


def test_the_migrate_plan_file_is_read_without_its_routing() -> None:
    doc = {"relaygate_migration_plan": 1, "source": {"kind": "oneapi"}, "channels": [{"name": "x"}],
           "models": [{"old_name": "gpt-4", "new_name": "gpt-4", "upstream": "gpt-4-0613", "class": "same",
                       "risk": "pinned to the snapshot gpt-4-0613"},
                      {"old_name": "claude-2", "new_name": "claude-sonnet-4-5", "class": "substitute",
                       "upstream": "claude-sonnet-4-5-20250929", "risk": "callers asking for claude-2 get …"}]}
    plan = plan_from_mapping(doc)
    assert plan.model_mapping == (MappingRow("gpt-4", "gpt-4", "same"),
                                  MappingRow("claude-2", "claude-sonnet-4-5", "substitute"))
    assert plan.model_mapping[1].class_label("zh-CN") == "由同级模型提供"


def test_bad_plans_say_what_to_fix(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="YAML mapping"):
        plan_from_mapping(["a"])
    with pytest.raises(InvalidInput, match="must be a list"):
        plan_from_mapping({"model_mapping": "a"})
    with pytest.raises(InvalidInput, match="Cannot read"):
        load_plan(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("a: [")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load_plan(tmp_path / "bad.yaml")
