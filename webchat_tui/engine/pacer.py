"""Open-model arrival schedule: constant or Poisson arrivals, live rate changes, ramps, stages.

The pacer decides *when* each session is intended to start; `run_pacer` is the one scheduler
coroutine that starts sessions at those times (DESIGN.md section 4, "Pacing").

Model: the target rate is a piecewise-linear function of time (a constant, or linear ramps then
a constant). Each gap between arrivals is an amount of "work" measured in arrivals: exactly 1 for
constant pacing, an Exp(1) draw for Poisson pacing. The next arrival is the time at which the
integral of the rate since the previous arrival reaches that work. So:
  - a constant rate r gives gaps of exactly 1/r;
  - over a ramp the n-th arrival falls where the integral of rate(t) reaches n;
  - on a rate change the unspent part of the current gap is kept and re-spent at the new rate,
    which is `next_due = now + (next_due - now) * old / new` (no burst and no hole);
  - Poisson arrivals over a ramp are a non-homogeneous Poisson process (time rescaling).
We never compute "how many are due" as rate x elapsed: that bursts or stalls on every change.

All times are integer `time.perf_counter_ns()` values; internally the pacer keeps float offsets
(ns) from an anchor so long runs do not accumulate rounding drift.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Literal, Protocol

Clock = Callable[[], int]
ArrivalKind = Literal["constant", "poisson"]

NS_PER_S = 1_000_000_000
MAX_SLEEP_S = 0.005  # wake at least this often so rate changes take effect quickly


class StageLike(Protocol):
    duration_s: float
    rate: float


@dataclass(frozen=True)
class _Segment:
    """Linear rate from r0 at t0 to r1 at t1 (offsets in ns from the pacer's anchor)."""
    t0: float
    t1: float
    r0: float  # arrivals per second
    r1: float

    def rate_at(self, t: float) -> float:
        return self.r0 + (self.r1 - self.r0) * (t - self.t0) / (self.t1 - self.t0)


class Pacer:
    """Intended arrival times for an open-model load (see the module docstring)."""

    def __init__(self, rate: float, arrivals: ArrivalKind = "constant", seed: int | None = None,
                 clock: Clock = time.perf_counter_ns, start_ns: int | None = None) -> None:
        if arrivals not in ("constant", "poisson"):
            raise ValueError(f"arrivals must be 'constant' or 'poisson', not {arrivals!r}")
        _check_rate(rate)
        self.arrivals: ArrivalKind = arrivals
        self._clock = clock
        self._rng = random.Random(seed)
        self._anchor = clock() if start_ns is None else start_ns
        self._segments: list[_Segment] = []   # ramps, in time order, then `_final_rate`
        self._final_rate = float(rate)
        self._paused = False
        self._paused_work: float | None = None  # unspent work of the gap cut by pause()
        # The first constant arrival is at the start; a Poisson one waits one random gap.
        self._due: float | None = None
        if rate > 0:
            first_work = self._rng.expovariate(1.0) if arrivals == "poisson" else 0.0
            self._due = self._solve(0.0, first_work)

    # ---- reading the schedule -------------------------------------------------------------
    def next_due_ns(self) -> int | None:
        """Intended time of the next arrival; None when paused or when the rate stays at 0."""
        if self._paused or self._due is None:
            return None
        return self._anchor + round(self._due)

    def advance(self) -> int:
        """Consume the next arrival and schedule the one after it; returns its intended time."""
        due = self.next_due_ns()
        if due is None:
            raise RuntimeError("no arrival is scheduled (paused or rate 0)")
        assert self._due is not None
        self._due = self._solve(self._due, self._gap_work())
        self._prune(self._due)
        return due

    def rate_at(self, t_ns: int) -> float:
        """Target rate of the schedule at time t (ignores pause); past the end of ramps: final."""
        return self._rate_at(float(t_ns - self._anchor))

    def current_rate(self, now_ns: int | None = None) -> float:
        """Target rate now (during a ramp: the ramp's current value). Pausing does not zero it."""
        return self.rate_at(self._clock() if now_ns is None else now_ns)

    @property
    def target_rate(self) -> float:
        """The rate the schedule settles at (the end of the current ramp or stages)."""
        return self._final_rate

    @property
    def ramping(self) -> bool:
        """True while a ramp (or stage) is still in progress."""
        now = float(self._clock() - self._anchor)
        return any(seg.t1 > now for seg in self._segments)

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def paused(self) -> bool:
        return self._paused

    def ramp_end_ns(self) -> int | None:
        """When the last ramp/stage ends (None if none is scheduled)."""
        if not self._segments:
            return None
        return self._anchor + round(self._segments[-1].t1)

    # ---- steering -------------------------------------------------------------------------
    def set_rate(self, rate: float, now_ns: int) -> None:
        """Change the rate now; cancels any ramp. The current gap is rescaled (see module doc)."""
        _check_rate(rate)
        self._replan(now_ns, [], float(rate))

    def ramp_to(self, rate: float, seconds: float, now_ns: int) -> None:
        """Ramp linearly from the current rate to `rate` over `seconds`, then hold it."""
        _check_rate(rate)
        if seconds <= 0:
            self.set_rate(rate, now_ns)
            return
        self.set_stages([(seconds, rate)], now_ns)

    def set_stages(self, stages: Iterable[StageLike | tuple[float, float]], now_ns: int) -> int:
        """k6-style stages: ramp linearly from the previous rate to each stage's rate over its
        duration, starting from the current rate. Returns when the last stage ends (ns)."""
        now = float(now_ns - self._anchor)
        t, r = now, self._rate_at(now)
        segments: list[_Segment] = []
        for stage in stages:
            duration_s, rate = _stage_fields(stage)
            _check_rate(rate)
            if duration_s < 0:
                raise ValueError(f"stage duration must be >= 0, not {duration_s}")
            if duration_s > 0:
                segments.append(_Segment(t, t + duration_s * NS_PER_S, r, float(rate)))
                t += duration_s * NS_PER_S
            r = float(rate)
        self._replan(now_ns, segments, r)
        return self._anchor + round(t)

    def pause(self, now_ns: int) -> None:
        """Stop arrivals. The unspent part of the current gap is kept for resume()."""
        if self._paused:
            return
        now = float(now_ns - self._anchor)
        self._paused_work = None if self._due is None else max(0.0, self._integral(now, self._due))
        self._paused = True

    def resume(self, now_ns: int) -> None:
        """Restart arrivals from now: no catch-up burst for the time spent paused."""
        if not self._paused:
            return
        now = float(now_ns - self._anchor)
        self._paused = False
        work = self._paused_work if self._paused_work is not None else self._gap_work()
        self._paused_work = None
        self._due = self._solve(now, work)

    # ---- internals ------------------------------------------------------------------------
    def _gap_work(self) -> float:
        return self._rng.expovariate(1.0) if self.arrivals == "poisson" else 1.0

    def _replan(self, now_ns: int, segments: list[_Segment], final_rate: float) -> None:
        """Swap in a new rate schedule from now on, keeping the current gap's unspent work."""
        now = float(now_ns - self._anchor)
        if self._paused:
            # The gap's unspent work is kept in _paused_work; resume() spends it at the new rate.
            self._segments, self._final_rate = segments, final_rate
            return
        if self._due is not None and self._due <= now:
            # Already due (the scheduler has not woken yet): it stays due, nothing to rescale.
            self._segments, self._final_rate = segments, final_rate
            return
        if self._due is None or self.arrivals == "poisson":
            work = self._gap_work()  # from rate 0: one gap after now; Poisson: a fresh gap
        else:
            work = self._integral(now, self._due)
        self._segments, self._final_rate = segments, final_rate
        self._due = self._solve(now, work)

    def _prune(self, t: float | None) -> None:
        # Later computations all start at or after the next due time.
        if t is not None:
            while self._segments and self._segments[0].t1 <= t:
                self._segments.pop(0)

    def _rate_at(self, t: float) -> float:
        for seg in self._segments:
            if t < seg.t0:
                return seg.r0
            if t < seg.t1:
                return seg.rate_at(t)
        return self._final_rate

    def _pieces(self, a: float) -> Iterable[tuple[float, float, float, float]]:
        """(start, end, rate at start, slope per ns) of the linear pieces from time a onwards;
        the last piece is the final constant rate with end = inf."""
        for seg in self._segments:
            if seg.t1 <= a:
                continue
            if a < seg.t0:  # a gap before this segment runs at the segment's start rate
                yield a, seg.t0, seg.r0, 0.0
                a = seg.t0
            slope = (seg.r1 - seg.r0) / (seg.t1 - seg.t0)
            yield a, seg.t1, seg.rate_at(a), slope
            a = seg.t1
        yield a, math.inf, self._final_rate, 0.0

    def _integral(self, a: float, b: float) -> float:
        """Arrivals' worth of work between offsets a and b (ns)."""
        if b <= a:
            return 0.0
        total = 0.0
        for start, end, r, k in self._pieces(a):
            hi = min(end, b)
            tau = hi - start
            total += (r * tau + 0.5 * k * tau * tau) / NS_PER_S
            if hi >= b:
                break
        return total

    def _solve(self, a: float, work: float) -> float | None:
        """The time t >= a where the integral of the rate from a reaches `work`; None if never."""
        remaining = work
        for start, end, r, k in self._pieces(a):
            if remaining <= 0:
                return start
            w = remaining * NS_PER_S  # in rate x ns units
            disc = r * r + 2.0 * k * w
            if disc >= 0 and r + math.sqrt(disc) > 0:
                tau = 2.0 * w / (r + math.sqrt(disc))  # stable root of r*tau + k*tau^2/2 = w
                if start + tau <= end:
                    return start + tau
            if end == math.inf:
                return None  # the final rate is 0: the work is never reached
            length = end - start
            remaining -= (r * length + 0.5 * k * length * length) / NS_PER_S
        return None


def _check_rate(rate: float) -> None:
    if not (rate >= 0 and math.isfinite(rate)):
        raise ValueError(f"rate must be a finite number >= 0, not {rate!r}")


def _stage_fields(stage: StageLike | tuple[float, float]) -> tuple[float, float]:
    if isinstance(stage, tuple):
        return float(stage[0]), float(stage[1])
    return float(stage.duration_s), float(stage.rate)


async def run_pacer(pacer: Pacer, start_session: Callable[[int], object],
                    stop_event: asyncio.Event, end_ns: int | None = None,
                    clock: Clock | None = None) -> int:
    """The scheduler coroutine: start every session whose intended time has passed, then sleep
    until the next one (at most MAX_SLEEP_S, so rate changes made between wakes apply quickly).

    `start_session(intended_ns)` must be synchronous and quick (it creates a task). Runs until
    `stop_event` is set or `end_ns` is reached (arrivals due at or after end_ns are not started).
    Returns the number of sessions started.
    """
    clock = clock or pacer.clock
    started = 0
    while not stop_event.is_set():
        now = clock()
        if end_ns is not None and now >= end_ns:
            # Arrivals due before the end but not yet started (a late wake) still belong to the run.
            now = end_ns - 1
        while True:
            due = pacer.next_due_ns()
            if due is None or due > now or (end_ns is not None and due >= end_ns):
                break
            pacer.advance()
            start_session(due)
            started += 1
        if end_ns is not None and clock() >= end_ns:
            break
        wake = MAX_SLEEP_S
        if due is not None:
            wake = min(wake, (due - clock()) / NS_PER_S)
        if end_ns is not None:
            wake = min(wake, (end_ns - clock()) / NS_PER_S)
        await asyncio.sleep(max(0.0, wake))
    return started
