"""Money through the CLI: balances, top-ups and adjustments, statements, reconciliation, prices, terms, caps."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import text as sql
from sqlalchemy.engine import Engine

from relaygate.core.money import parse_amount

from .conftest import Invoke, JsonRun


def _owner(cli: Invoke, name: str = "alice") -> None:
    cli("groups", "add", "default")
    cli("owners", "add", name)


def test_topup_then_statement_shows_it_with_reason_and_closing_balance(cli: Invoke, cli_json: JsonRun,
                                                                      tmp_path: Path) -> None:
    _owner(cli)
    done = cli("balance", "topup", "alice", "25.50", "--reason", "invoice 2026-11", "--by", "finance",
               "--ref", "INV-7").output
    assert "Topped up alice by $25.50 (invoice 2026-11); balance now $25.50." in done

    md = cli("balance", "statement", "alice").output
    assert "invoice 2026-11 (finance) | $25.50 |" in md
    assert "| **Closing balance** | **$25.50** |" in md
    assert "✓" in md

    st = json.loads(cli("balance", "statement", "alice", "--format", "json", "--from", "7d").stdout)
    assert st["owner"] == "alice" and st["reconciles"] is True
    assert [(m["kind"], m["amount"], m["reason"], m["actor"], m["ref"]) for m in st["movements"]] == [
        ("topup", "25.5", "invoice 2026-11", "finance", "INV-7")]
    assert parse_amount(st["opening_balance"]) == 0
    assert parse_amount(st["closing_balance"]) == parse_amount("25.50")

    out = tmp_path / "st.csv"
    assert f"Statement written to {out}." in cli("balance", "statement", "alice", "--format", "csv",
                                                 "-o", str(out)).output
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [rows[2][0], rows[2][2], rows[2][7], rows[2][8]] == ["movement", "topup", "25.5", "invoice 2026-11"]
    assert rows[-2][0] == "closing" and parse_amount(rows[-2][7]) == parse_amount("25.5")

    shown = cli_json("balance", "show", "alice")
    assert (shown["balance"], shown["held"], shown["available"]) == ("25.5", "0", "25.5")
    assert shown["balance_text"] == "$25.50"
    table = cli("balance", "show", "alice").output
    assert "Balance of alice" in table and "available" in table and "$25.50" in table


def test_adjust_takes_a_signed_amount_and_check_reconciles(cli: Invoke, cli_json: JsonRun) -> None:
    _owner(cli)
    cli("owners", "add", "bob")
    cli("balance", "topup", "alice", "10", "--reason", "first")
    cut = cli("balance", "adjust", "alice", "-2.25", "--reason", "refund to card").output
    assert "Adjusted the balance of alice by -$2.25 (refund to card); balance now $7.75." in cut
    cli("balance", "adjust", "bob", "3", "--reason", "goodwill")
    assert cli_json("balance", "show", "alice")["balance"] == "7.75"

    st = json.loads(cli("balance", "statement", "alice", "--format", "json").stdout)
    assert [(m["kind"], m["amount"]) for m in st["movements"]] == [("topup", "10"), ("adjustment", "-2.25")]
    assert st["closing_balance"] == "7.75"

    assert "All 2 owners reconcile" in cli("balance", "check").output
    report = cli_json("balance", "check")
    assert report["ok"] is True and {o["owner"] for o in report["owners"]} == {"alice", "bob"}
    # a top-up must be positive, and every change needs a reason
    assert "must be positive" in cli("balance", "topup", "alice", "-1", "--reason", "x", ok=False).output
    assert cli("balance", "adjust", "alice", "1", ok=False).exit_code == 2


def test_check_on_a_fresh_database_says_there_is_nothing_to_reconcile(cli: Invoke) -> None:
    _owner(cli)  # an owner without a balance row: "All 0 owners reconcile" read as a miscount
    out = cli("balance", "check").output
    assert "nothing to reconcile" in out and "All 0 owners" not in out


def test_actor_defaults_to_user_then_cli(cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    _owner(cli)
    monkeypatch.setenv("USER", "carol")
    cli("balance", "topup", "alice", "1", "--reason", "by carol")
    monkeypatch.delenv("USER")
    cli("balance", "adjust", "alice", "1", "--reason", "by nobody in particular")
    st = json.loads(cli("balance", "statement", "alice", "--format", "json").stdout)
    assert [m["actor"] for m in st["movements"]] == ["carol", "cli"]


def test_check_fails_with_a_red_line_per_mismatch(cli: Invoke, sync_db: Engine) -> None:
    _owner(cli)
    cli("balance", "topup", "alice", "5", "--reason", "seed")
    with sync_db.begin() as conn:
        conn.execute(sql("UPDATE balances SET balance = balance + 1"))  # one nano off
    bad = cli("balance", "check", ok=False)
    assert bad.exit_code == 1
    assert "Owner alice" in bad.output and "does not reconcile" in bad.output
    assert "stored balance $5.000000001" in bad.output and "sum to $5.00," in bad.output
    as_json = cli("balance", "check", "--json", ok=False)
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["ok"] is False


@pytest.mark.parametrize("amount", ["ten", "1.0000000001", "1e", ""])
def test_bad_amount_exits_2_with_a_readable_message(cli: Invoke, amount: str) -> None:
    _owner(cli)
    result = cli("balance", "topup", "alice", amount, "--reason", "x", ok=False)
    assert result.exit_code == 2
    assert f"Error: '{amount}' is not an amount" in result.output
    assert "Traceback" not in result.output
    assert cli("balance", "adjust", "alice", amount, "--reason", "x", ok=False).exit_code == 2


def test_unknown_owner_and_bad_statement_options(cli: Invoke) -> None:
    _owner(cli)
    missing = cli("balance", "topup", "nobody", "1", "--reason", "x", ok=False)
    assert missing.exit_code == 2 and "No owner 'nobody'" in missing.output
    assert "No owner or key 'ghost'" in cli("balance", "statement", "ghost", ok=False).output
    bad_format = cli("balance", "statement", "alice", "--format", "pdf", ok=False)
    assert bad_format.exit_code == 2 and "Unknown format 'pdf'" in bad_format.output
    assert "is not a time" in cli("balance", "statement", "alice", "--from", "yesterday", ok=False).output


def test_statement_of_a_key(cli: Invoke, cli_json: JsonRun) -> None:
    _owner(cli)
    key = cli_json("keys", "create", "--name", "ci", "--owner", "alice")
    st = json.loads(cli("balance", "statement", key["id"], "--format", "json").stdout)
    assert (st["owner"], st["key_id"], st["movements"], st["closing_balance"]) == ("alice", key["id"], [], "0")


def test_prices_set_list_delete(cli: Invoke, cli_json: JsonRun) -> None:
    saved = cli("prices", "set", "gpt-x", "--input", "0.15", "--output", "0.60", "--cached-input", "0.075").output
    assert "Price of 'gpt-x' saved: input $0.15 / output $0.60 per 1M tokens; cached input $0.075." in saved
    assert "$0.04 per request" in cli("prices", "set", "img-1", "--per-request", "0.04").output
    assert "saved: free" in cli("prices", "set", "local", "--free", "--max-output-tokens", "512").output

    prices = {p["model"]: p for p in cli_json("prices", "list")}
    assert set(prices) == {"gpt-x", "img-1", "local"}
    assert (prices["gpt-x"]["input_per_m"], prices["gpt-x"]["output_per_m"]) == ("0.15", "0.6")
    assert prices["gpt-x"]["cached_input_per_m"] == "0.075"
    assert prices["img-1"]["per_request"] == "0.04" and prices["img-1"]["kind"] == "per request"
    assert (prices["local"]["free"], prices["local"]["max_output_tokens"]) == (True, 512)
    table = cli("prices", "list").output
    assert "$0.15" in table and "$0.60" in table and "$0.04" in table and "per 1M tokens" in table

    cli("prices", "set", "gpt-x", "--input", "1", "--output", "2")  # replaces
    assert cli_json("prices", "list")[0]["input_per_m"] == "1"
    nothing = cli("prices", "set", "gpt-y", ok=False)
    assert nothing.exit_code == 2 and "--per-request" in nothing.output
    negative = cli("prices", "set", "gpt-y", "--input", "-1", "--output", "1", ok=False)
    assert negative.exit_code == 2 and "cannot be negative" in negative.output

    assert "Price of 'img-1' deleted." in cli("prices", "delete", "img-1").output
    assert {p["model"] for p in cli_json("prices", "list")} == {"gpt-x", "local"}
    assert "No model 'img-1'" in cli("prices", "delete", "img-1", ok=False).output
    cli("prices", "delete", "gpt-x")
    cli("prices", "delete", "local")
    assert "No prices set yet" in cli("prices", "list").output


def test_group_terms(cli: Invoke, cli_json: JsonRun) -> None:
    cli("groups", "add", "vip")
    said = cli("groups", "terms", "vip", "--multiplier", "0.8", "--rpm", "60", "--concurrency", "4").output
    assert "Group 'vip' terms: price multiplier 0.8, rpm 60, tpm unlimited, concurrency 4." in said
    group = next(g for g in cli_json("groups", "list") if g["name"] == "vip")
    assert (group["multiplier"], group["rpm"], group["tpm"], group["concurrency"]) == ("0.8", 60, None, 4)

    terms = cli_json("groups", "terms", "vip", "--tpm", "10000", "--clear", "rpm,concurrency")
    assert (terms["multiplier"], terms["rpm"], terms["tpm"], terms["concurrency"]) == ("0.8", None, 10000, None)

    assert "cannot remove 'name'" in cli("groups", "terms", "vip", "--clear", "name", ok=False).output
    assert "both set and cleared" in cli("groups", "terms", "vip", "--rpm", "5", "--clear", "rpm", ok=False).output
    assert "Nothing to update" in cli("groups", "terms", "vip", ok=False).output
    assert "must be positive" in cli("groups", "terms", "vip", "--rpm", "0", ok=False).output
    assert "multiplier" in cli("groups", "terms", "vip", "--multiplier", "-1", ok=False).output
    assert "No group 'nope'" in cli("groups", "terms", "nope", "--rpm", "5", ok=False).output


def test_key_caps_and_limits(cli: Invoke, cli_json: JsonRun) -> None:
    _owner(cli)
    created = cli("keys", "create", "--name", "ci", "--owner", "alice", "--cap-daily", "5", "--rpm", "30").output
    assert "caps.daily" in created and "$5.00" in created and "limits.rpm" in created
    key = cli_json("keys", "list")[0]
    assert key["caps"] == {"total": None, "daily": "5", "monthly": None}
    assert key["limits"] == {"rpm": 30, "tpm": None, "concurrency": None}
    shown = cli("keys", "show", key["id"]).output
    assert "$5.00" in shown and "unlimited" in shown

    made = cli_json("keys", "create", "--name", "b", "--owner", "alice", "--cap-total", "100",
                    "--cap-monthly", "20.5", "--tpm", "1000", "--concurrency", "2")
    assert made["caps"] == {"total": "100", "daily": None, "monthly": "20.5"}
    assert made["limits"] == {"rpm": None, "tpm": 1000, "concurrency": 2}

    updated = cli_json("keys", "update", key["id"], "--cap-daily", "none", "--cap-total", "50", "--rpm", "0",
                       "--concurrency", "3")
    assert updated["caps"] == {"total": "50", "daily": None, "monthly": None}
    assert updated["limits"] == {"rpm": None, "tpm": None, "concurrency": 3}
    assert "Key " in cli("keys", "update", key["id"], "--tpm", "500").output

    bad = cli("keys", "update", key["id"], "--cap-monthly", "lots", ok=False)
    assert bad.exit_code == 2 and "'lots' is not an amount" in bad.output
    bad = cli("keys", "create", "--name", "x", "--owner", "alice", "--cap-daily", "five", ok=False)
    assert bad.exit_code == 2 and "'five' is not an amount" in bad.output
    assert "must be positive" in cli("keys", "update", key["id"], "--rpm", "-3", ok=False).output
    assert "cannot be negative" in cli("keys", "create", "--name", "x", "--owner", "alice",
                                       "--cap-total", "-1", ok=False).output


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_check_fails_while_a_dead_process_journal_is_not_replayed(cli: Invoke, tmp_path: Path, lang: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _owner(cli)
    spool = tmp_path / "data" / "spool"
    spool.mkdir(parents=True)
    lines = [{"r": {"request_id": "req_a"}}, {"p": "req_b", "o": "own_x", "ct": 3}]
    (spool / "dead01.1.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (spool / "dead01.lock").touch()  # nobody holds it: the process is gone
    monkeypatch.setenv("RELAYGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RELAYGATE_LANG", lang)
    bad = cli("balance", "check", ok=False)
    assert bad.exit_code == 1
    said = {"en": "Gateway process dead01 stopped (crash or kill) and its journal is not stored yet: "
                  "1 finished requests and 1 streams",
            "zh-CN": "网关进程 dead01 已停止（崩溃或被强制结束），其日志尚未入库："
                     "1 个已完成的请求和 1 个进行中的流式请求"}
    assert "".join(said[lang].split()) in "".join(bad.output.split()), bad.output  # wherever Rich wraps it
    report = json.loads(cli("balance", "check", "--json", ok=False).stdout)
    assert report["ok"] is False
    assert report["unreplayed_journals"] == [{"instance": "dead01", "records": 1, "running_streams": 1}]


def test_chinese_output(cli: Invoke, cli_json: JsonRun, monkeypatch: pytest.MonkeyPatch) -> None:
    _owner(cli)
    monkeypatch.setenv("RELAYGATE_LANG", "zh-CN")
    assert "已为 alice 充值 $8.00（月度预算）；当前余额 $8.00。" in cli(
        "balance", "topup", "alice", "8", "--reason", "月度预算").output
    assert "已调整 alice 的余额 -$1.00（更正）；当前余额 $7.00。" in cli(
        "balance", "adjust", "alice", "-1", "--reason", "更正").output
    shown = cli("balance", "show", "alice").output
    assert "alice" in shown and "的余额" in shown and "可用" in shown and "$7.00" in shown
    md = cli("balance", "statement", "alice").output
    assert "# 余额对账单: alice" in md and "期末余额" in md and "$7.00" in md
    assert "全部 1 个负责人对账一致" in cli("balance", "check").output
    bad = cli("balance", "topup", "alice", "八元", "--reason", "x", ok=False)
    assert bad.exit_code == 2 and "错误：'八元' 不是有效金额" in bad.output
    assert "每 1M tokens：输入 $0.15 / 输出 $0.60" in cli("prices", "set", "m", "--input", "0.15",
                                                       "--output", "0.6").output
    assert "已删除模型 'm' 的价格。" in cli("prices", "delete", "m").output
    assert "价格倍率 0.9，rpm 不限" in cli("groups", "terms", "default", "--multiplier", "0.9").output
    assert "不限" in cli("keys", "create", "--name", "k", "--owner", "alice", "--cap-daily", "5").output


def test_alert_rules_from_the_cli(cli: Invoke, cli_json: JsonRun) -> None:
    cli("owners", "add", "ops")
    assert cli_json("alerts", "add", "--owner", "ops", "--balance-below", "5")["kind"] == "balance_below"
    listed = cli_json("alerts", "list")
    assert listed[0]["threshold"] == "$5.00"
    bad = cli("alerts", "add", "--owner", "ops", ok=False)
    assert bad.exit_code == 2 and "--balance-below" in bad.output
    assert cli_json("alerts", "events") == []
    cli("alerts", "delete", str(listed[0]["id"]))
    assert cli_json("alerts", "list") == []


def test_media_prices_per_1m_output_tokens_in_both_languages(cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    """A transcription priced per 1M output (transcript) tokens: set, then listed with its unit in en and zh-CN."""
    assert "$2.50 per 1M output tokens" in cli("media", "prices", "set", "gpt-4o-transcribe", "--unit", "mtokens",
                                               "--amount", "2.5").output
    assert "$2.50 per 1M output tokens" in "".join(cli("media", "prices", "list").output.split("\n"))
    monkeypatch.setenv("RELAYGATE_LANG", "zh-CN")
    assert "每百万输出" in cli("media", "prices", "list").output
    assert cli("media", "prices", "set", "x", "--unit", "mtoken", "--amount", "1", ok=False).exit_code != 0
