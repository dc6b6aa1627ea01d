"""Recorder and MetricsSnapshot: counts, percentiles, window, timeline, merge, JSON, bins."""

from __future__ import annotations

import json

import pytest

from tests.fakes import FakeClock
from webchat_tui.engine.metrics import (
    EVENTS_KEEP, FOLD_EVERY_VALUES, HIST_HIGHEST_US, HIST_NAMES, START_LAG, TIMELINE_KEEP_S,
    WARNINGS_KEEP, MetricsSnapshot, Recorder, latency_bins, new_histogram,
)
from webchat_tui.engine.outcomes import Outcome

MS = 1_000_000
S = 1_000_000_000




def make(clock: FakeClock, rate: float = 10.0) -> Recorder:
    rec = Recorder(0, max_inflight=100, target_rate=rate, send_mode="wait", clock=clock)
    rec.set_state("running", rate, "wait", 0)
    return rec


def feed(rec: Recorder, clock: FakeClock, start_s: float, n: int, per_s: float,
         outcome: Outcome = Outcome.OK, latency_ms: float = 100.0) -> None:
    """n sessions at per_s, each starting 1 ms late and ending latency_ms after its start."""
    for i in range(n):
        intended = int((start_s + i / per_s) * S)
        clock.t = intended + MS
        rec.session_started(intended, clock.t)
        rec.phase("create", 2 * MS)
        end = intended + int(latency_ms * MS)
        clock.t = max(clock.t, end)
        rec.session_finished(outcome, end, intended)


def test_counts_and_outcomes_zeros_included():
    clock = FakeClock()
    rec = make(clock)
    feed(rec, clock, 0, 6, 10, Outcome.OK)
    feed(rec, clock, 1, 2, 10, Outcome.SSE_MISS)
    feed(rec, clock, 2, 1, 10, Outcome.CANCELLED)
    rec.arrival_dropped()
    snap = rec.snapshot()
    assert set(snap.outcomes) == {o.value for o in Outcome}
    assert snap.outcomes["ok"] == 6 and snap.outcomes["sse_miss"] == 2
    assert snap.outcomes["timeout"] == 0
    assert snap.started == 9 and snap.dropped == 1
    assert snap.finished == 8  # cancelled is reported but not "finished"
    assert snap.ok == 6
    assert snap.success_rate == pytest.approx(75.0)
    # `total` only for sessions that got a reply
    assert snap.phases["total"].count == 6
    assert snap.phases["create"].count == 9
    assert snap.phases[START_LAG].count == 9
    assert set(snap.phases) == set(HIST_NAMES) == set(snap.window_phases)


def test_percentiles_of_known_values():
    clock = FakeClock()
    rec = make(clock)
    for ms in range(1, 1001):
        rec.phase("reply", ms * MS)
    stats = rec.snapshot().phases["reply"]
    assert stats.count == 1000
    assert stats.p50 == pytest.approx(500, rel=2e-3)  # 3 significant digits
    assert stats.p90 == pytest.approx(900, rel=2e-3)
    assert stats.p99 == pytest.approx(990, rel=2e-3)
    assert stats.max == pytest.approx(1000, rel=2e-3)
    assert stats.mean == pytest.approx(500.5)  # exact: kept beside the histogram


def test_values_out_of_range_are_clamped_not_raised():
    rec = make(FakeClock())
    rec.phase("reply", 2 * 3600 * S)  # 2 h: above the histogram's 1 h
    rec.phase("reply", -5 * MS)       # clock oddity
    stats = rec.snapshot().phases["reply"]
    assert stats.count == 2
    assert stats.max == pytest.approx(HIST_HIGHEST_US / 1000, rel=2e-3)


def test_unknown_phase_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown histogram"):
        make(FakeClock()).phase("nope", 1)


def test_window_excludes_old_values_cumulative_keeps_them():
    clock = FakeClock()
    rec = make(clock)
    clock.t = 1 * S
    for _ in range(100):
        rec.phase("connect", 50 * MS)
    rec.fold()
    clock.t = 21 * S
    for _ in range(10):
        rec.phase("connect", 5 * MS)
    snap = rec.snapshot()
    assert snap.phases["connect"].count == 110
    assert snap.window_phases["connect"].count == 10
    assert snap.window_phases["connect"].p99 == pytest.approx(5, rel=2e-3)
    assert snap.window_histograms["connect"].get_total_count() == 10
    assert snap.histograms["connect"].get_total_count() == 110


def test_window_keeps_recent_seconds():
    clock = FakeClock()
    rec = make(clock)
    for sec in range(15):
        clock.t = sec * S + 500 * MS
        rec.phase("send", MS)
        rec.fold()
    snap = rec.snapshot()
    assert snap.window_phases["send"].count == 10  # seconds 5..14
    assert snap.phases["send"].count == 15


def test_timeline_buckets_by_second():
    clock = FakeClock()
    rec = make(clock)
    feed(rec, clock, 0, 10, 10, latency_ms=1500)  # started in second 0, ended in 1 and 2
    clock.t = 3 * S + 1
    rec.arrival_dropped()
    rec.set_state("running", 42, "wait", 7)
    clock.t = 5 * S + 1
    snap = rec.snapshot()
    assert [b.t for b in snap.timeline] == [0, 1, 2, 3, 4, 5]
    assert [b.started for b in snap.timeline] == [10, 0, 0, 0, 0, 0]
    assert sum(b.finished for b in snap.timeline) == 10
    assert snap.timeline[1].ok + snap.timeline[2].ok == 10
    assert snap.timeline[1].outcomes["ok"] == snap.timeline[1].ok
    assert snap.timeline[3].dropped == 1
    assert snap.timeline[3].target_rate == 42 and snap.timeline[3].in_flight == 7
    assert snap.timeline[4].target_rate == 42  # gap second: carried forward


def test_timeline_is_bounded():
    clock = FakeClock()
    rec = make(clock)
    rec.session_started(0, 0)
    clock.t = (TIMELINE_KEEP_S + 50) * S
    rec.session_started(clock.t, clock.t)
    timeline = rec.snapshot().timeline
    assert len(timeline) == TIMELINE_KEEP_S
    assert timeline[-1].t == TIMELINE_KEEP_S + 50 and timeline[-1].started == 1
    assert sum(b.started for b in timeline) == 1


def test_warnings_ring_is_bounded_counts_are_not():
    clock = FakeClock()
    rec = make(clock)
    for i in range(WARNINGS_KEEP + 300):
        clock.t = i * MS
        rec.warn("sse_miss", f"miss {i}", session_id=f"s{i}")
    snap = rec.snapshot()
    assert len(snap.warnings) == WARNINGS_KEEP
    assert snap.warnings[-1].message == f"miss {WARNINGS_KEEP + 299}"
    assert snap.warning_counts["sse_miss"] == WARNINGS_KEEP + 300


def test_events_are_bounded_and_timed():
    clock = FakeClock()
    rec = make(clock)
    clock.t = 2 * S
    rec.event("rate", "5.00 -> 6.25/s", 6.25)
    for _ in range(EVENTS_KEEP + 10):
        rec.event("mode", "burst", 6.25)
    snap = rec.snapshot()
    assert len(snap.events) == EVENTS_KEEP
    assert snap.events[-1].t == pytest.approx(2.0)


def test_achieved_rate_last_five_full_seconds_and_finished():
    clock = FakeClock()
    rec = make(clock)
    feed(rec, clock, 0, 40, 5, latency_ms=1)     # 5/s for 8 s
    feed(rec, clock, 8, 20, 20, latency_ms=1)    # then 20/s for 1 s
    clock.t = 9 * S + 1
    snap = rec.snapshot()
    assert snap.achieved_rate == pytest.approx((4 * 5 + 20) / 5)  # seconds 4..8
    clock.t = 10 * S
    rec.set_state("finished", 20, "wait", 0)
    clock.t = 12 * S  # draining time is not arrival time
    assert rec.snapshot().achieved_rate == pytest.approx(60 / 10)


def test_achieved_rate_in_first_seconds():
    clock = FakeClock()
    rec = make(clock)
    feed(rec, clock, 0, 30, 10, latency_ms=1)
    clock.t = 3 * S + 1
    assert rec.snapshot().achieved_rate == pytest.approx(10.0)


def test_generator_limited_from_window_start_lag_with_one_warning():
    clock = FakeClock()
    rec = make(clock)
    for i in range(100):
        rec.session_started(i * MS, i * MS + 2 * MS)
    assert not rec.snapshot().generator_limited
    for i in range(100):
        rec.session_started(i * MS, i * MS + 50 * MS)
    snap = rec.snapshot()
    assert snap.generator_limited
    assert rec.snapshot().warning_counts.get("engine") == 1
    clock.t = 30 * S  # the laggy seconds left the window
    assert not rec.snapshot().generator_limited


def test_generator_limited_needs_several_late_starts_at_low_rates():
    clock = FakeClock()
    rec = make(clock)
    for i in range(50):  # 5/s for 10 s: p99 of 50 values is their maximum
        rec.session_started(i * 200 * MS, i * 200 * MS + MS)
    for _ in range(2):  # two late starts (e.g. while the UI starts)
        rec.session_started(0, 30 * MS)
    clock.t = 10 * S
    assert rec.snapshot().phases["start_lag"].p99 > 10
    assert not rec.snapshot().generator_limited
    rec.session_started(0, 30 * MS)  # a third one out of 53: the tool is falling behind
    assert rec.snapshot().generator_limited


def test_sse_miss_and_output_tokens():
    rec = make(FakeClock())
    rec.sse_miss("race")
    rec.sse_miss("lost")
    rec.sse_miss("race")
    rec.server_confirmed_miss()
    rec.output_tokens(100, 2.0, "tokens")
    rec.output_tokens(30, 1.0, "tokens")
    snap = rec.snapshot()
    assert dict(snap.sse_miss) == {"race": 2, "lost": 1, "server_confirmed": 1}
    assert snap.output["count"] == 130 and snap.output["unit"] == "tokens"
    assert snap.output["per_s"] == pytest.approx(40.0)
    with pytest.raises(ValueError):
        rec.sse_miss("other")


def test_hot_path_folds_itself_when_nobody_calls_fold():
    rec = make(FakeClock())
    for _ in range(3 * FOLD_EVERY_VALUES):
        rec.phase("create", MS)
    assert rec._n_pending < FOLD_EVERY_VALUES  # bounded raw buffer
    assert rec.snapshot().phases["create"].count == 3 * FOLD_EVERY_VALUES


def test_snapshot_is_not_changed_by_later_recording():
    clock = FakeClock()
    rec = make(clock)
    feed(rec, clock, 0, 5, 10)
    snap = rec.snapshot()
    before = json.dumps(snap.to_json(), sort_keys=True)
    feed(rec, clock, 0.5, 50, 10, Outcome.TIMEOUT)
    rec.warn("engine", "x")
    later = rec.snapshot()
    assert later.started == 55
    assert json.dumps(snap.to_json(), sort_keys=True) == before
    assert snap.histograms["create"].get_total_count() == 5
    with pytest.raises(TypeError):
        snap.outcomes["ok"] = 0  # type: ignore[index]


def _two_streams():
    clock_a, clock_b, clock_c = FakeClock(), FakeClock(), FakeClock()
    a, b, c = make(clock_a), make(clock_b), make(clock_c)
    feed(a, clock_a, 0, 30, 10, Outcome.OK, latency_ms=120)
    feed(c, clock_c, 0, 30, 10, Outcome.OK, latency_ms=120)
    feed(b, clock_b, 0, 20, 10, Outcome.HTTP_ERROR, latency_ms=40)
    feed(c, clock_c, 0, 20, 10, Outcome.HTTP_ERROR, latency_ms=40)
    for clock in (clock_a, clock_b, clock_c):
        clock.t = 4 * S
    for rec, warn in ((a, "a"), (b, "b"), (c, "a"), (c, "b")):
        rec.warn("http_error", warn)
    return a.snapshot(), b.snapshot(), c.snapshot()


def test_merge_equals_one_recorder_fed_both_streams():
    a, b, both = _two_streams()
    merged = a.merge(b)
    for key in ("started", "finished", "ok", "dropped", "success_rate"):
        assert getattr(merged, key) == getattr(both, key), key
    assert dict(merged.outcomes) == dict(both.outcomes)
    assert dict(merged.warning_counts) == dict(both.warning_counts)
    def counts(timeline):  # target rates add in a merge (two engines): compare counts only
        return [(x.t, x.started, x.finished, x.ok, x.failed, dict(x.outcomes)) for x in timeline]
    assert counts(merged.timeline) == counts(both.timeline)
    assert merged.timeline[0].target_rate == 2 * both.timeline[0].target_rate
    for name in HIST_NAMES:
        assert merged.histograms[name].equals(both.histograms[name]), name
        assert merged.phases[name] == pytest.approx(both.phases[name]), name
        assert merged.window_phases[name].count == both.window_phases[name].count
    assert merged.achieved_rate == pytest.approx(both.achieved_rate)
    assert len(merged.warnings) == 2


def test_merge_state_running_if_any_running():
    a, b, _ = _two_streams()
    finished = MetricsSnapshot.from_json({**b.to_json(), "state": "finished"})
    assert a.merge(finished).state == "running"
    assert finished.merge(finished).state == "finished"


def test_json_round_trip():
    a, _, _ = _two_streams()
    data = json.loads(json.dumps(a.to_json()))
    back = MetricsSnapshot.from_json(data)
    assert back.to_json() == a.to_json()
    assert back.phases == a.phases and back.timeline == a.timeline
    for name in HIST_NAMES:
        assert back.histograms[name].equals(a.histograms[name])
    assert isinstance(data["histograms"]["create"], str)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("started"), "missing key 'started'"),
    (lambda d: d.update(started="many"), "metrics.started"),
    (lambda d: d["histograms"].update(create="not-base64!"), "histograms.create"),
    (lambda d: d["timeline"][0].pop("ok"), r"timeline\[0\]"),
    (lambda d: d["outcomes"].update(ok=-1), "outcomes.ok"),
    (lambda d: d["phases"]["create"].update(p50=None), "phases.create.p50"),
])
def test_from_json_rejects_bad_data_with_clear_message(mutate, message):
    a, _, _ = _two_streams()
    data = json.loads(json.dumps(a.to_json()))
    mutate(data)
    with pytest.raises(ValueError, match=message):
        MetricsSnapshot.from_json(data)


def test_latency_bins_sum_to_count_and_are_log_spaced():
    hist = new_histogram()
    for us in (150, 900, 2_000, 40_000, 40_000, 3_000_000):
        hist.record_value(us)
    edges, counts = latency_bins(hist, 12)
    assert len(edges) == len(counts) == 12
    assert sum(counts) == 6
    assert edges[0] == pytest.approx(0.15, rel=2e-3)
    ratios = [b / a for a, b in zip(edges, edges[1:])]
    assert max(ratios) == pytest.approx(min(ratios))
    assert counts[-1] >= 1  # the 3 s value lands in the last bin


def test_latency_bins_empty_and_single_value():
    assert latency_bins(new_histogram()) == ([], [])
    hist = new_histogram()
    hist.record_value(5_000, 3)
    edges, counts = latency_bins(hist)
    assert counts == [3] and edges[0] == pytest.approx(5.0, rel=2e-3)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_percentiles_match_hdrhistogram(seed):
    import random

    from webchat_tui.engine.metrics import percentile_values

    rng = random.Random(seed)
    hist = new_histogram()
    for _ in range(5000):
        hist.record_value(int(rng.lognormvariate(9 + seed, 1.5)))
    pcts = [0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 100.0]
    assert percentile_values(hist, pcts) == hist.get_percentile_to_value_dict(pcts)


def test_dropped_histogram_is_freed_without_cyclic_gc():
    import gc
    import weakref

    gc.disable()
    try:
        hist = new_histogram()
        ref = weakref.ref(hist)
        del hist
        assert ref() is None  # freed by reference counting alone
    finally:
        gc.enable()
