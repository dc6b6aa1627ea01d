"""The real engine against the real demo server (a child process on 127.0.0.1, fast settings)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.servers.harness import check_invariants, config, nonzero, run_timed
from webchat_tui.engine.engine import LoadEngine

# Fast, deterministic replies: 50 ms, no jitter, seeded (flags of `webchat-tui demo-server`).
FAST = {"ai_latency_ms": 50, "ai_latency_sigma": 0, "seed": 7}


@pytest.fixture
def fast_demo(make_demo_server):
    return make_demo_server(**FAST)


def server_stats(url: str) -> dict:
    return httpx.get(f"{url}/api/stats", trust_env=False, timeout=5).json()


async def test_all_ok_at_20_per_s(fast_demo):
    _, snap = await run_timed(config(fast_demo.url, rate=20, duration_s=2.0))
    assert 35 <= snap.started <= 45
    assert nonzero(snap) == {"ok": snap.started}
    for phase in ("create", "connect", "send", "first_reply", "reply", "total", "start_lag"):
        assert snap.phases[phase].count == snap.started, phase
    # Total is from the intended start, so it covers every phase of the session.
    assert snap.phases["total"].p50 >= snap.phases["reply"].p50
    assert snap.success_rate == 100.0


async def test_burst_mode_races_and_wait_mode_does_not(make_demo_server):
    server = make_demo_server(**FAST, stream_register_delay_ms=300)
    _, burst = await run_timed(config(server.url, rate=20, duration_s=1.0, send_mode="burst",
                                      threshold_ms=1000, grace_ms=300))
    _, wait = await run_timed(config(server.url, rate=20, duration_s=1.0, send_mode="wait",
                                     threshold_ms=1000, grace_ms=300))
    stats = server_stats(server.url)
    assert burst.outcomes["sse_miss"] >= burst.started * 0.8
    assert burst.sse_miss["race"] == burst.outcomes["sse_miss"]
    assert wait.outcomes["sse_miss"] == 0
    assert nonzero(wait) == {"ok": wait.started}
    # The server saw (at least) one dropped reply per inferred race.
    assert stats["sse_not_found"] >= burst.outcomes["sse_miss"]


async def test_rate_limited_matches_server_count(make_demo_server):
    server = make_demo_server(**FAST, provider_rpm=60, provider_burst=3)
    _, snap = await run_timed(config(server.url, rate=20, duration_s=1.0))
    stats = server_stats(server.url)
    assert snap.outcomes["rate_limited"] > 0
    assert snap.outcomes["rate_limited"] == stats["rate_limited"]
    assert snap.outcomes["ok"] + snap.outcomes["rate_limited"] == snap.started
    assert snap.warning_counts["rate_limited"] == snap.outcomes["rate_limited"]


async def test_set_rate_mid_run_changes_arrivals(fast_demo):
    engine = LoadEngine(config(fast_demo.url, rate=10, duration_s=2.0))
    await engine.start()
    await asyncio.sleep(1.0)
    engine.set_rate(40)
    assert engine.rate == 40
    await asyncio.wait_for(engine.wait_finished(), 30)
    snap = engine.snapshot()
    check_invariants(snap)
    # ~10 in the first second, ~40 in the second: far from the 20 an unchanged run would give.
    assert 40 <= snap.started <= 60
    assert [e.kind for e in snap.events].count("rate") == 1
    rate_event = next(e for e in snap.events if e.kind == "rate")
    assert rate_event.rate == 40 and "10.00 -> 40.00" in rate_event.detail


async def test_db_pool_saturation_gives_503(make_demo_server):
    server = make_demo_server(**FAST, db_pool=1, db_timeout_s=0.05, db_write_ms=40)
    _, snap = await run_timed(config(server.url, rate=50, duration_s=1.0))
    assert snap.outcomes["http_error"] > 0
    assert any(w.kind == "http_error" and ("create 503" in w.message or "send 503" in w.message)
               for w in snap.warnings)


async def test_openai_flow_counts_tokens_and_itl(fast_demo):
    _, snap = await run_timed(config(fast_demo.url, rate=10, duration_s=1.0, flow="openai"))
    assert snap.started >= 8
    assert nonzero(snap) == {"ok": snap.started}
    assert snap.phases["first_reply"].count == snap.started
    assert snap.phases["itl"].count > snap.started  # several gaps per reply
    assert snap.output["unit"] == "tokens"
    assert snap.output["count"] > 0


async def test_burst_with_the_default_race_window_shows_misses_and_rate_limits(make_demo_server):
    """The seed's picture: in burst mode some messages beat their stream (SSE misses) and the
    provider budget runs out (rate limits); what the tool counts matches what the server says."""
    server = make_demo_server(ai_latency_ms=50, ai_latency_sigma=0.2, tokens_per_reply=3,
                              provider_rpm=60, provider_burst=10, seed=7)
    _, snap = await run_timed(config(server.url, rate=50, duration_s=1.0, send_mode="burst",
                                     threshold_ms=1000, grace_ms=300))
    stats = server_stats(server.url)
    check_invariants(snap)
    assert snap.outcomes["sse_miss"] > 0
    assert snap.outcomes["rate_limited"] == stats["rate_limited"]
    # Refusals lost with an undeliverable reply are the server's alone: it spent budget on them.
    assert stats["provider_rate_limited"] >= stats["rate_limited"]
    assert stats["provider_rate_limited"] > 0
    assert stats["sse_not_found"] >= snap.outcomes["sse_miss"]
