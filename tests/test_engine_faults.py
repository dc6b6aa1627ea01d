"""The real engine against fault-injecting servers on 127.0.0.1: one fault, one outcome."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.servers.faults import STALL_LEN_S, FaultState, build_app
from tests.servers.harness import check_invariants, config, nonzero, run_timed
from tests.servers.raw import reset_after_headers
from tests.servers.run import ThreadedRawServer, ThreadedUvicorn, closed_port
from webchat_tui.engine.engine import LoadEngine, TargetUnreachable


@pytest.fixture(scope="module")
def faults():
    state = FaultState()
    with ThreadedUvicorn(build_app(state)) as server:
        server.state = state
        yield server


# behaviour -> (the one expected outcome, a substring of its detail in the warnings / details)
EXPECTED = {
    "ok": ("ok", None),
    "crlf": ("ok", None),
    "create500": ("http_error", "create 500"),
    "create429": ("rate_limited", "Retry-After 3"),
    "send500": ("http_error", "send 500"),
    "send429": ("rate_limited", "send 429"),
    "bad_json": ("protocol_error", None),
    "no_id": ("protocol_error", None),
    "stream404": ("http_error", "connect 404"),
    "wrong_ctype": ("protocol_error", None),
    "stream_close": ("stream_closed", None),
    "silent": ("timeout", None),
    "error_rate": ("rate_limited", "rate_limit_exceeded"),
    "error_db": ("http_error", "db_pool_timeout"),
    "bad_utf8": ("protocol_error", None),
    "huge": ("protocol_error", None),
}


@pytest.mark.parametrize("behaviour", sorted(EXPECTED))
async def test_each_fault_gives_its_outcome(faults, behaviour):
    outcome, detail = EXPECTED[behaviour]
    _, snap = await run_timed(config(f"{faults.url}/{behaviour}", rate=20, duration_s=0.5,
                                     threshold_ms=800, grace_ms=200))
    assert snap.started >= 5
    assert nonzero(snap) == {outcome: snap.started}
    if detail is not None:
        assert any(detail in w.message for w in snap.warnings), snap.warnings[-3:]
    if outcome == "ok":
        assert snap.phases["reply"].count == snap.started
        assert snap.phases["send"].count == snap.started


async def test_silent_stream_in_burst_mode_is_an_inferred_race(faults):
    """Sent before ready, accepted, stream open, no event at all -> sse_miss race."""
    _, snap = await run_timed(config(f"{faults.url}/silent", rate=20, duration_s=0.5,
                                     threshold_ms=500, grace_ms=200, send_mode="burst"))
    assert nonzero(snap) == {"sse_miss": snap.started}
    assert snap.sse_miss["race"] == snap.started
    assert any(w.kind == "sse_miss" and w.session_id for w in snap.warnings)


async def test_unreachable_target_fails_start():
    engine = LoadEngine(config(f"http://127.0.0.1:{closed_port()}"))
    with pytest.raises(TargetUnreachable, match="cannot reach"):
        await engine.start()


async def test_server_gone_after_warmup_gives_connect_errors():
    state = FaultState()
    server = ThreadedUvicorn(build_app(state)).__enter__()
    engine = LoadEngine(config(f"{server.url}/ok", rate=20, duration_s=1.0))
    try:
        await engine.start()
    finally:
        server.stop()  # reachable at warm-up, refused from now on
    await asyncio.wait_for(engine.wait_finished(), 30)
    snap = engine.snapshot()
    check_invariants(snap)
    assert snap.outcomes["connect_error"] >= snap.started - 2  # a session may beat the shutdown
    assert snap.outcomes["connect_error"] > 0
    assert snap.warning_counts.get("connect_error", 0) == snap.outcomes["connect_error"]


async def test_reset_mid_stream_is_stream_closed():
    with ThreadedRawServer(reset_after_headers) as server:
        _, snap = await run_timed(config(server.url, rate=10, duration_s=0.5))
    assert snap.started >= 3
    assert nonzero(snap) == {"stream_closed": snap.started}


async def test_stall_shows_in_total_and_makes_sessions_slow(faults):
    """Sessions scheduled during a 1.5 s server stall report it; past the threshold -> slow."""
    _, snap = await run_timed(config(f"{faults.url}/stall", rate=20, duration_s=2.5,
                                     threshold_ms=1000, grace_ms=3000))
    assert set(nonzero(snap)) == {"ok", "slow"}
    assert snap.outcomes["slow"] >= 3
    total = snap.phases["total"]
    assert total.count == snap.started  # slow replies are replies: in the total histogram too
    # The first session scheduled in the window waits for nearly all of it.
    assert total.max >= (STALL_LEN_S - 0.2) * 1000
    # Sessions scheduled during the stall (1.5 s of 2.5 s at 20/s) are > 10% of all: p90 sees it.
    assert total.p90 >= 0.5 * STALL_LEN_S * 1000
    assert snap.phases["start_lag"].p99 < 200  # the generator itself was not the bottleneck


async def test_a_blocked_generator_cannot_hide_latency(faults):
    """Coordinated omission: total is measured from the INTENDED start. Block our own loop for
    0.5 s: the sessions due meanwhile start late (start_lag) and their total includes the wait,
    although the server answers in milliseconds."""
    engine = LoadEngine(config(f"{faults.url}/ok", rate=20, duration_s=1.5))
    await engine.start()
    asyncio.get_running_loop().call_later(0.5, time.sleep, 0.5)
    await asyncio.wait_for(engine.wait_finished(), 30)
    snap = engine.snapshot()
    check_invariants(snap)
    assert snap.phases["start_lag"].max >= 400
    assert snap.phases["total"].max >= 400
    assert snap.phases["reply"].max < 400  # the server itself was fast


async def test_ramp_is_a_state_and_an_event(faults):
    engine = LoadEngine(config(f"{faults.url}/ok", rate=5, duration_s=None))
    await engine.start()
    try:
        engine.ramp_to(30, 0.5)
        assert engine.state == "ramping"
        await asyncio.sleep(0.7)
        assert engine.state == "running"
        assert engine.rate == 30
    finally:
        await engine.stop(1.0)
    snap = engine.snapshot()
    check_invariants(snap)
    assert any(e.kind == "ramp" and e.rate == 30 for e in snap.events)
    assert snap.started >= 8  # 5/s ramping to 30/s over 0.5 s, then 30/s


async def test_stop_cancels_in_flight_sessions(faults):
    engine = LoadEngine(config(f"{faults.url}/silent", rate=50, duration_s=None,
                               threshold_ms=30_000))
    await engine.start()
    await asyncio.sleep(0.5)
    assert engine.state == "running"
    in_flight = engine.snapshot().in_flight
    assert in_flight > 5
    await engine.stop(drain_s=0.1)
    await engine.stop(drain_s=0.1)  # idempotent
    snap = engine.snapshot()
    check_invariants(snap)
    assert snap.outcomes["cancelled"] == snap.started
    assert [e.kind for e in snap.events].count("stop") == 1
    await asyncio.wait_for(engine.wait_finished(), 1)


async def test_arrivals_over_the_cap_are_dropped_not_queued(faults):
    _, snap = await run_timed(config(f"{faults.url}/silent", rate=50, duration_s=1.0,
                                     threshold_ms=300, grace_ms=100, max_inflight=5))
    assert snap.started <= 5 + 50 * 1.0 * 0.5  # at most the cap at a time, ~0.4 s per session
    assert snap.dropped > 10
    assert snap.started + snap.dropped >= 40  # every arrival is either started or dropped


async def test_confirm_sse_miss_ends_the_session_at_once(faults):
    engine = LoadEngine(config(f"{faults.url}/silent", rate=20, duration_s=None,
                               threshold_ms=30_000))
    await engine.start()
    try:
        for _ in range(200):
            await asyncio.sleep(0.02)
            ids = list(engine._by_server_id)
            if ids:
                break
        assert ids
        assert engine.confirm_sse_miss(ids[0]) is True
        assert engine.confirm_sse_miss("not-one-of-ours") is False
        await asyncio.sleep(0.05)
        snap = engine.snapshot()
        assert snap.outcomes["sse_miss"] == 1
        assert snap.sse_miss["server_confirmed"] == 1
        assert snap.sse_miss["race"] + snap.sse_miss["lost"] == 1
    finally:
        await engine.stop(0.0)
    check_invariants(engine.snapshot())


async def test_stages_set_the_run_length_and_mark_the_timeline(faults):
    from webchat_tui.config import Stage

    _, snap = await run_timed(config(f"{faults.url}/ok", rate=10, duration_s=None,
                                     stages=(Stage(0.5, 10), Stage(0.5, 30))))
    # 10/s for 0.5 s, then a ramp 10 -> 30/s over 0.5 s (mean 20/s): about 5 + 10 arrivals.
    assert 11 <= snap.started <= 19
    assert nonzero(snap) == {"ok": snap.started}
    stage_events = [e for e in snap.events if e.kind == "stage"]
    assert [e.rate for e in stage_events] == [10, 30]


async def test_a_scheduler_failure_ends_the_run_visibly(faults, monkeypatch):
    import webchat_tui.engine.engine as engine_module

    async def broken_pacer(*args, **kwargs):
        raise RuntimeError("pacer exploded")

    monkeypatch.setattr(engine_module, "run_pacer", broken_pacer)
    engine = LoadEngine(config(f"{faults.url}/ok", rate=5, duration_s=None))
    await engine.start()
    with pytest.raises(RuntimeError, match="pacer exploded"):
        await asyncio.wait_for(engine.wait_finished(), 5)
    assert engine.state == "finished"
    assert engine.snapshot().warning_counts.get("engine") == 1
