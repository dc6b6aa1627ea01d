"""The end-of-run summary: one plain dict (JSON output, snapshot files) and its readable table.

`summarize` takes the run settings as the RunConfig.redacted() dict, so a live run and a saved
snapshot (`webchat-tui report`) go through the same code and print the same table.
"""

from __future__ import annotations

from typing import Any, Mapping

from webchat_tui.engine.metrics import ITL, PHASES, START_LAG, MetricsSnapshot, PhaseStats
from webchat_tui.engine.outcomes import Outcome


def _stats(stats: PhaseStats | None) -> dict[str, float | int]:
    if stats is None or stats.count == 0:
        return {"count": 0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    return {"count": stats.count, "p50": round(stats.p50, 3), "p90": round(stats.p90, 3),
            "p99": round(stats.p99, 3), "max": round(stats.max, 3)}


def _arrival_window_s(snapshot: MetricsSnapshot, run: Mapping[str, Any]) -> float:
    """How long arrivals were being started: the planned length of a timed run, or the time
    of the first "stop" event; never longer than the run itself. Dividing by the elapsed time
    would count the drain at the end as idle time and understate the achieved rate."""
    window = snapshot.elapsed_s
    stops = [e.t for e in snapshot.events if e.kind == "stop"]
    if stops:
        window = min(window, stops[0])
    planned = sum(s["duration_s"] for s in run.get("stages") or ()) or run.get("duration_s")
    if planned:
        window = min(window, float(planned))
    return window


def _target_rate(snapshot: MetricsSnapshot, window_s: float) -> float:
    """Mean target rate over the arrival window (rate changes and ramps included)."""
    buckets = [b.target_rate for b in snapshot.timeline if b.t < window_s]
    return sum(buckets) / len(buckets) if buckets else snapshot.target_rate


def summarize(snapshot: MetricsSnapshot, run: Mapping[str, Any]) -> dict[str, Any]:
    """Summary of a run; `run` is RunConfig.redacted() (live) or a snapshot file's config."""
    window = _arrival_window_s(snapshot, run)
    fail_under = float(run.get("fail_under", 95.0))
    outcomes = {o.value: int(snapshot.outcomes.get(o.value, 0)) for o in Outcome}
    summary: dict[str, Any] = {
        "target": run.get("target"),
        "preset": run.get("preset"),
        "flow": run.get("flow"),
        "state": snapshot.state,
        "elapsed_s": round(snapshot.elapsed_s, 3),
        "sessions": {
            "started": snapshot.started,
            "finished": snapshot.finished,
            "ok": snapshot.ok,
            "failed": snapshot.finished - snapshot.ok,
            "cancelled": outcomes[Outcome.CANCELLED.value],
            "in_flight": snapshot.in_flight,
            "dropped": snapshot.dropped,
        },
        "outcomes": outcomes,
        "success_rate": round(snapshot.success_rate, 3),
        "threshold_ms": run.get("threshold_ms"),
        "fail_under": fail_under,
        "passed": snapshot.finished > 0 and snapshot.success_rate >= fail_under,
        "rate": {
            "target": round(_target_rate(snapshot, window), 3),
            "achieved": round(snapshot.started / window, 3) if window > 0 else 0.0,
        },
        # ITL: inter-token latency, openai flow only (count 0 otherwise).
        "latency_ms": {p: _stats(snapshot.phases.get(p)) for p in PHASES + (ITL,)},
        "start_lag_ms": {k: v for k, v in _stats(snapshot.phases.get(START_LAG)).items()
                         if k in ("p50", "p99")},
        "sse_miss": {k: int(snapshot.sse_miss.get(k, 0))
                     for k in ("race", "lost", "server_confirmed")},
        "generator_limited": snapshot.generator_limited,
        "warnings": dict(snapshot.warning_counts),
    }
    if snapshot.output:
        summary["output"] = dict(snapshot.output)
    return summary


# --- the readable table -------------------------------------------------------------------------

def fmt_ms(ms: float) -> str:
    """812ms / 1.9s / 2m05s: short enough for a progress line."""
    if ms < 1000:
        return f"{ms:.0f}ms" if ms >= 10 else f"{ms:.1f}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes}m{seconds:02d}s"


def format_summary(summary: Mapping[str, Any]) -> str:
    """The summary as aligned text lines (no colour: it goes to logs and CI output too)."""
    s, sessions = summary, summary["sessions"]
    verdict = "PASS" if s["passed"] else "FAIL"
    threshold = s.get("threshold_ms")
    lines = [
        f"webchat-tui summary  target {s['target']}  preset {s['preset']}  flow {s['flow']}  "
        f"elapsed {s['elapsed_s']:.1f}s  state {s['state']}",
        f"sessions      started {sessions['started']}  finished {sessions['finished']}  "
        f"ok {sessions['ok']}  failed {sessions['failed']}  cancelled {sessions['cancelled']}  "
        f"dropped {sessions['dropped']}",
        f"success rate  {s['success_rate']:.1f}%  {verdict} (fail under {s['fail_under']:g}%"
        + (f", ok = reply within {fmt_ms(threshold)})" if threshold else ")"),
        f"rate          target {s['rate']['target']:.2f}/s  achieved {s['rate']['achieved']:.2f}/s",
        "outcomes",
    ]
    finished = sessions["finished"] or 1
    for name, count in s["outcomes"].items():
        if count:
            share = f"{100 * count / finished:5.1f}%" if name != Outcome.CANCELLED else "     -"
            lines.append(f"  {name:<16}{count:>8}  {share}")
    if not any(s["outcomes"].values()):
        lines.append("  (no session finished)")
    lines.append(f"latency       {'count':>8} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    for phase, st in s["latency_ms"].items():
        if st["count"]:
            cells = " ".join(f"{fmt_ms(st[k]):>8}" for k in ("p50", "p90", "p99", "max"))
            lines.append(f"  {phase:<12}{st['count']:>8} {cells}")
    if not any(st["count"] for st in s["latency_ms"].values()):
        lines.append("  (no phase completed)")
    lag = s["start_lag_ms"]
    lines.append(f"start lag     p50 {fmt_ms(lag['p50'])}  p99 {fmt_ms(lag['p99'])}")
    miss = s["sse_miss"]
    lines.append(f"sse miss      race {miss['race']}  lost {miss['lost']}  "
                 f"server confirmed {miss['server_confirmed']}")
    output = s.get("output")
    if output and output.get("count"):
        lines.append(f"output        {output['count']} {output.get('unit', 'tokens')}  "
                     f"{float(output.get('per_s', 0)):.1f}/s per reply")
    if s["generator_limited"]:
        lines.append("WARNING: generator-limited: start lag p99 is high, this machine could not "
                     "keep the rate; latencies include the tool's own delay")
    return "\n".join(lines)


def _compare_rows(s: Mapping[str, Any]) -> dict[str, float]:
    rows = {
        "sessions started": s["sessions"]["started"],
        "sessions finished": s["sessions"]["finished"],
        "success rate %": s["success_rate"],
        "rate target /s": s["rate"]["target"],
        "rate achieved /s": s["rate"]["achieved"],
    }
    for name, count in s["outcomes"].items():
        rows[f"outcome {name}"] = count
    for phase, st in s["latency_ms"].items():
        for key in ("p50", "p99"):
            rows[f"{phase} {key} ms"] = st[key]
    rows["start lag p99 ms"] = s["start_lag_ms"]["p99"]
    for kind, count in s["sse_miss"].items():
        rows[f"sse miss {kind}"] = count
    return rows


def format_compare(a: Mapping[str, Any], b: Mapping[str, Any], *,
                   names: tuple[str, str] = ("A", "B")) -> str:
    """Two summaries side by side with the change B - A; rows that are zero in both are skipped."""
    rows_a, rows_b = _compare_rows(a), _compare_rows(b)
    width = max(len(k) for k in rows_a)
    lines = [f"A: {names[0]}", f"B: {names[1]}",
             f"{'':<{width}}  {'A':>12} {'B':>12} {'B - A':>12}"]
    for key, va in rows_a.items():
        vb = rows_b.get(key, 0)
        if va or vb:
            lines.append(f"{key:<{width}}  {va:>12.6g} {vb:>12.6g} {vb - va:>+12.6g}")
    return "\n".join(lines)
