"""--record FILE.jsonl: one line per finished session, streamed from a thread, bounded, no secrets."""

from __future__ import annotations

import dataclasses
import json
import time
from types import SimpleNamespace

from cli_helpers import run_cli

from tests.servers.harness import config, run_timed
from webchat_tui.engine.outcomes import Outcome
from webchat_tui.engine.records import RecordWriter


def read_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@dataclasses.dataclass
class Ctx:   # the two FlowContext fields a probe replaces
    rec: object
    clients: object


def row(n: int, detail: str | None = None, sid: str = "sid") -> tuple:
    return (n, sid, "ok", None, detail, 0.5, "wait", {"create": 2_000_000}, [("POST", 201)])


def test_lines_are_flushed_by_time_and_by_batch(tmp_path):
    path = tmp_path / "r.jsonl"
    writer = RecordWriter(str(path), flush_s=0.05, batch=10)
    try:
        writer.add(row(0))
        for _ in range(100):   # bounded wait for the timed flush (~0.05 s)
            if path.read_text():
                break
            time.sleep(0.02)
        assert read_lines(path) == [{"n": 0, "session_id": "sid", "outcome": "ok",
                                     "t_end_s": 0.5, "send_mode": "wait",
                                     "ms": {"create": 2.0}, "status": [["POST", 201]]}]
    finally:
        writer.close()
    assert writer.written == 1 and writer.dropped == 0


def test_a_full_buffer_drops_and_counts_instead_of_growing(tmp_path):
    path = tmp_path / "r.jsonl"
    writer = RecordWriter(str(path), flush_s=60, batch=10**9, max_buffered=5)
    for n in range(8):   # the thread sleeps 60 s: nothing is drained meanwhile
        writer.add(row(n))
    assert writer.dropped == 3
    writer.close()       # close drains what was kept
    assert [line["n"] for line in read_lines(path)] == [0, 1, 2, 3, 4]
    assert writer.written == 5


def test_secrets_in_details_and_ids_are_scrubbed(tmp_path):
    path = tmp_path / "r.jsonl"
    writer = RecordWriter(str(path), secrets=("tok-REC-5150",))
    writer.add(row(0, detail='create: 401 "Bearer tok-REC-5150" refused', sid="x-tok-REC-5150"))
    writer.close()
    text = path.read_text()
    assert "tok-REC-5150" not in text
    assert read_lines(path)[0]["detail"] == 'create: 401 "Bearer ***" refused'


def test_the_probe_records_phases_statuses_and_outcome(tmp_path):
    writer = RecordWriter(str(tmp_path / "r.jsonl"))
    phases_seen = []
    rec = SimpleNamespace(phase=lambda name, ns: phases_seen.append(name), t0_ns=0)
    pool = SimpleNamespace(get=lambda: None)
    probe = writer.probe(Ctx(rec, SimpleNamespace(post=pool, stream=pool)), None)
    probe.ctx.rec.phase("create", 3_000_000)
    probe.ctx.rec.phase("itl", 1_000)   # per-chunk gaps stay in the histogram only
    assert phases_seen == ["create", "itl"]   # still forwarded to the run's recorder
    sess = SimpleNamespace(n=4, server_id="s4", t_intended_ns=0, send_mode="burst")
    probe.finish(sess, Outcome.SSE_MISS, "server confirmed (race)", "race", 2_000_000_000, 0)
    writer.close()
    [line] = read_lines(tmp_path / "r.jsonl")
    assert line["n"] == 4 and line["outcome"] == "sse_miss" and line["sse_miss"] == "race"
    assert line["t_end_s"] == 2.0 and line["send_mode"] == "burst"
    assert line["ms"]["create"] == 3.0 and "itl" not in line["ms"] and "total" not in line["ms"]


async def test_engine_writes_one_line_per_finished_session(fast_demo_server, tmp_path):
    path = tmp_path / "sessions.jsonl"
    _, snap = await run_timed(config(fast_demo_server.url, rate=20, duration_s=1.0,
                                     record_path=str(path)))
    lines = read_lines(path)
    assert len(lines) == snap.finished + snap.outcomes["cancelled"] > 0
    assert sorted(line["n"] for line in lines) == list(range(len(lines)))
    ok = [line for line in lines if line["outcome"] == "ok"]
    assert len(ok) == snap.ok
    for line in ok:
        assert line["session_id"]
        assert set(line["ms"]) >= {"create", "connect", "send", "first_reply", "reply", "total",
                                   "start_lag"}
        assert line["ms"]["total"] >= line["ms"]["reply"]
        assert [m for m, _ in line["status"]] == ["POST", "GET", "POST"]
        assert all(200 <= code < 300 for _, code in line["status"])


async def test_error_sessions_keep_their_status_and_detail(make_demo_server, tmp_path):
    server = make_demo_server(ai_latency_ms=20, provider_rpm=60, provider_burst=2, seed=3)
    path = tmp_path / "sessions.jsonl"
    _, snap = await run_timed(config(server.url, rate=20, duration_s=0.6, record_path=str(path)))
    limited = [line for line in read_lines(path) if line["outcome"] == "rate_limited"]
    assert len(limited) == snap.outcomes["rate_limited"] > 0
    assert all(line.get("detail") for line in limited)


def test_record_flag_checks_the_path(tmp_path):
    result = run_cli("--headless", "--target", "http://127.0.0.1:9", "--record",
                     str(tmp_path / "missing" / "r.jsonl"))
    assert result.returncode == 2
    assert result.stderr.strip() == (f"webchat-tui: error: --record: {tmp_path}/missing/r.jsonl: "
                                     "expected a file in an existing folder")
