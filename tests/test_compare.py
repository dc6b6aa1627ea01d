"""`webchat-tui compare A B`: side-by-side table, JSON, --fail-on-regression, bad input."""

from __future__ import annotations

import json

import pytest
from cli_helpers import make_snapshot, run_cli

from webchat_tui.config import RunConfig
from webchat_tui.snapshot import SNAPSHOT_FILE, save_snapshot
from webchat_tui.summary import compare_summaries, format_compare, summarize

CONFIG = RunConfig(target="http://127.0.0.1:9", preset="burst", rate=4.0, duration_s=2.0)


def summary(**kw) -> dict:
    return summarize(make_snapshot(**kw), CONFIG.redacted())


def row(result: dict, name: str) -> dict:
    return next(r for r in result["rows"] if r["name"] == name)


def test_rows_deltas_and_directions():
    a, b = summary(ok=10, slow=0), summary(ok=8, slow=2)
    result = compare_summaries(a, b)
    ok, slow = row(result, "outcome ok"), row(result, "outcome slow")
    assert (ok["a"], ok["b"], ok["delta"], ok["worse_pct"]) == (10, 8, -2, 20.0)
    assert ok["regression"] and slow["regression"]        # 0 -> 2 failures is worse
    rate = row(result, "success rate %")
    assert rate["a"] == 100.0 and rate["b"] == 80.0 and rate["regression"]
    assert row(result, "sessions started")["better"] is None
    assert not row(result, "sessions started")["regression"]
    assert result["failed"] is False                       # no limit given: nothing fails
    same = compare_summaries(a, a)
    assert not any(r["regression"] for r in same["rows"])


def test_fail_on_regression_gates_on_p99_and_success_rate_only():
    base = summary(ok=10, slow=0)
    worse_rate = summary(ok=9, slow=1)                      # success 100 -> 90 %
    assert compare_summaries(base, worse_rate, fail_on_regression=5)["failed"]
    assert not compare_summaries(base, worse_rate, fail_on_regression=15)["failed"]
    gates = compare_summaries(base, worse_rate, fail_on_regression=5)["regressions"]
    assert gates == ["success rate 100.0% -> 90.0%"]
    # An improvement never fails, however large.
    assert not compare_summaries(worse_rate, base, fail_on_regression=0)["failed"]


def test_p99_gate_with_a_slower_run():
    a = summary(ok=10, slow=0)
    b = json.loads(json.dumps(a))
    b["latency_ms"]["total"]["p99"] = a["latency_ms"]["total"]["p99"] * 1.5
    result = compare_summaries(a, b, fail_on_regression=20)
    assert result["failed"] and result["regressions"][0].startswith("total p99 ")
    assert not compare_summaries(a, b, fail_on_regression=60)["failed"]


def test_table_marks_regressions_and_colours_only_when_asked():
    a, b = summary(ok=10, slow=0), summary(ok=8, slow=2)
    plain = format_compare(a, b, names=("a", "b"))
    assert "\x1b[" not in plain
    slow_line = next(line for line in plain.splitlines() if line.startswith("outcome slow"))
    assert slow_line.rstrip().endswith("worse")
    ok_line = next(line for line in plain.splitlines() if line.startswith("outcome ok"))
    assert "-20.0%" in ok_line
    coloured = format_compare(a, b, color=True)
    assert "\x1b[31moutcome slow" in coloured
    improved = format_compare(b, a, color=True)
    assert "\x1b[32moutcome ok" in improved
    gated = format_compare(a, b, fail_on_regression=5)
    assert gated.splitlines()[-1].startswith("REGRESSION: success rate 100.0% -> 80.0%")


@pytest.fixture
def two(tmp_path):
    a = save_snapshot(make_snapshot(ok=10, slow=0), CONFIG, tmp_path)
    b = save_snapshot(make_snapshot(ok=8, slow=2), CONFIG, tmp_path)
    return a, b


def test_compare_command_exit_codes_and_json(two):
    a, b = two
    table = run_cli("compare", str(a), str(b))
    assert table.returncode == 0, table.stderr
    assert "\x1b[" not in table.stdout          # not a terminal: no colour codes
    assert "worse" in table.stdout
    gated = run_cli("compare", str(a), str(b), "--fail-on-regression", "10")
    assert gated.returncode == 1 and "REGRESSION" in gated.stdout
    relaxed = run_cli("compare", str(a), str(b), "--fail-on-regression", "50")
    assert relaxed.returncode == 0 and "no regression" in relaxed.stdout
    as_json = run_cli("compare", str(a), str(b), "--json", "--fail-on-regression", "10")
    assert as_json.returncode == 1
    doc = json.loads(as_json.stdout)
    assert doc["failed"] is True and doc["a"] == str(a)
    assert {r["name"] for r in doc["rows"]} >= {"success rate %", "total p99 ms"}


@pytest.mark.parametrize("content, problem", [
    (None, "not found"),
    ('{"schema_version": 1, "conf', "truncated or corrupt"),
    ("\x00\x01garbage", "truncated or corrupt"),
    ('{"schema_version": 7, "config": {}, "metrics": {}}', "newer than this"),
])
def test_compare_and_report_on_bad_snapshots_exit_2(two, tmp_path, content, problem):
    bad = tmp_path / "bad" / SNAPSHOT_FILE
    bad.parent.mkdir()
    if content is not None:
        bad.write_text(content)
    for args in (("compare", str(two[0]), str(bad)), ("report", str(bad))):
        result = run_cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and problem in lines[0], lines
        assert result.stdout == ""


def test_bad_regression_limit_is_a_usage_error(two):
    result = run_cli("compare", str(two[0]), str(two[1]), "--fail-on-regression", "-3")
    assert result.returncode == 2 and "--fail-on-regression" in result.stderr
