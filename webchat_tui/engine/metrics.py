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
    rec.warn(kind, message, session_id=None)            -> warnings log (bounded ring)
    rec.event(kind, detail, rate)                       -> rate/mode/pause events on the timeline
    rec.set_state(state, target_rate, send_mode, in_flight)  -> header fields (cheap, call often)
    rec.output_tokens(count, seconds, unit)             -> openai flow: one reply's output size and
                                                           generation time; unit "tokens" (from usage)
                                                           or "chunks" (counted SSE chunks)
    rec.snapshot() -> MetricsSnapshot                   -> immutable value; ~4 Hz from the UI

All timestamps are time.perf_counter_ns(); the recorder is created with the run's t0_ns.
Histograms are in microseconds, 3 significant digits, range 1 us .. 1 h.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from hdrh.histogram import HdrHistogram

PHASES = ("create", "connect", "send", "first_reply", "reply", "total")
START_LAG = "start_lag"
ITL = "itl"  # inter-token latency (openai flow): gap between consecutive content chunks
HIST_NAMES = PHASES + (ITL, START_LAG)
WINDOW_S = 10            # the "last N seconds" latency view
TIMELINE_KEEP_S = 3600   # per-second buckets kept in a snapshot (bounded)
WARNINGS_KEEP = 200      # recent warnings kept (bounded); counts per kind are kept forever
GENERATOR_LIMITED_LAG_MS = 10.0  # start_lag p99 above this marks the run generator-limited


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, 3_600_000_000, 3)


@dataclass(frozen=True)
class PhaseStats:
    """Display percentiles of one histogram, in milliseconds."""
    count: int
    p50: float
    p90: float
    p99: float
    max: float
    mean: float


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
    sse_miss: Mapping[str, int]                # {"race", "lost", "server_confirmed"}
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
    output: Mapping[str, object] = field(default_factory=dict)

    def merge(self, other: "MetricsSnapshot") -> "MetricsSnapshot":
        """Combine two engines' snapshots (future worker processes): counters add, HDRs add."""
        raise NotImplementedError

    def to_json(self) -> dict:
        """Plain JSON-able dict; histograms as HdrHistogram base64 strings."""
        raise NotImplementedError

    @classmethod
    def from_json(cls, data: dict) -> "MetricsSnapshot":
        raise NotImplementedError


def latency_bins(hist: HdrHistogram, n_bins: int = 24) -> tuple[list[float], list[int]]:
    """Log-spaced bins over the histogram's recorded range: (bin lower edges in ms, counts)."""
    raise NotImplementedError


class Recorder:
    def __init__(self, t0_ns: int, max_inflight: int, target_rate: float, send_mode: str) -> None:
        raise NotImplementedError
