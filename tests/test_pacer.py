"""Pacer: exact schedules with a fake clock; run_pacer with the real clock (generous bounds)."""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest

from tests.fakes import FakeClock
from webchat_tui.config import Stage
from webchat_tui.engine.pacer import Pacer, run_pacer

MS = 1_000_000
S = 1_000_000_000




def drain(pacer: Pacer, until_ns: int) -> list[int]:
    """Intended times of every arrival before until_ns."""
    out = []
    while (due := pacer.next_due_ns()) is not None and due < until_ns:
        out.append(pacer.advance())
    return out


def test_constant_rate_exact_intended_times():
    clock = FakeClock(7 * S)
    pacer = Pacer(4, clock=clock)
    assert [pacer.advance() for _ in range(5)] == [7 * S + k * 250 * MS for k in range(5)]


def test_constant_rate_has_no_drift_over_many_arrivals():
    pacer = Pacer(3, clock=FakeClock(0))
    times = drain(pacer, 3600 * S)
    assert len(times) == 3 * 3600
    assert times[-1] == round((3 * 3600 - 1) * S / 3)


@pytest.mark.parametrize("new_rate, expected_due", [(20, 70 * MS), (5, 160 * MS)])
def test_rate_change_mid_gap_rescales_remaining_gap(new_rate, expected_due):
    clock = FakeClock(0)
    pacer = Pacer(10, clock=clock)
    assert pacer.advance() == 0
    assert pacer.next_due_ns() == 100 * MS
    clock.t = 40 * MS
    pacer.set_rate(new_rate, clock.t)
    # 60 ms of the 100 ms gap were left: spent at the new rate (no burst, no hole) ...
    assert pacer.next_due_ns() == expected_due
    pacer.advance()
    # ... and the gaps after it are plain 1/new_rate.
    assert pacer.next_due_ns() == expected_due + S // new_rate


def test_rate_change_when_already_due_keeps_it_due():
    clock = FakeClock(0)
    pacer = Pacer(10, clock=clock)
    pacer.advance()
    clock.t = 150 * MS  # the 100 ms arrival is overdue (scheduler late)
    pacer.set_rate(1, clock.t)
    assert pacer.next_due_ns() == 100 * MS


def test_from_rate_zero_first_arrival_one_gap_after_now():
    clock = FakeClock(0)
    pacer = Pacer(0, clock=clock)
    assert pacer.next_due_ns() is None
    clock.t = 5 * S
    pacer.set_rate(10, clock.t)
    assert pacer.next_due_ns() == 5 * S + 100 * MS


def test_set_rate_zero_stops_arrivals():
    clock = FakeClock(0)
    pacer = Pacer(10, clock=clock)
    pacer.advance()
    pacer.set_rate(0, 10 * MS)
    assert pacer.next_due_ns() is None
    with pytest.raises(RuntimeError):
        pacer.advance()


def test_ramp_count_follows_integral_of_rate():
    clock = FakeClock(0)
    pacer = Pacer(10, clock=clock)
    pacer.ramp_to(30, 10, 0)
    assert pacer.ramping
    assert pacer.rate_at(5 * S) == pytest.approx(20)
    times = drain(pacer, 10 * S)
    assert abs(len(times) - 200) <= 1  # integral of 10 -> 30 over 10 s
    # the gaps shrink along the ramp: ~1/10 s at the start, ~1/30 s at the end
    assert times[1] - times[0] == pytest.approx(100 * MS, rel=0.02)
    assert times[-1] - times[-2] == pytest.approx(S / 30, rel=0.02)
    clock.t = 11 * S
    assert not pacer.ramping
    assert pacer.current_rate() == 30
    after = drain(pacer, 20 * S)
    assert abs(len(after) - 300) <= 1


def test_ramp_down_to_zero_ends_arrivals():
    pacer = Pacer(10, clock=FakeClock(0))
    pacer.ramp_to(0, 2, 0)
    times = drain(pacer, 100 * S)
    assert abs(len(times) - 10) <= 1  # integral of 10 -> 0 over 2 s
    assert pacer.next_due_ns() is None


def test_stages_sum_and_count():
    clock = FakeClock(0)
    pacer = Pacer(10, clock=clock)
    end = pacer.set_stages([Stage(2, 20), (3, 20), Stage(1, 0)], 0)
    assert end == 6 * S
    times = drain(pacer, end)
    assert abs(len(times) - (30 + 60 + 10)) <= 1
    assert pacer.target_rate == 0


def test_poisson_mean_gap_and_spread():
    pacer = Pacer(100, arrivals="poisson", seed=42, clock=FakeClock(0))
    times = [pacer.advance() for _ in range(5001)]
    gaps = [b - a for a, b in zip(times, times[1:])]
    mean = statistics.fmean(gaps)
    assert 9.5 * MS < mean < 10.5 * MS
    # exponential gaps: standard deviation ~ mean (a constant pacer would give 0)
    assert 0.8 < statistics.pstdev(gaps) / mean < 1.2


def test_poisson_same_seed_same_schedule():
    a = Pacer(50, arrivals="poisson", seed=7, clock=FakeClock(0))
    b = Pacer(50, arrivals="poisson", seed=7, clock=FakeClock(0))
    assert [a.advance() for _ in range(20)] == [b.advance() for _ in range(20)]


def test_poisson_rate_change_draws_fresh_gap_after_now():
    clock = FakeClock(0)
    pacer = Pacer(1, arrivals="poisson", seed=1, clock=clock)
    pacer.advance()
    clock.t = 1 * MS
    pacer.set_rate(1000, clock.t)
    due = pacer.next_due_ns()
    assert due is not None and clock.t < due < clock.t + 50 * MS


def test_pause_and_resume_without_catch_up_burst():
    clock = FakeClock(0)
    pacer = Pacer(10, clock=clock)
    pacer.advance()
    clock.t = 30 * MS
    pacer.pause(clock.t)
    assert pacer.paused and pacer.next_due_ns() is None
    clock.t = 5 * S
    pacer.resume(clock.t)
    # the 70 ms left of the interrupted gap, then the plain schedule: no burst for 5 s paused
    assert pacer.next_due_ns() == 5 * S + 70 * MS
    assert len(drain(pacer, 6 * S)) == 10


def test_set_rate_while_paused_applies_on_resume():
    clock = FakeClock(0)
    pacer = Pacer(10, clock=clock)
    pacer.advance()
    pacer.pause(50 * MS)  # half a gap (0.5 arrivals of work) left
    pacer.set_rate(100, 60 * MS)
    assert pacer.next_due_ns() is None
    pacer.resume(S)
    assert pacer.next_due_ns() == S + 5 * MS


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf")])
def test_bad_rate_is_rejected(bad):
    with pytest.raises(ValueError, match="rate"):
        Pacer(bad)


def test_bad_arrivals_kind_is_rejected():
    with pytest.raises(ValueError, match="arrivals"):
        Pacer(1, arrivals="burst")  # type: ignore[arg-type]


# ---- run_pacer with the real clock -----------------------------------------------------------

async def test_run_pacer_real_clock_achieves_rate():
    pacer = Pacer(200)
    intended: list[int] = []
    lags: list[int] = []

    def start(t: int) -> None:
        intended.append(t)
        lags.append(time.perf_counter_ns() - t)

    start_ns = time.perf_counter_ns()
    count = await asyncio.wait_for(
        run_pacer(pacer, start, asyncio.Event(), end_ns=start_ns + S), timeout=10)
    assert count == len(intended)
    assert 190 <= count <= 201  # 200/s over 1 s (the first arrival is at the start)
    assert intended == sorted(intended) and intended[-1] < start_ns + S
    assert min(lags) >= 0
    assert statistics.median(lags) < 50 * MS  # generous: only catches a broken sleep


async def test_run_pacer_stops_on_event():
    stop = asyncio.Event()
    calls = []

    def start(t: int) -> None:
        calls.append(t)
        if len(calls) == 5:
            stop.set()

    count = await asyncio.wait_for(run_pacer(Pacer(100), start, stop), timeout=10)
    assert count == 5


async def test_run_pacer_picks_up_rate_change_between_wakes():
    pacer = Pacer(0)
    calls: list[int] = []
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, lambda: pacer.set_rate(100, time.perf_counter_ns()))
    end = time.perf_counter_ns() + S
    count = await asyncio.wait_for(run_pacer(pacer, calls.append, asyncio.Event(), end),
                                   timeout=10)
    assert count == len(calls)
    assert 40 <= count <= 75  # ~0.7 s at 100/s, and nothing during the first 0.3 s
