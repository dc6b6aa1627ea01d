"""SSE misses confirmed from the server's log (issue 6): the engine follows --server-log itself.

Real servers on 127.0.0.1: the demo server (its log is the file the engine follows) and the fault
server (ids "<behaviour>-<n>" in creation order, so a test can write log lines for its sessions).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import MappingProxyType

import pytest
from cli_helpers import run_cli

from tests.servers.faults import FaultState, build_app
from tests.servers.harness import check_invariants, config, run_timed
from tests.servers.run import ThreadedUvicorn
from webchat_tui.config import RunConfig
from webchat_tui.engine.engine import LoadEngine
from webchat_tui.engine.metrics import MetricsSnapshot, Recorder, Warning
from webchat_tui.summary import format_summary, summarize

MISS_RE = re.compile(r"SSE connection not found for session_id: (\S+)")
STAMP = "2026-12-04 16:31:02,123"


def miss_line(session_id: str) -> str:
    return f"{STAMP} WARNING SSE connection not found for session_id: {session_id}\n"


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


def logged_miss_ids(path: str | Path) -> set[str]:
    """Distinct session ids the server logged as "SSE connection not found"."""
    return set(MISS_RE.findall(Path(path).read_text(encoding="utf-8", errors="replace")))


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.01)


@pytest.fixture
def faults() -> Iterator[ThreadedUvicorn]:
    """A fresh fault server per test: ids start at 1 ("silent-1", "ok-1", ...)."""
    with ThreadedUvicorn(build_app(FaultState())) as server:
        yield server


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "server.log"
    path.write_text(f"{STAMP} INFO an old line from before the run\n" + miss_line("old-1"))
    return path


# --- against the demo server: the "done when" of the issue -------------------------------------

DEMO_FLAGS = dict(stream_register_delay_ms=50, ai_latency_ms=50, ai_latency_sigma=0.2,
                  tokens_per_reply=3, provider_rpm=1_000_000, seed=3)


@pytest.mark.parametrize("register_delay_ms", [50, 5], ids=["all-miss", "mixed"])
async def test_burst_confirmed_equals_distinct_sessions_the_server_logged(make_demo_server,
                                                                          register_delay_ms):
    demo = make_demo_server(**(DEMO_FLAGS | {"stream_register_delay_ms": register_delay_ms}))
    # 300 sessions; misses end at once, so the 60 s threshold is never reached.
    cfg = config(demo.url, rate=150, duration_s=2.0, send_mode="burst", threshold_ms=60_000,
                 grace_ms=5_000, server_log=demo.log_file)
    _, snap = await run_timed(cfg)
    logged = logged_miss_ids(demo.log_file)
    assert snap.started >= 250 and len(logged) >= 30, (snap.started, len(logged))
    assert snap.sse_miss["server_confirmed"] == len(logged)
    # Every miss was ended by the log, none waited for its deadline to be inferred.
    assert snap.outcomes["sse_miss"] == len(logged)
    confirmed = sum(n for key, n in snap.outcome_details.items()
                    if key.startswith("sse_miss: server confirmed"))
    assert confirmed == len(logged)
    assert snap.sse_miss.get("foreign", 0) == snap.sse_miss.get("late", 0) == 0
    missed = {w.session_id for w in snap.warnings if w.kind == "sse_miss"}
    assert missed and missed <= logged  # the warnings name the sessions the server named


async def test_wait_mode_gives_zero(make_demo_server):
    demo = make_demo_server(**DEMO_FLAGS)
    _, snap = await run_timed(config(demo.url, rate=100, duration_s=1.5, send_mode="wait",
                                     server_log=demo.log_file))
    assert snap.started >= 100
    assert logged_miss_ids(demo.log_file) == set()
    assert snap.sse_miss["server_confirmed"] == 0 and snap.outcomes["sse_miss"] == 0
    assert snap.ok == snap.finished


def test_headless_burst_preset_in_demo_mode_confirms_its_misses():
    """`webchat-tui --headless --preset burst`: the demo's log is followed without a flag, and
    every miss is confirmed (an unconfirmed one could only be inferred at its 35 s deadline)."""
    # A 50 ms race window: every message beats its stream, however loaded the machine is.
    result = run_cli("--headless", "--preset", "burst", "--duration", "1", "--json",
                     "--demo-args", "--stream-register-delay-ms 50 --stream-register-jitter-ms 0",
                     "--log-pattern", "ready=listening on", timeout=120)
    assert result.returncode == 1, result.stderr  # the seed's failing run fails
    assert "Traceback" not in result.stderr
    summary = json.loads(result.stdout)
    miss = summary["sse_miss"]
    assert miss["server_confirmed"] == summary["sessions"]["started"] > 0
    assert miss["server_confirmed"] == miss["race"] + miss["lost"]
    assert miss["server_confirmed"] == summary["outcomes"]["sse_miss"]
    assert miss["foreign"] == miss["late"] == 0
    assert summary["log_patterns"] == {"ready": 0}  # the start-up line predates the run
    assert "server confirmed" in result.stderr and "server log    ready 0" in result.stderr


# --- against the fault server: lines written by the test ---------------------------------------

def open_run(target: str, log: Path, **kw) -> RunConfig:
    return config(target, rate=kw.pop("rate", 20), duration_s=None, threshold_ms=60_000,
                  server_log=str(log), **kw)


async def test_foreign_duplicates_and_log_patterns(faults, log):
    cfg = open_run(f"{faults.url}/silent", log,
                   log_patterns=(("db_pool", r"QueuePool limit of size \d+"),
                                 ("closed", r"stream closed for (?P<session_id>\S+)")))
    engine = LoadEngine(cfg)
    await engine.start()
    try:
        await until(lambda: engine.snapshot().started >= 3, "3 sessions started")
        await asyncio.sleep(0.2)  # their creates are answered: silent-1..3 are in flight
        append(log, miss_line("silent-1") + miss_line("silent-1") + miss_line("someone-else")
               + f"{STAMP} ERROR QueuePool limit of size 20 overflow 0 reached\n"
               + miss_line("silent-2") + miss_line("silent-1")
               + f"{STAMP} INFO stream closed for silent-3\n"
               + f"{STAMP} ERROR QueuePool limit of size 20 overflow 0 reached\n")
        await until(lambda: engine.snapshot().warning_counts.get("closed") == 1, "all lines read")
        snap = engine.snapshot()
    finally:
        await engine.stop(0.0)
    assert snap.sse_miss["server_confirmed"] == 2  # silent-1 three lines, silent-2 one: twice
    assert snap.outcomes["sse_miss"] == 2
    assert snap.sse_miss["foreign"] == 1 and snap.sse_miss.get("late", 0) == 0
    assert snap.warning_counts["db_pool"] == 2
    closed = [w for w in snap.warnings if w.kind == "closed"]
    assert closed[0].session_id == "silent-3" and "stream closed" in closed[0].message
    missed = {w.session_id for w in snap.warnings if w.kind == "sse_miss"}
    assert missed == {"silent-1", "silent-2"}
    assert any(w.kind == "log" and "foreign" in w.message for w in snap.warnings)
    final = engine.snapshot()
    check_invariants(final)
    summary = summarize(final, cfg.redacted())
    assert summary["sse_miss"]["server_confirmed"] == 2 and summary["sse_miss"]["foreign"] == 1
    assert summary["log_patterns"] == {"db_pool": 2, "closed": 1}
    assert "server log    db_pool 2  closed 1" in format_summary(summary)


async def test_a_session_that_already_got_its_reply_counts_as_late(faults, log):
    engine = LoadEngine(open_run(f"{faults.url}/ok", log, rate=10))
    await engine.start()
    try:
        await until(lambda: engine.snapshot().ok >= 2, "two replies")
        append(log, miss_line("ok-1") + miss_line("ok-1"))
        await until(lambda: engine.snapshot().sse_miss.get("late") == 1, "the late line")
    finally:
        await engine.stop(0.0)
    snap = engine.snapshot()
    check_invariants(snap)
    assert snap.sse_miss["server_confirmed"] == 0 and snap.outcomes["sse_miss"] == 0
    assert snap.sse_miss.get("foreign", 0) == 0
    assert [w.session_id for w in snap.warnings if w.kind == "late_miss"] == ["ok-1"]


async def test_log_rotated_mid_run_keeps_being_followed(faults, log):
    engine = LoadEngine(open_run(f"{faults.url}/silent", log))
    await engine.start()
    try:
        await until(lambda: engine.snapshot().started >= 3, "3 sessions started")
        await asyncio.sleep(0.2)
        append(log, miss_line("silent-1"))
        await until(lambda: engine.snapshot().sse_miss["server_confirmed"] == 1, "first miss")
        os.rename(log, log.with_suffix(".log.1"))  # rotation: rename, then a new file
        append(log, miss_line("silent-2") + miss_line("silent-3"))
        await until(lambda: engine.snapshot().sse_miss["server_confirmed"] == 3, "after rotation")
    finally:
        await engine.stop(0.0)
    check_invariants(engine.snapshot())


async def test_only_lines_written_during_the_run_count(faults, log):
    """old-1 is in the file before the run starts: not read."""
    engine = LoadEngine(open_run(f"{faults.url}/silent", log))
    await engine.start()
    try:
        await until(lambda: engine.snapshot().started >= 2, "2 sessions started")
        await asyncio.sleep(0.2)
        append(log, miss_line("silent-2"))
        await until(lambda: engine.snapshot().sse_miss["server_confirmed"] == 1, "the miss")
    finally:
        await engine.stop(0.0)
    snap = engine.snapshot()
    assert snap.sse_miss.get("foreign", 0) == 0 and snap.sse_miss.get("late", 0) == 0


async def test_a_missing_log_is_one_notice_then_read_from_its_start(faults, tmp_path):
    missing = tmp_path / "not-there-yet.log"
    engine = LoadEngine(open_run(f"{faults.url}/silent", missing))
    await engine.start()
    try:
        await until(lambda: engine.snapshot().warning_counts.get("log") == 1, "the notice")
        await until(lambda: engine.snapshot().started >= 2, "2 sessions started")
        await asyncio.sleep(0.2)
        append(missing, miss_line("silent-1"))  # it appears: read from its start
        await until(lambda: engine.snapshot().sse_miss["server_confirmed"] == 1, "the miss")
    finally:
        await engine.stop(0.0)
    notices = [w.message for w in engine.snapshot().warnings if w.kind == "log"]
    assert sum("not found yet" in n for n in notices) == 1
    assert any("appeared" in n for n in notices)


async def test_a_bad_pattern_fails_start_before_anything_opens(faults, log):
    engine = LoadEngine(open_run(f"{faults.url}/silent", log, miss_pattern=r"no group (\S+)"))
    with pytest.raises(ValueError, match="session_id"):
        await engine.start()
    await engine.stop(0.0)


async def test_a_flood_of_10k_lines_per_second_is_all_counted(faults, log):
    """10,000 lines/s for a second (10% pattern lines, 1% foreign misses) while the engine runs:
    every line is counted and the sessions are not hurt."""
    engine = LoadEngine(open_run(f"{faults.url}/ok", log, rate=50,
                                 log_patterns=(("db_pool", "QueuePool limit"),)))

    def flood() -> None:
        with open(log, "a", encoding="utf-8") as f:
            for block in range(10):
                lines = []
                for i in range(block * 1000, block * 1000 + 1000):
                    if i % 100 == 0:
                        lines.append(miss_line(f"other-{i}"))
                    elif i % 10 == 0:
                        lines.append(f"{STAMP} ERROR QueuePool limit of size 20 reached ({i})\n")
                    else:
                        lines.append(f"{STAMP} INFO GET /api/things/{i} 200\n")
                f.write("".join(lines))
                f.flush()
                time.sleep(0.1)

    await engine.start()
    try:
        await asyncio.to_thread(flood)
        await until(lambda: engine.snapshot().warning_counts.get("db_pool") == 900, "all lines")
        await until(lambda: engine.snapshot().sse_miss.get("foreign") == 100, "foreign lines")
    finally:
        await engine.stop(1.0)
    snap = engine.snapshot()
    check_invariants(snap)
    assert snap.ok >= 40, dict(snap.outcomes)
    assert snap.ok + snap.outcomes["cancelled"] == snap.started, dict(snap.outcomes)


# --- the CLI flags -----------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--log-pattern", "no_equals"], "expected NAME=REGEX"),
    (["--log-pattern", "db=(unclosed"], "invalid regex"),
    (["--log-pattern", "sse_miss=x"], "built-in warning kind"),
    (["--log-pattern", "a=x", "--log-pattern", "a=y"], "given twice"),
    (["--miss-pattern", r"not found (\S+)"], "session_id"),
    (["--target", "http://127.0.0.1:9", "--miss-pattern", "x(?P<session_id>y)"],
     "needs --server-log"),
])
def test_bad_pattern_flags_are_one_line_and_exit_2(args, message):
    result = run_cli("--headless", *args, timeout=30)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_pattern_flags_reach_the_config():
    from webchat_tui.cli import build_config, run_parser

    args = run_parser().parse_args(["--server-log", "s.log", "--miss-pattern",
                                    r"gone: (?P<session_id>\w+)", "--log-pattern",
                                    "db_pool=QueuePool limit", "--log-pattern", "ai=status=429"])
    cfg = build_config(args)
    assert cfg.miss_pattern == r"gone: (?P<session_id>\w+)"
    assert cfg.log_patterns == (("db_pool", "QueuePool limit"), ("ai", "status=429"))
    assert cfg.redacted()["log_patterns"] == [["db_pool", "QueuePool limit"], ["ai", "status=429"]]
    assert build_config(run_parser().parse_args(["--preset", "burst"])).send_mode == "burst"
    assert build_config(run_parser().parse_args(
        ["--preset", "burst", "--send-mode", "wait"])).send_mode == "wait"


# --- snapshots and the dashboard panel ---------------------------------------------------------

def recorded_snapshot() -> MetricsSnapshot:
    now = [0]
    rec = Recorder(0, 10, 1.0, "burst", clock=lambda: now[0])
    rec.server_confirmed_miss()
    rec.server_log_miss("foreign")
    rec.server_log_miss("late")
    rec.server_log_miss("late")
    rec.warn("db_pool", "QueuePool limit of size 20 reached")
    with pytest.raises(ValueError):
        rec.server_log_miss("run")
    return rec.snapshot()


def test_foreign_and_late_survive_json_and_merge():
    snap = recorded_snapshot()
    assert dict(snap.sse_miss) == {"race": 0, "lost": 0, "server_confirmed": 1,
                                   "foreign": 1, "late": 2}
    back = MetricsSnapshot.from_json(json.loads(json.dumps(snap.to_json())))
    assert dict(back.sse_miss) == dict(snap.sse_miss)
    assert dict(snap.merge(back).sse_miss)["late"] == 4


async def test_warnings_panel_shows_confirmed_misses_and_pattern_counts():
    from textual.app import App, ComposeResult
    from textual.widgets import Log, Static

    from webchat_tui.tui.widgets.warnings_log import WarningsLog

    class Host(App):
        def compose(self) -> ComposeResult:
            yield WarningsLog(id="warnings")

    warnings = (Warning(1.2, "sse_miss", "sse_miss: server confirmed (race)", "abc123"),
                Warning(1.3, "db_pool", "QueuePool limit of size 20 reached"))
    counts = MappingProxyType({"sse_miss": 3, "db_pool": 2})
    sse_miss = {"race": 3, "lost": 0, "server_confirmed": 3, "foreign": 1, "late": 0}
    async with Host().run_test(size=(120, 20)) as pilot:
        panel = pilot.app.query_one(WarningsLog)
        assert panel.show(warnings, counts, sse_miss) == 2
        await pilot.pause()
        lines = panel.query_one(Log).lines
        assert "abc123" in lines[0] and "server confirmed" in lines[0]
        label = str(panel.query_one("#warning-counts", Static).render())
        assert "sse_miss 3 (3 confirmed)" in label
        assert "db_pool 2" in label and "foreign misses 1" in label
        panel.show(warnings, counts)  # without the mapping (older callers): plain counts
        await pilot.pause()
        label = str(panel.query_one("#warning-counts", Static).render())
        assert "confirmed" not in label and "sse_miss 3" in label
