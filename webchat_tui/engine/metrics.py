"""Metrics recorder and immutable snapshots (DESIGN.md sections 3-5).

CONTRACT (other modules code against this; keep it stable):

The flow code calls the Recorder from the engine's event loop (no locks needed):
    rec.session_started(t_intended_ns, t_actual_ns)     -> records start_lag, counts an arrival
    rec.arrival_dropped()                               -> an arrival not started: in-flight cap
    rec.phase(name, duration_ns)                        -> one phase timing, name in PHASES
    rec.session_finished(outcome, t_end_ns, t_intended_ns, detail=None)
                                                        -> outcome counted once per session;
                                                           `total` recorded only when a reply came
    rec.sse_miss(kind)                                  -> kind in {"race","lost"} (with outcome)
    rec.server_confirmed_miss()                         -> a log-confirmed miss (issue 6)
    rec.server_log_miss(kind)                           -> a server-log miss line for a session
                                                           that was not this run's ("foreign") or
                                                           had already ended ("late"); the key
                                                           appears in snapshot.sse_miss once counted
    rec.warn(kind, message, session_id=None)            -> warnings log (bounded ring)
    rec.event(kind, detail, rate)                       -> rate/mode/pause events on the timeline
    rec.set_state(state, target_rate, send_mode, in_flight)  -> header fields (cheap, call often)
    rec.output_tokens(count, seconds, unit)             -> openai flow: one reply's output size and
                                                           generation time; unit "tokens" (from usage)
                                                           or "chunks" (counted SSE chunks)
    rec.snapshot() -> MetricsSnapshot                   -> immutable value; ~4 Hz from the UI
    rec.fold()                                          -> (extension) fold raw values into the
                                                           histograms; call every ~100 ms from a
                                                           timer (snapshot() folds too)

Recorder(t0_ns, max_inflight, target_rate, send_mode, clock=time.perf_counter_ns): `clock` is an
extension for tests (fake clocks); it must be the clock the timestamps come from.
Definitions of every figure: docs/METRICS.md.

All timestamps are time.perf_counter_ns(); the recorder is created with the run's t0_ns.
Histograms are in microseconds, 3 significant digits, range 1 us .. 1 h.
"""

from __future__ import annotations

import math
import time
import weakref
from array import array
from collections import deque
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Iterable, Mapping

from hdrh.histogram import HdrHistogram

from webchat_tui.engine.outcomes import FINISHED, Outcome, success_rate

PHASES = ("create", "connect", "send", "first_reply", "reply", "total")
START_LAG = "start_lag"
ITL = "itl"  # inter-token latency (openai flow): gap between consecutive content chunks
HIST_NAMES = PHASES + (ITL, START_LAG)
WINDOW_S = 10            # the "last N seconds" latency view
TIMELINE_KEEP_S = 3600   # per-second buckets kept in a snapshot (bounded)
WARNINGS_KEEP = 200      # recent warnings kept (bounded); counts per kind are kept forever
GENERATOR_LIMITED_LAG_MS = 10.0  # start_lag p99 above this marks the run generator-limited
GENERATOR_LIMITED_MIN_LATE = 3   # ... and at least this many late starts (see generator_limited)

EVENTS_KEEP = 1000       # run events kept (bounded; newest kept)
DETAILS_KEEP = 100       # distinct "outcome: detail" keys counted; the rest go to "(other)"
ACHIEVED_WINDOW_S = 5    # achieved_rate: arrivals over the last this many full seconds
HIST_LOWEST_US = 1
HIST_HIGHEST_US = 3_600_000_000
HIST_DIGITS = 3
FOLD_EVERY_VALUES = 4096  # the hot path folds by itself when nobody called fold() for this long
METRICS_SCHEMA = 1        # version of the to_json() layout
ACTIVE_STATES = frozenset({"running", "ramping"})  # arrivals are being generated
STATE_PRIORITY = ("running", "ramping", "paused", "stopping", "idle", "finished")
_REPLY_OUTCOMES = frozenset({Outcome.OK, Outcome.SLOW})
_FINISHED = frozenset(FINISHED)
_NS = 1_000_000_000
_PCTS = (50.0, 90.0, 99.0)
_BLOCK = 256  # counters summed per step in percentile_values


def new_histogram() -> HdrHistogram:
    return acyclic(HdrHistogram(HIST_LOWEST_US, HIST_HIGHEST_US, HIST_DIGITS))


def acyclic(hist: HdrHistogram) -> HdrHistogram:
    """Break the histogram <-> encoder reference cycle so a dropped histogram (188 KiB of
    counters) is freed at once instead of waiting for the cyclic GC: with snapshot copies made
    at 4 Hz the cycle grew RSS by ~0.4 MiB/s. The encoder only uses the back reference while its
    histogram is alive."""
    encoder = hist.encoder
    if not isinstance(encoder.histogram, weakref.ProxyType):
        encoder.histogram = weakref.proxy(hist)
    return hist


@dataclass(frozen=True)
class PhaseStats:
    """Display percentiles of one histogram, in milliseconds."""
    count: int
    p50: float
    p90: float
    p99: float
    max: float
    mean: float


EMPTY_STATS = PhaseStats(0, 0.0, 0.0, 0.0, 0.0, 0.0)


def phase_stats(hist: HdrHistogram, mean_ms: float | None = None) -> PhaseStats:
    """Percentiles of `hist` in ms. `mean_ms` is the exact mean when the caller tracked it
    (HdrHistogram's own get_mean_value() walks every bucket in Python: ~40 ms)."""
    count = hist.get_total_count()
    if not count:
        return EMPTY_STATS
    p = percentile_values(hist, _PCTS)
    if mean_ms is None:
        mean_ms = hist.get_mean_value() / 1000
    return PhaseStats(count, p[50.0] / 1000, p[90.0] / 1000, p[99.0] / 1000,
                      hist.get_max_value() / 1000, mean_ms)


def percentile_values(hist: HdrHistogram, percentiles: Iterable[float]) -> dict[float, int]:
    """Same result as HdrHistogram.get_percentile_to_value_dict (values in us), ~6x faster on a
    wide histogram: whole blocks of counters are summed in C and only the block holding a
    percentile is walked in Python. Matters at 4 Hz x 16 histograms."""
    total = hist.get_total_count()
    if not total:
        return {p: 0 for p in percentiles}
    targets = sorted((hist.get_target_count_at_percentile(p), p) for p in percentiles)
    counts = _counts_array(hist)
    out: dict[float, int] = {}
    cum, ti = 0, 0
    for start in range(0, len(counts), _BLOCK):
        if ti == len(targets):
            break
        block = counts[start:start + _BLOCK]
        block_sum = sum(block)
        if cum + block_sum < targets[ti][0]:
            cum += block_sum
            continue
        for j, c in enumerate(block):
            cum += c
            while ti < len(targets) and cum >= targets[ti][0]:
                value = hist.get_value_from_index(start + j)
                p = targets[ti][1]
                out[p] = (hist.get_highest_equivalent_value(value) if p
                          else hist.get_lowest_equivalent_value(value))
                ti += 1
    for _, p in targets[ti:]:  # only if counts and total disagree (corrupt input)
        out[p] = hist.get_max_value()
    return out


def generator_limited(start_lag: HdrHistogram) -> bool:
    """More than 1% of the arrivals, and at least GENERATOR_LIMITED_MIN_LATE of them, started over
    GENERATOR_LIMITED_LAG_MS late. At large counts this is "p99 > limit"; at 5/s a 10 s window
    holds 50 arrivals, and one or two late starts (the dashboard starting up) must not raise the
    alarm on their own."""
    n = start_lag.get_total_count()
    if n < GENERATOR_LIMITED_MIN_LATE:
        return False
    limit_index = start_lag.get_counts_array_index(int(GENERATOR_LIMITED_LAG_MS * 1000))
    late = sum(_counts_array(start_lag)[limit_index + 1:])
    return late >= GENERATOR_LIMITED_MIN_LATE and late > 0.01 * n


def sum_histograms(hists: Iterable[HdrHistogram]) -> HdrHistogram:
    """A new histogram holding the sum of `hists` (none of them is changed)."""
    out = new_histogram()
    for h in hists:
        if h.get_total_count():
            out.add(h)
    return out


@dataclass(frozen=True)
class SecondBucket:
    """One second of the run's timeline (second index t since run start)."""
    t: int
    started: int          # arrivals started in this second (real arrivals per second)
    finished: int
    ok: int
    failed: int
    dropped: int          # arrivals dropped at the in-flight cap
    outcomes: Mapping[str, int]
    target_rate: float    # target rate at the end of the second
    in_flight: int        # at the end of the second


@dataclass(frozen=True)
class RunEvent:
    t: float              # seconds since run start
    kind: str             # "rate" | "ramp" | "pause" | "resume" | "mode" | "stage" | "start" | "stop"
    detail: str           # human text, e.g. "5.00 -> 6.25/s"
    rate: float           # target rate after the event


@dataclass(frozen=True)
class Warning:
    t: float
    kind: str             # "sse_miss" | "rate_limited" | "pool_timeout" | "http_error" | "engine" | ...
    message: str
    session_id: str | None = None


@dataclass(frozen=True)
class MetricsSnapshot:
    elapsed_s: float
    state: str            # "idle" | "running" | "paused" | "ramping" | "stopping" | "finished"
    target_rate: float
    achieved_rate: float  # arrivals/s over the last 5 full seconds (or the run so far if shorter)
    send_mode: str
    started: int
    finished: int         # sessions with an outcome in outcomes.FINISHED
    ok: int
    in_flight: int
    max_inflight: int
    dropped: int
    outcomes: Mapping[str, int]                # every Outcome value present, zeros included
    success_rate: float                        # percent, ok / finished
    sse_miss: Mapping[str, int]                # {"race", "lost", "server_confirmed"}, plus
                                               # "foreign"/"late" once the log tail counted one
    phases: Mapping[str, PhaseStats]           # cumulative, every name in HIST_NAMES
    window_phases: Mapping[str, PhaseStats]    # last WINDOW_S seconds, every name in HIST_NAMES
    # Copies owned by this snapshot: treat as read-only. Cumulative and last-WINDOW_S-seconds.
    histograms: Mapping[str, HdrHistogram]
    window_histograms: Mapping[str, HdrHistogram]
    timeline: tuple[SecondBucket, ...]
    events: tuple[RunEvent, ...]
    warnings: tuple[Warning, ...]              # newest last, at most WARNINGS_KEEP
    warning_counts: Mapping[str, int]          # per kind, whole run
    generator_limited: bool                    # start_lag p99 > GENERATOR_LIMITED_LAG_MS
    # openai flow: {"count": total output units, "per_s": mean units/s per reply, "unit": ...}
    # (also "replies": replies counted, so merged snapshots can weight per_s). Empty: no data.
    output: Mapping[str, object] = field(default_factory=dict)
    # Extensions (added after the first contract; defaults keep old constructors working):
    peak_in_flight: int = 0                    # highest in_flight reported through set_state
    outcome_details: Mapping[str, int] = field(default_factory=dict)  # "http_error: 503 create"

    def merge(self, other: "MetricsSnapshot") -> "MetricsSnapshot":
        """Combine two engines' snapshots (future worker processes): counters add, HDRs add."""
        from webchat_tui.engine.metrics_codec import merge_snapshots  # codec imports this module
        return merge_snapshots(self, other)

    def to_json(self) -> dict:
        """Plain JSON-able dict; histograms as HdrHistogram base64 strings."""
        from webchat_tui.engine.metrics_codec import snapshot_to_json
        return snapshot_to_json(self)

    @classmethod
    def from_json(cls, data: dict) -> "MetricsSnapshot":
        """Inverse of to_json(). Raises ValueError naming the bad key on malformed data."""
        from webchat_tui.engine.metrics_codec import snapshot_from_json
        return snapshot_from_json(data)


def latency_bins(hist: HdrHistogram, n_bins: int = 24) -> tuple[list[float], list[int]]:
    """Log-spaced bins over the histogram's recorded range: (bin lower edges in ms, counts).

    The counts sum to the histogram's total count. Empty histogram -> ([], []); all values in
    one HDR bucket -> a single bin. Bin edges are mapped to counter indexes, so each bin is
    one C-level sum over a slice of the counters."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, not {n_bins}")
    counts = _counts_array(hist)
    first, last = _nonzero_range(counts)
    if first > last:
        return [], []
    lo_us = max(hist.get_value_from_index(first), HIST_LOWEST_US)
    hi_us = hist.get_value_from_index(last)
    if hi_us <= lo_us:
        return [lo_us / 1000], [sum(counts[first:last + 1])]
    ratio = hi_us / lo_us
    edges_us = [lo_us * ratio ** (k / n_bins) for k in range(n_bins)]
    bounds = [first]
    for edge in edges_us[1:]:
        bounds.append(min(last + 1, max(bounds[-1], hist.get_counts_array_index(math.ceil(edge)))))
    bounds.append(last + 1)
    bins = [sum(counts[a:b]) for a, b in zip(bounds, bounds[1:])]
    return [e / 1000 for e in edges_us], bins


def _counts_array(hist: HdrHistogram) -> array:
    """The histogram's counters as a native array (reading the ctypes array item by item is
    ~20x slower)."""
    raw = bytes(hist.counts)
    size = len(raw) // max(1, hist.counts_len)
    code = next(c for c in "HILQ" if array(c).itemsize == size)
    return array(code, raw)


def _nonzero_range(counts: array) -> tuple[int, int]:
    """(first, last) index of non-zero counters; first > last when all are zero."""
    raw = counts.tobytes()
    size = counts.itemsize
    first = (len(raw) - len(raw.lstrip(b"\0"))) // size
    last = (len(raw.rstrip(b"\0")) - 1) // size
    return first, last


# ---------------------------------------------------------------------------------------------
# Recorder


class _Acc:
    """One histogram plus the exact sum of its values (for an exact mean)."""
    __slots__ = ("hist", "sum_us")

    def __init__(self) -> None:
        self.hist = new_histogram()
        self.sum_us = 0

    @property
    def count(self) -> int:
        return self.hist.total_count


class _Bucket:
    """Mutable counters of one timeline second (frozen into a SecondBucket by snapshot())."""
    __slots__ = ("started", "finished", "ok", "failed", "dropped", "outcomes", "target_rate",
                 "in_flight")

    def __init__(self, target_rate: float, in_flight: int) -> None:
        self.started = self.finished = self.ok = self.failed = self.dropped = 0
        self.outcomes: dict[str, int] = {}
        self.target_rate = target_rate
        self.in_flight = in_flight


_ZERO_OUTCOMES = MappingProxyType({o.value: 0 for o in Outcome})


class Recorder:
    """Collects one run's measurements; see the module docstring for the call contract.

    Hot-path calls only append raw values and bump counters. `fold()` (the engine's ~100 ms
    timer; `snapshot()` also calls it) moves raw values into the current second's interval
    histograms. Interval histograms of the last WINDOW_S seconds make the window view; each
    closed second is also added into a cumulative histogram. Nothing is kept per session.

    `clock` is injectable for tests; it must be the same clock the timestamps come from.
    """

    def __init__(self, t0_ns: int, max_inflight: int, target_rate: float, send_mode: str,
                 clock: Callable[[], int] = time.perf_counter_ns) -> None:
        self._t0 = t0_ns
        self._clock = clock
        self._max_inflight = max_inflight
        self._state = "idle"
        self._target_rate = float(target_rate)
        self._send_mode = send_mode
        self._in_flight = 0
        self._peak_in_flight = 0
        self._active_ns = 0                 # time spent in ACTIVE_STATES so far
        self._active_since: int | None = None
        # Raw values (ns) waiting for fold().
        self._pending: dict[str, list[int]] = {name: [] for name in HIST_NAMES}
        self._n_pending = 0
        # Folded values: `_sec` is the second the newest interval belongs to; `_closed` holds
        # every second before it; `_ring` the interval histograms of the last WINDOW_S seconds.
        self._sec = 0
        self._closed: dict[str, _Acc] = {name: _Acc() for name in HIST_NAMES}
        self._ring: dict[str, deque[tuple[int, _Acc]]] = {name: deque() for name in HIST_NAMES}
        self._hist_cache: dict[tuple[str, str], tuple[object, HdrHistogram, PhaseStats]] = {}
        # Counters.
        self._started = 0
        self._dropped = 0
        self._outcomes: dict[str, int] = {o: 0 for o in Outcome}
        self._details: dict[str, int] = {}
        self._sse = {"race": 0, "lost": 0, "server_confirmed": 0}
        self._warnings: deque[Warning] = deque(maxlen=WARNINGS_KEEP)
        self._warning_counts: dict[str, int] = {}
        self._events: deque[RunEvent] = deque(maxlen=EVENTS_KEEP)
        self._gen_limited = False
        self._out_count = 0
        self._out_replies = 0
        self._out_rate_sum = 0.0
        self._out_rated = 0
        self._out_unit: str | None = None
        # Timeline: mutable buckets by second, and their frozen form (contiguous from _tl_first).
        self._buckets: dict[int, _Bucket] = {}
        self._dirty: set[int] = set()
        self._tl: list[SecondBucket] = []
        self._tl_first = 0

    @property
    def t0_ns(self) -> int:
        return self._t0

    # ---- hot path ---------------------------------------------------------------------------
    def session_started(self, t_intended_ns: int, t_actual_ns: int) -> None:
        self._started += 1
        self._bucket_at(t_actual_ns).started += 1
        self._add(START_LAG, t_actual_ns - t_intended_ns)

    def arrival_dropped(self) -> None:
        self._dropped += 1
        self._bucket_at(self._clock()).dropped += 1

    def phase(self, name: str, duration_ns: int) -> None:
        if name not in self._pending:
            raise ValueError(f"unknown histogram {name!r}; expected one of {HIST_NAMES}")
        self._add(name, duration_ns)

    def session_finished(self, outcome: Outcome | str, t_end_ns: int, t_intended_ns: int,
                         detail: str | None = None) -> None:
        if outcome not in self._outcomes:
            raise ValueError(f"unknown outcome {outcome!r}")
        outcome = Outcome(outcome)
        self._outcomes[outcome] += 1
        bucket = self._bucket_at(t_end_ns)
        bucket.outcomes[outcome.value] = bucket.outcomes.get(outcome.value, 0) + 1
        if outcome in _FINISHED:
            bucket.finished += 1
            if outcome is Outcome.OK:
                bucket.ok += 1
            else:
                bucket.failed += 1
        if outcome in _REPLY_OUTCOMES:
            self._add("total", t_end_ns - t_intended_ns)
        if detail:
            key = f"{outcome.value}: {detail}"
            if key not in self._details and len(self._details) >= DETAILS_KEEP:
                key = f"{outcome.value}: (other)"
            self._details[key] = self._details.get(key, 0) + 1

    def sse_miss(self, kind: str) -> None:
        if kind not in ("race", "lost"):
            raise ValueError(f"sse_miss kind must be 'race' or 'lost', not {kind!r}")
        self._sse[kind] += 1

    def server_confirmed_miss(self) -> None:
        self._sse["server_confirmed"] += 1

    def server_log_miss(self, kind: str) -> None:
        if kind not in ("foreign", "late"):
            raise ValueError(f"server-log miss kind must be 'foreign' or 'late', not {kind!r}")
        self._sse[kind] = self._sse.get(kind, 0) + 1

    def warn(self, kind: str, message: str, session_id: str | None = None) -> None:
        self._warnings.append(Warning(self._since_t0(), kind, message, session_id))
        self._warning_counts[kind] = self._warning_counts.get(kind, 0) + 1

    def event(self, kind: str, detail: str, rate: float) -> None:
        self._events.append(RunEvent(self._since_t0(), kind, detail, float(rate)))

    def set_state(self, state: str, target_rate: float, send_mode: str, in_flight: int) -> None:
        now = self._clock()
        if state != self._state:
            was_active, is_active = self._state in ACTIVE_STATES, state in ACTIVE_STATES
            if was_active and not is_active and self._active_since is not None:
                self._active_ns += now - self._active_since
                self._active_since = None
            elif is_active and not was_active:
                self._active_since = now
            self._state = state
        self._target_rate = float(target_rate)
        self._send_mode = send_mode
        self._in_flight = in_flight
        self._peak_in_flight = max(self._peak_in_flight, in_flight)
        bucket = self._bucket_at(now)
        bucket.target_rate, bucket.in_flight = self._target_rate, in_flight

    def output_tokens(self, count: int, seconds: float, unit: str) -> None:
        self._out_count += count
        self._out_replies += 1
        if seconds > 0:
            self._out_rate_sum += count / seconds
            self._out_rated += 1
        self._out_unit = unit if self._out_unit in (None, unit) else "mixed"

    def _add(self, name: str, ns: int) -> None:
        self._pending[name].append(ns)
        self._n_pending += 1
        if self._n_pending >= FOLD_EVERY_VALUES:  # bounded memory even if nobody folds
            self.fold()

    def _since_t0(self) -> float:
        return (self._clock() - self._t0) / _NS

    def _second(self, t_ns: int) -> int:
        return max(0, (t_ns - self._t0) // _NS)

    def _bucket_at(self, t_ns: int) -> _Bucket:
        sec = self._second(t_ns)
        bucket = self._buckets.get(sec)
        if bucket is None:
            bucket = self._buckets[sec] = _Bucket(self._target_rate, self._in_flight)
        self._dirty.add(sec)
        return bucket

    # ---- folding ----------------------------------------------------------------------------
    def fold(self) -> None:
        """Move raw values into the current second's histograms (cheap; call every ~100 ms)."""
        sec = self._second(self._clock())
        if sec > self._sec:
            self._roll(sec)
        if not self._n_pending:
            return
        for name, values in self._pending.items():
            if not values:
                continue
            acc = self._current(name)
            record = acc.hist.record_value
            total = 0
            for ns in values:
                us = ns // 1000
                us = 0 if us < 0 else HIST_HIGHEST_US if us > HIST_HIGHEST_US else us
                record(us)
                total += us
            acc.sum_us += total
            values.clear()
        self._n_pending = 0

    def _current(self, name: str) -> _Acc:
        ring = self._ring[name]
        if ring and ring[-1][0] == self._sec:
            return ring[-1][1]
        acc = _Acc()
        ring.append((self._sec, acc))
        return acc

    def _roll(self, sec: int) -> None:
        """The clock entered second `sec`: close the current interval into the cumulative one
        and drop intervals that left the window."""
        for name, ring in self._ring.items():
            if ring and ring[-1][0] == self._sec:
                acc, closed = ring[-1][1], self._closed[name]
                if acc.count:
                    closed.hist.add(acc.hist)
                    closed.sum_us += acc.sum_us
            while ring and ring[0][0] <= sec - WINDOW_S:
                ring.popleft()
        self._sec = sec

    # ---- snapshot ---------------------------------------------------------------------------
    def snapshot(self) -> MetricsSnapshot:
        self.fold()
        now = self._clock()
        elapsed = max(0.0, (now - self._t0) / _NS)
        phases, hists, window_phases, window_hists = {}, {}, {}, {}
        for name in HIST_NAMES:
            hists[name], phases[name] = self._cumulative(name)
            window_hists[name], window_phases[name] = self._window(name)
        lag = window_phases[START_LAG]
        limited = generator_limited(window_hists[START_LAG])
        if limited and not self._gen_limited:
            self.warn("engine", f"generator-limited: start_lag p99 {lag.p99:.1f} ms > "
                                f"{GENERATOR_LIMITED_LAG_MS:.0f} ms (the tool cannot keep the "
                                "schedule; latencies include its own delay)")
        self._gen_limited = limited
        ok = self._outcomes[Outcome.OK]
        finished = sum(self._outcomes[o] for o in FINISHED)
        return MetricsSnapshot(
            elapsed_s=elapsed,
            state=self._state,
            target_rate=self._target_rate,
            achieved_rate=self._achieved_rate(now, elapsed),
            send_mode=self._send_mode,
            started=self._started,
            finished=finished,
            ok=ok,
            in_flight=self._in_flight,
            max_inflight=self._max_inflight,
            dropped=self._dropped,
            outcomes=MappingProxyType({o.value: n for o, n in self._outcomes.items()}),
            success_rate=success_rate(ok, finished),
            sse_miss=MappingProxyType(dict(self._sse)),
            phases=MappingProxyType(phases),
            window_phases=MappingProxyType(window_phases),
            histograms=MappingProxyType(hists),
            window_histograms=MappingProxyType(window_hists),
            timeline=self._timeline(),
            events=tuple(self._events),
            warnings=tuple(self._warnings),
            warning_counts=MappingProxyType(dict(self._warning_counts)),
            generator_limited=limited,
            output=MappingProxyType(self._output()),
            peak_in_flight=self._peak_in_flight,
            outcome_details=MappingProxyType(dict(self._details)),
        )

    def _cached(self, name: str, view: str, key: object,
                parts: list[_Acc]) -> tuple[HdrHistogram, PhaseStats]:
        """A fresh histogram copy + stats for `parts`, reused while `key` is unchanged (the
        counts only grow, so equal keys mean equal content)."""
        hit = self._hist_cache.get((name, view))
        if hit is not None and hit[0] == key:
            return hit[1], hit[2]
        hist = sum_histograms(acc.hist for acc in parts)
        count = hist.get_total_count()
        mean_ms = sum(acc.sum_us for acc in parts) / count / 1000 if count else 0.0
        stats = phase_stats(hist, mean_ms)
        self._hist_cache[(name, view)] = (key, hist, stats)
        return hist, stats

    def _cumulative(self, name: str) -> tuple[HdrHistogram, PhaseStats]:
        parts = [self._closed[name]]
        ring = self._ring[name]
        if ring and ring[-1][0] == self._sec:
            parts.append(ring[-1][1])
        key = (self._sec, tuple(acc.count for acc in parts))
        return self._cached(name, "cum", key, parts)

    def _window(self, name: str) -> tuple[HdrHistogram, PhaseStats]:
        ring = self._ring[name]
        key = tuple((sec, acc.count) for sec, acc in ring)
        return self._cached(name, "win", key, [acc for _, acc in ring])

    def _achieved_rate(self, now: int, elapsed: float) -> float:
        if self._state in ("stopping", "finished"):
            active = self._active_ns
            if self._active_since is not None:
                active += now - self._active_since
            seconds = active / _NS if active > 0 else elapsed
            return self._started / seconds if seconds > 0 else 0.0
        n = min(ACHIEVED_WINDOW_S, self._sec)
        if n == 0:  # inside the first second
            return self._started / elapsed if elapsed > 0 else 0.0
        buckets = self._buckets
        return sum(buckets[s].started for s in range(self._sec - n, self._sec)
                   if s in buckets) / n

    def _output(self) -> dict[str, object]:
        if not self._out_replies:
            return {}
        per_s = self._out_rate_sum / self._out_rated if self._out_rated else 0.0
        return {"count": self._out_count, "per_s": per_s, "unit": self._out_unit,
                "replies": self._out_replies}

    def _timeline(self) -> tuple[SecondBucket, ...]:
        """Contiguous per-second buckets up to the current second (gaps filled with zeros),
        at most TIMELINE_KEEP_S; only seconds touched since the last call are re-frozen."""
        cur = self._sec
        first = max(0, cur - TIMELINE_KEEP_S + 1)
        if first > self._tl_first:
            del self._tl[:first - self._tl_first]
            self._tl_first = first
            for sec in [s for s in self._buckets if s < first]:
                del self._buckets[sec]
        for sec in self._dirty:
            i = sec - first
            if 0 <= i < len(self._tl):
                self._tl[i] = _freeze(sec, self._buckets[sec])
        self._dirty.clear()
        while first + len(self._tl) <= cur:
            sec = first + len(self._tl)
            bucket = self._buckets.get(sec)
            if bucket is None:
                prev = self._tl[-1] if self._tl else None
                bucket = _Bucket(prev.target_rate if prev else self._target_rate,
                                 prev.in_flight if prev else self._in_flight)
            self._tl.append(_freeze(sec, bucket))
        return tuple(self._tl)


def _freeze(sec: int, b: _Bucket) -> SecondBucket:
    outcomes = _ZERO_OUTCOMES
    if b.outcomes:
        outcomes = MappingProxyType({o.value: b.outcomes.get(o.value, 0) for o in Outcome})
    return SecondBucket(sec, b.started, b.finished, b.ok, b.failed, b.dropped, outcomes,
                        b.target_rate, b.in_flight)

