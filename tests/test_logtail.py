"""LogTail on real files in tmp_path and a real event loop: bounded waits, no sleep-asserts."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from webchat_tui.engine.logpatterns import (
    DEFAULT_MISS_PATTERN,
    LogPatternError,
    compile_miss_pattern,
    parse_log_pattern,
    parse_log_patterns,
    required_prefix,
)
from webchat_tui.engine.logtail import LogTail

STAMP = "2026-12-04 16:31:02,123"


def miss(session_id: str) -> str:
    return f"{STAMP} WARNING SSE connection not found for session_id: {session_id}\n"


def info(text: str = "GET /api/sessions 201") -> str:
    return f"{STAMP} INFO {text}\n"


def append(path: Path, data: str | bytes) -> None:
    # Like a logging handler: O_APPEND, one write per call, flushed.
    with open(path, "ab") as f:
        f.write(data.encode() if isinstance(data, str) else data)


class Classifier:
    """Stands in for the engine: knows this run's in-flight ids and those already replied."""

    def __init__(self, run: set[str] = frozenset(), late: set[str] = frozenset()):
        self.run, self.late = set(run), set(late)
        self.calls: list[str] = []

    def __call__(self, session_id: str) -> str:
        self.calls.append(session_id)
        if session_id in self.run:
            return "run"
        return "late" if session_id in self.late else "foreign"


async def until(condition: Callable[[], bool], tail: LogTail, timeout_s: float = 20.0) -> None:
    """Poll `condition` in a bounded loop; fail with the tail's stats if it never holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s} s; stats={tail.stats}")
        await asyncio.sleep(0.005)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "server.log"
    path.write_bytes(b"")
    return path


async def test_correlation_run_foreign_late_and_duplicates_count_once(log: Path) -> None:
    classify = Classifier(run={"r1"}, late={"l1"})
    tail = LogTail(log, on_miss=classify, poll_s=0.01)
    tail.start()
    try:
        await until(lambda: tail.stats.following, tail)
        for line in (miss("r1"), info(), miss("r1"), miss("f1"), miss("l1"), miss("r1"),
                     miss("l1")):
            append(log, line)
        await until(lambda: tail.stats.matched_misses == 6, tail)
    finally:
        await tail.stop()
    s = tail.stats
    assert classify.calls == ["r1", "f1", "l1"]  # each id asked once, in log order
    assert (s.lines, s.distinct_miss_sessions, s.duplicate_miss_lines) == (7, 3, 3)
    assert (s.run_misses, s.foreign, s.late) == (1, 1, 1)
    assert not s.following  # stop() closed the file


async def test_starts_at_current_end_and_skips_a_half_written_old_line(log: Path) -> None:
    append(log, miss("old1") + miss("old2") + f"{STAMP} WARNING SSE connection not fo")
    classify = Classifier()
    tail = LogTail(log, on_miss=classify)
    await tail.poll()
    assert tail.stats.lines == 0
    # The rest of the pre-run line arrives first: it is not a line of this run.
    append(log, "und for session_id: old3\n" + miss("new1"))
    await tail.poll()
    assert classify.calls == ["new1"]
    assert tail.stats.lines == 1


async def test_from_start_when_asked(log: Path) -> None:
    append(log, miss("a") + miss("b"))
    classify = Classifier()
    tail = LogTail(log, on_miss=classify, from_end=False)
    await tail.poll()
    assert classify.calls == ["a", "b"]


async def test_partial_line_waits_for_its_newline(log: Path) -> None:
    classify = Classifier()
    tail = LogTail(log, on_miss=classify)
    await tail.poll()
    line = miss("abc123")
    append(log, line[:-4])  # "...session_id: abc" : would match with a wrong id
    await tail.poll()
    assert (tail.stats.lines, classify.calls) == (0, [])
    append(log, line[-4:])
    await tail.poll()
    assert classify.calls == ["abc123"]
    assert tail.stats.lines == 1


async def test_truncation_restarts_from_zero(log: Path) -> None:
    classify = Classifier()
    tail = LogTail(log, on_miss=classify)
    await tail.poll()
    append(log, info() * 20 + miss("before"))
    await tail.poll()
    os.truncate(log, 0)
    append(log, miss("after"))  # shorter than what we had read: the shrink is visible
    await tail.poll()
    assert classify.calls == ["before", "after"]
    assert tail.stats.truncations == 1
    assert tail.stats.lines == 22


async def test_rotation_drains_old_file_then_follows_new_one(log: Path) -> None:
    classify = Classifier()
    tail = LogTail(log, on_miss=classify, poll_s=0.01)
    tail.start()
    try:
        await until(lambda: tail.stats.following, tail)
        with open(log, "ab", buffering=0) as old_writer:  # the server's handler keeps its fd
            old_writer.write(miss("a").encode())
            await until(lambda: tail.stats.matched_misses == 1, tail)
            os.rename(log, log.with_suffix(".log.1"))
            # Written to the old file after the rename, and its last line is unterminated.
            old_writer.write((miss("b") + miss("c")[:-1]).encode())
            append(log, miss("d"))  # the new file at the same path
            await until(lambda: tail.stats.matched_misses == 4, tail)
    finally:
        await tail.stop()
    assert classify.calls == ["a", "b", "c", "d"]
    assert tail.stats.rotations == 1


async def test_rotation_race_old_file_written_after_our_eof(
        log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer appends to the old file between our EOF read and our look at the path."""
    classify = Classifier()
    tail = LogTail(log, on_miss=classify)
    await tail.poll()
    with open(log, "ab", buffering=0) as old_writer:
        old_writer.write(miss("a").encode())
        await tail.poll()
        os.rename(log, log.with_suffix(".log.1"))
        append(log, miss("c"))
        real_stat = os.stat

        def stat_then_write(path, *args, **kwargs):  # type: ignore[no-untyped-def]
            result = real_stat(path, *args, **kwargs)
            if os.fspath(path) == str(log) and "b" not in classify.calls:
                old_writer.write(miss("b").encode())
            return result

        monkeypatch.setattr(os, "stat", stat_then_write)
        await tail.poll()
    assert classify.calls == ["a", "b", "c"]


async def test_rename_away_then_new_file_later(log: Path) -> None:
    classify = Classifier()
    tail = LogTail(log, on_miss=classify)
    await tail.poll()
    append(log, miss("a"))
    os.rename(log, log.with_suffix(".log.1"))
    await tail.poll()  # no file at the path: the old one stays open
    assert (classify.calls, tail.stats.rotations, tail.stats.following) == (["a"], 0, True)
    append(log, info() + miss("b"))
    await tail.poll()
    assert classify.calls == ["a", "b"]
    assert tail.stats.rotations == 1


async def test_missing_file_waits_notices_once_then_reads_from_start(tmp_path: Path) -> None:
    path = tmp_path / "later.log"
    notices: list[str] = []
    classify = Classifier()
    tail = LogTail(path, on_miss=classify, on_notice=notices.append)
    for _ in range(5):
        await tail.poll()
    assert len(notices) == 1 and "not found yet" in notices[0] and str(path) in notices[0]
    assert not tail.stats.following
    append(path, miss("x") + miss("y"))
    await tail.poll()
    assert classify.calls == ["x", "y"]  # written during the run: read from its start
    assert len(notices) == 2 and "appeared" in notices[1]


async def test_missing_file_with_background_task(tmp_path: Path) -> None:
    path = tmp_path / "later.log"
    notices: list[str] = []
    tail = LogTail(path, on_miss=Classifier(), on_notice=notices.append, poll_s=0.01)
    stop = asyncio.Event()
    task = asyncio.create_task(tail.run(stop))
    try:
        await until(lambda: bool(notices), tail)
        append(path, miss("x"))
        await until(lambda: tail.stats.matched_misses == 1, tail)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert sum("not found yet" in n for n in notices) == 1


async def test_invalid_utf8_is_replaced_and_counted(log: Path) -> None:
    classify = Classifier()
    tail = LogTail(log, on_miss=classify)
    await tail.poll()
    append(log, b"bad \xff byte\n" + b"\xc3( broken pair\n"
                + miss("s1").encode()[:-1] + b" \xfe\n"
                + "a real \ufffd in the log\n".encode())
    await tail.poll()
    s = tail.stats
    assert (s.lines, s.decode_errors) == (4, 3)
    assert classify.calls == ["s1"]


async def test_extra_patterns_with_and_without_session_id(log: Path) -> None:
    matches: list[tuple[str, str | None, str]] = []
    tail = LogTail(log, on_miss=Classifier(), on_match=lambda *m: matches.append(m),
                   patterns={"db_pool": r"QueuePool limit of size \d+",
                             "closed": r"stream closed for (?P<session_id>\w+)",
                             "error": r"(ERROR|CRITICAL) "})  # no literal prefix: every line
    await tail.poll()
    pool = f"{STAMP} ERROR QueuePool limit of size 20 overflow 0 reached"
    append(log, info() + pool + "\r\n" + f"{STAMP} INFO stream closed for s9\n"
                + miss("s1") + f"{STAMP} CRITICAL disk full\n")
    await tail.poll()
    assert matches == [("db_pool", None, pool),
                       ("closed", "s9", f"{STAMP} INFO stream closed for s9"),
                       ("error", None, pool),
                       ("error", None, f"{STAMP} CRITICAL disk full")]
    assert dict(tail.stats.per_pattern) == {"db_pool": 1, "closed": 1, "error": 2}
    assert tail.stats.matched_misses == 1


async def test_custom_miss_pattern(log: Path) -> None:
    classify = Classifier()
    tail = LogTail(log, on_miss=classify, miss_pattern=r"no stream \[(?P<session_id>[0-9a-f]+)\]")
    await tail.poll()
    append(log, "no stream [beef]\n" + miss("default-format") + "no stream [zz]\n")
    await tail.poll()
    assert classify.calls == ["beef"]


async def test_callback_errors_are_counted_and_noticed_once(log: Path) -> None:
    notices: list[str] = []
    answers = iter(["bogus", "run"])

    def on_miss(session_id: str) -> str:
        if session_id == "boom":
            raise RuntimeError("engine gone")
        return next(answers)

    tail = LogTail(log, on_miss=on_miss, on_notice=notices.append)
    await tail.poll()
    append(log, miss("boom") + miss("boom") + miss("odd") + miss("fine"))
    await tail.poll()
    s = tail.stats
    assert (s.callback_errors, s.run_misses, s.distinct_miss_sessions) == (3, 1, 1)
    assert len(notices) == 1 and "engine gone" in notices[0]


async def test_remembered_ids_are_bounded(log: Path) -> None:
    classify = Classifier()
    tail = LogTail(log, on_miss=classify, remember_ids=2)
    await tail.poll()
    append(log, miss("a") + miss("b") + miss("b") + miss("c") + miss("a"))
    await tail.poll()
    assert classify.calls == ["a", "b", "c", "a"]  # "a" fell out of the window of 2
    assert tail.stats.duplicate_miss_lines == 1


async def test_overlong_line_is_skipped_with_bounded_memory(log: Path) -> None:
    classify = Classifier()
    tail = LogTail(log, on_miss=classify, max_line_bytes=100, batch_bytes=64)
    await tail.poll()
    append(log, "x" * 1000)
    await tail.poll()
    append(log, "y" * 1000 + miss("huge")[:-1] + "\n" + miss("ok"))
    await tail.poll()
    assert classify.calls == ["ok"]
    assert (tail.stats.overlong_lines, tail.stats.lines) == (1, 1)


@pytest.mark.parametrize("read_in_thread", [False, True], ids=["direct", "thread"])
async def test_flood_of_50k_lines_all_counted_and_loop_stays_responsive(
        log: Path, read_in_thread: bool) -> None:
    classify = Classifier(run={f"s{i}" for i in range(0, 50_000, 20)})
    tail = LogTail(log, on_miss=classify, poll_s=0.01, read_in_thread=read_in_thread,
                   patterns={"db_pool": r"QueuePool limit"})
    max_gap = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal max_gap
        while not done.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.002)
            max_gap = max(max_gap, time.perf_counter() - t)

    def write_flood() -> None:
        with open(log, "ab") as f:
            for start in range(0, 50_000, 1000):
                block = "".join(miss(f"s{i}") if i % 10 == 0 else info(f"GET /x/{i} 200")
                                for i in range(start, start + 1000))
                f.write(block.encode())
                f.flush()

    tail.start()
    tick = asyncio.create_task(ticker())
    try:
        await until(lambda: tail.stats.following, tail)
        await asyncio.to_thread(write_flood)
        await until(lambda: tail.stats.lines == 50_000, tail, timeout_s=60)
    finally:
        done.set()
        await tick
        await tail.stop()
    s = tail.stats
    assert (s.matched_misses, s.distinct_miss_sessions, s.run_misses) == (5000, 5000, 2500)
    assert s.foreign == 2500
    assert max_gap < 0.5, f"event loop stalled {max_gap:.3f} s during the flood"


@pytest.mark.parametrize("text, message", [
    ("no_equals_sign", "expected NAME=REGEX"),
    ("=QueuePool", "NAME must be"),
    ("db pool=QueuePool", "NAME must be"),
    ("db_pool=", "regex is empty"),
    ("db_pool=(unclosed", "invalid regex"),
    ("db_pool=x*", "matches an empty string"),
])
def test_parse_log_pattern_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_log_pattern(text)


def test_parse_log_pattern_ok_and_duplicates() -> None:
    name, regex = parse_log_pattern("db_pool=limit=(?P<session_id>\\d+)")
    assert name == "db_pool" and regex.search("limit=42").group("session_id") == "42"
    with pytest.raises(LogPatternError, match="given twice"):
        parse_log_patterns(["a=x", "b=y", "a=z"])


def test_miss_pattern_needs_session_id_group(log: Path) -> None:
    with pytest.raises(LogPatternError, match="session_id"):
        compile_miss_pattern(r"SSE connection not found for session_id: (\S+)")
    with pytest.raises(LogPatternError, match="session_id"):
        LogTail(log, on_miss=Classifier(), miss_pattern=re.compile(r"not found (\S+)"))
    assert compile_miss_pattern(DEFAULT_MISS_PATTERN).groupindex["session_id"] == 1


@pytest.mark.parametrize("pattern, prefix", [
    (DEFAULT_MISS_PATTERN, "SSE connection not found for session_id: "),
    (r"QueuePool limit", "QueuePool limit"),
    (r"abc?d", "ab"),
    (r"a\.b\d", "a.b"),
    (r"ab{2}", "a"),
    (r"x|yz", ""),
    (r"(?i)case", ""),
    (r"^start", ""),
])
def test_required_prefix_is_conservative(pattern: str, prefix: str) -> None:
    regex = re.compile(pattern)
    assert required_prefix(regex) == prefix
    for sample in ("ad", "abd", "abbb", "a.b1", "x", "yz", "CASE", "start",
                   "SSE connection not found for session_id: 1", "QueuePool limit"):
        if regex.search(sample):
            assert prefix in sample


async def test_poll_yields_to_the_loop_between_batches(log: Path) -> None:
    tail = LogTail(log, on_miss=Classifier(), batch_bytes=16 * 1024)
    await tail.poll()
    append(log, (info() * 9 + miss("x")) * 1000)  # ~500 KiB: about 30 batches
    ticks = 0
    running = True

    async def ticker() -> None:
        nonlocal ticks
        while running:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # let the ticker start
    before = ticks
    assert await tail.poll() == 10_000
    running = False
    await task
    assert ticks - before >= 20  # the ticker ran between batches, not only after the poll


async def test_stop_is_immediate_and_catch_up_reads_what_is_left(log: Path) -> None:
    """poll_s of an hour: stop() must not wait for the nap; catch_up reads the lines written
    since the last poll, without it they stay unread."""
    for catch_up, expected in ((False, []), (True, ["a", "b"])):
        classify = Classifier()
        tail = LogTail(log, on_miss=classify, poll_s=3600)
        tail.start()
        await until(lambda: tail.stats.following, tail)
        append(log, miss("a") + miss("b"))
        await asyncio.wait_for(tail.stop(catch_up=catch_up), 10)
        assert classify.calls == expected
        assert not tail.stats.following


async def test_poll_max_batches_bounds_one_call(log: Path) -> None:
    tail = LogTail(log, on_miss=Classifier(), batch_bytes=1024)
    await tail.poll()
    append(log, info() * 200)  # ~8 KiB: 8 batches
    first = await tail.poll(max_batches=2)
    assert 0 < first < 200
    assert first + await tail.poll() == 200


@pytest.mark.parametrize("name", ["sse_miss", "engine", "log", "late_miss", "rate_limited"])
def test_log_pattern_names_cannot_pose_as_built_in_warning_kinds(name: str) -> None:
    with pytest.raises(LogPatternError, match="built-in warning kind"):
        parse_log_pattern(f"{name}=QueuePool limit")
