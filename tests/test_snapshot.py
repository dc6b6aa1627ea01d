"""Snapshot files: write/read round trip, atomic writes, clear errors, no secrets, `report`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import make_snapshot, run_cli

from webchat_tui import __version__
from webchat_tui.config import RunConfig, TargetProfile
from webchat_tui.snapshot import (
    SCHEMA_VERSION,
    SNAPSHOT_FILE,
    SnapshotError,
    load_snapshot,
    save_snapshot,
)
from webchat_tui.summary import format_compare, format_summary, summarize

TOKEN = "tok-UNIQUE-5b1e0c2d9a"
CONFIG = RunConfig(target="http://127.0.0.1:9", preset="burst", rate=4.0, duration_s=2.0)


def only_file_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_round_trip(tmp_path):
    snap = make_snapshot()
    folder = save_snapshot(snap, CONFIG, tmp_path, svg="<svg/>", label="first")
    assert folder.parent == tmp_path
    assert re.fullmatch(r"\d{8}T\d{6}Z-burst", folder.name)
    assert only_file_names(folder) == ["screen.svg", SNAPSHOT_FILE]
    assert (folder / "screen.svg").read_text() == "<svg/>"

    for where in (folder, folder / SNAPSHOT_FILE):
        meta, loaded = load_snapshot(where)
        assert meta["schema_version"] == SCHEMA_VERSION
        assert meta["tool_version"] == __version__
        assert meta["label"] == "first"
        for key in ("started_at", "saved_at"):
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", meta[key])
        assert meta["started_at"] < meta["saved_at"]   # elapsed 2.5 s before the save
        assert meta["final"] is True
        assert meta["config"] == CONFIG.redacted()
        assert "metrics" not in meta
        assert loaded.ok == snap.ok and loaded.finished == snap.finished
        assert loaded.outcomes == snap.outcomes
        assert loaded.histograms["total"].get_total_count() == 10
        assert summarize(loaded, meta["config"]) == meta["summary"]


def test_two_saves_in_one_second_get_two_folders_and_reuse_overwrites(tmp_path):
    a = save_snapshot(make_snapshot(), CONFIG, tmp_path)
    b = save_snapshot(make_snapshot(), CONFIG, tmp_path)
    assert a != b and a.exists() and b.exists()
    again = save_snapshot(make_snapshot(ok=3), CONFIG, tmp_path, folder=a)
    assert again == a
    assert load_snapshot(a)[1].ok == 3
    assert only_file_names(a) == [SNAPSHOT_FILE]  # no temp file left behind


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    folder = save_snapshot(make_snapshot(ok=5), CONFIG, tmp_path)
    before = (folder / SNAPSHOT_FILE).read_bytes()

    def crash(*_args, **_kwargs):
        raise KeyboardInterrupt  # the worst moment: between writing the temp and renaming it

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        save_snapshot(make_snapshot(ok=1), CONFIG, tmp_path, folder=folder)
    assert (folder / SNAPSHOT_FILE).read_bytes() == before
    assert only_file_names(folder) == [SNAPSHOT_FILE]


def test_secrets_never_reach_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SNAP_TOKEN", TOKEN)
    profile = TargetProfile(headers=(("Authorization", "Bearer ${SNAP_TOKEN}"),
                                     ("X-Api-Key", "literal-" + TOKEN)))
    config = RunConfig(target="http://127.0.0.1:9", profile=profile)
    snap = make_snapshot(warning=f"http 401: invalid token {TOKEN}")
    folder = save_snapshot(snap, config, tmp_path, svg=f"<svg>{TOKEN}</svg>", label=TOKEN)
    for file in folder.iterdir():
        assert TOKEN not in file.read_text(), file.name
    meta, loaded = load_snapshot(folder)
    assert "***" in loaded.warnings[0].message
    assert meta["config"]["profile"]["headers"] == ["Authorization", "X-Api-Key"]


@pytest.mark.parametrize("content, problem", [
    (None, "not found"),
    ("", "truncated or corrupt"),
    ('{"schema_version": 1, "config": {', "truncated or corrupt"),
    ("[1, 2]", "no schema_version"),
    ('{"schema_version": 99, "config": {}, "metrics": {}}', "newer than this"),
    ('{"schema_version": "1", "config": {}, "metrics": {}}', "bad schema_version"),
    ('{"schema_version": 1, "config": {}}', "missing or bad 'metrics'"),
    ('{"schema_version": 1, "config": {}, "metrics": {"x": 1}}', "bad metrics section"),
])
def test_unreadable_snapshots_give_one_line(tmp_path, content, problem):
    path = tmp_path / SNAPSHOT_FILE
    if content is not None:
        path.write_text(content)
    with pytest.raises(SnapshotError) as info:
        load_snapshot(path)
    assert problem in str(info.value) and "\n" not in str(info.value)


def test_truncated_real_snapshot_is_rejected(tmp_path):
    folder = save_snapshot(make_snapshot(), CONFIG, tmp_path)
    file = folder / SNAPSHOT_FILE
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    with pytest.raises(SnapshotError, match="truncated or corrupt"):
        load_snapshot(folder)


def test_summary_numbers():
    s = summarize(make_snapshot(ok=9, slow=1, started=10), CONFIG.redacted())
    assert s["sessions"] == {"started": 10, "finished": 10, "ok": 9, "failed": 1,
                             "cancelled": 0, "in_flight": 0, "dropped": 0}
    assert s["success_rate"] == 90.0 and s["passed"] is False  # fail_under 95
    assert s["outcomes"]["ok"] == 9 and s["outcomes"]["slow"] == 1
    assert s["rate"]["achieved"] == 5.0       # 10 started over the planned 2 s, not elapsed 2.5 s
    assert s["rate"]["target"] == 4.0
    assert 790 < s["latency_ms"]["total"]["p50"] < 820
    assert s["latency_ms"]["send"]["count"] == 0
    text = format_summary(s)
    assert "FAIL" in text and "90.0%" in text and "slow" in text
    assert "start lag" in text and "sse miss" in text


def test_report_and_compare_commands(tmp_path):
    a = save_snapshot(make_snapshot(ok=9), CONFIG, tmp_path)
    b = save_snapshot(make_snapshot(ok=5, slow=5), CONFIG, tmp_path)
    table = run_cli("report", str(a))
    assert table.returncode == 0, table.stderr
    assert "success rate" in table.stdout and "burst" in table.stdout
    as_json = run_cli("report", str(a / SNAPSHOT_FILE), "--json")
    assert json.loads(as_json.stdout)["sessions"]["ok"] == 9
    diff = run_cli("compare", str(a), str(b))
    assert diff.returncode == 0, diff.stderr
    assert re.search(r"outcome slow\s+1\s+5\s+\+4", diff.stdout), diff.stdout


def test_report_into_a_closed_pipe_is_not_an_error(tmp_path):
    """`webchat-tui report X | head -1`: the reader leaves early; exit 0, nothing on stderr."""
    a = save_snapshot(make_snapshot(ok=9), CONFIG, tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "webchat_tui", "report", str(a)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before it writes: every write hits a closed pipe
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert stderr == ""


def test_report_on_a_bad_snapshot_exits_2_with_one_line(tmp_path):
    (tmp_path / SNAPSHOT_FILE).write_text("{not json")
    result = run_cli("report", str(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("webchat-tui: error: snapshot ")
    assert "Traceback" not in result.stderr


def test_format_compare_skips_rows_zero_in_both():
    s = summarize(make_snapshot(), CONFIG.redacted())
    text = format_compare(s, s)
    assert "outcome ok" in text and "outcome timeout" not in text


def test_typed_reader_and_the_file_layout(tmp_path):
    from datetime import timedelta

    from webchat_tui.snapshot import read_snapshot
    folder = save_snapshot(make_snapshot(stop_at_s=2.0), CONFIG, tmp_path, final=False)
    saved = read_snapshot(folder)
    assert saved.path == folder / SNAPSHOT_FILE and saved.final is False
    assert saved.saved_at - saved.started_at == timedelta(seconds=2.5)
    assert saved.config["preset"] == "burst" and saved.metrics.ok == 9
    doc = json.loads((folder / SNAPSHOT_FILE).read_text())
    assert set(doc) == {"schema_version", "tool", "tool_version", "started_at", "saved_at",
                        "final", "label", "config", "summary", "metrics"}
    metrics = doc["metrics"]
    assert len(metrics["timeline"]) >= 3 and metrics["timeline"][0]["started"] == 4
    assert [e["kind"] for e in metrics["events"]] == ["stop"]
    assert metrics["outcomes"]["ok"] == 9 and metrics["warnings"][0]["session_id"] == "sid-1"
    assert set(metrics["histograms"]) >= {"create", "total", "start_lag"}
    assert doc["summary"]["latency_ms"]["total"]["p99"] > 0


def test_histograms_decode_with_hdrhistogram_to_the_summary_percentiles(tmp_path):
    from hdrh.histogram import HdrHistogram
    folder = save_snapshot(make_snapshot(ok=40, slow=0, started=40, elapsed_s=11), CONFIG,
                           tmp_path)
    doc = json.loads((folder / SNAPSHOT_FILE).read_text())
    for phase in ("total", "create"):
        hist = HdrHistogram.decode(doc["metrics"]["histograms"][phase].encode("ascii"))
        expected = doc["summary"]["latency_ms"][phase]
        assert hist.get_total_count() == expected["count"] == 40
        values = hist.get_percentile_to_value_dict([50.0, 90.0, 99.0])
        for p, key in ((50.0, "p50"), (90.0, "p90"), (99.0, "p99")):
            assert round(values[p] / 1000, 3) == expected[key], (phase, key)
        assert round(hist.get_max_value() / 1000, 3) == expected["max"]


def test_url_credentials_and_query_values_never_reach_the_file(tmp_path):
    config = RunConfig(target="http://user:hunter2-pw@127.0.0.1:1/?key=qv-SECRET-77&x=1",
                       profile=TargetProfile(base_url="http://tok-BASEURL-1@127.0.0.1:1"))
    snap = make_snapshot(warning="connect failed: http://user:hunter2-pw@127.0.0.1:1/?key="
                         "qv-SECRET-77")
    folder = save_snapshot(snap, config, tmp_path, svg="<svg>hunter2-pw</svg>")
    for file in folder.iterdir():
        text = file.read_text()
        for secret in ("hunter2", "qv-SECRET-77", "tok-BASEURL-1"):
            assert secret not in text, (file.name, secret)
    meta, loaded = load_snapshot(folder)
    assert meta["config"]["target"] == "http://***@127.0.0.1:1/?key=***&x=***"
    assert meta["summary"]["target"] == meta["config"]["target"]
    assert "***" in loaded.warnings[0].message


@pytest.mark.parametrize("change, problem", [
    (lambda d: d["config"].pop("preset"), "config.preset: missing or bad value"),
    (lambda d: d["config"].__setitem__("fail_under", "high"), "config.fail_under"),
    (lambda d: d["config"].__setitem__("stages", [{"rate": 1}]), "config.stages[0]"),
    (lambda d: d.__setitem__("saved_at", "yesterday"), "saved_at: not a UTC time"),
    (lambda d: d.__setitem__("tool", "locust"), "not a webchat-tui snapshot"),
    (lambda d: d["metrics"]["histograms"].__setitem__("total", "@@not-base64@@"),
     "not a valid HdrHistogram encoding"),
    (lambda d: d["metrics"].__setitem__("timeline", [{"t": "x"}]), "bad metrics section"),
    (lambda d: d.__setitem__("schema_version", SCHEMA_VERSION + 1), "upgrade webchat-tui"),
])
def test_the_reader_validates_every_section(tmp_path, change, problem):
    folder = save_snapshot(make_snapshot(), CONFIG, tmp_path)
    file = folder / SNAPSHOT_FILE
    doc = json.loads(file.read_text())
    change(doc)
    file.write_text(json.dumps(doc))
    with pytest.raises(SnapshotError) as info:
        load_snapshot(folder)
    assert problem in str(info.value) and "\n" not in str(info.value)
