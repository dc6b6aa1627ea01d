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
        "sse_miss": _sse_miss(snapshot, run),
        "generator_limited": snapshot.generator_limited,
        "warnings": dict(snapshot.warning_counts),
    }
    if snapshot.output:
        summary["output"] = dict(snapshot.output)
    if run.get("log_patterns"):  # --log-pattern: matched lines per NAME (its warning kind)
        summary["log_patterns"] = {name: int(snapshot.warning_counts.get(name, 0))
                                   for name, _regex in run["log_patterns"]}
    return summary


def _sse_miss(snapshot: MetricsSnapshot, run: Mapping[str, Any]) -> dict[str, int]:
    """race / lost / server_confirmed always; with a followed server log also the miss lines
    for other clients' sessions (foreign) and for sessions that had already ended (late)."""
    keys = ["race", "lost", "server_confirmed"]
    if run.get("server_log") or "foreign" in snapshot.sse_miss or "late" in snapshot.sse_miss:
        keys += ["foreign", "late"]
    return {k: int(snapshot.sse_miss.get(k, 0)) for k in keys}


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
                 f"server confirmed {miss['server_confirmed']}"
                 + (f"  (server log: foreign {miss['foreign']}  late {miss['late']})"
                    if "foreign" in miss else ""))
    if s.get("log_patterns"):
        lines.append("server log    " + "  ".join(f"{name} {count}"
                                                  for name, count in s["log_patterns"].items()))
    output = s.get("output")
    if output and output.get("count"):
        lines.append(f"output        {output['count']} {output.get('unit', 'tokens')}  "
                     f"{float(output.get('per_s', 0)):.1f}/s per reply")
    if s["generator_limited"]:
        lines.append("WARNING: generator-limited: start lag p99 is high, this machine could not "
                     "keep the rate; latencies include the tool's own delay")
    return "\n".join(lines)


# --- compare -----------------------------------------------------------------------------------

HIGHLIGHT_PCT = 5.0   # without --fail-on-regression: rows worse by more than this are marked


def _compare_rows(s: Mapping[str, Any]) -> dict[str, tuple[float, str | None]]:
    """name -> (value, which way is better: "lower", "higher" or None for plain facts)."""
    rows: dict[str, tuple[float, str | None]] = {
        "sessions started": (s["sessions"]["started"], None),
        "sessions finished": (s["sessions"]["finished"], None),
        "success rate %": (s["success_rate"], "higher"),
        "rate target /s": (s["rate"]["target"], None),
        "rate achieved /s": (s["rate"]["achieved"], None),
        "dropped": (s["sessions"]["dropped"], "lower"),
    }
    for name, count in s["outcomes"].items():
        better = None if name == Outcome.CANCELLED else (
            "higher" if name == Outcome.OK else "lower")
        rows[f"outcome {name}"] = (count, better)
    for phase, st in s["latency_ms"].items():
        for key in ("p50", "p90", "p99"):
            rows[f"{phase} {key} ms"] = (st[key], "lower")
    rows["start lag p99 ms"] = (s["start_lag_ms"]["p99"], "lower")
    for kind, count in s["sse_miss"].items():
        rows[f"sse miss {kind}"] = (count, "lower")
    return rows


def _worse_pct(a: float, b: float, better: str | None) -> float | None:
    """How much worse B is than A, in percent of A (negative: better); None without a base."""
    if better is None or a == b:
        return None if better is None else 0.0
    if a == 0:
        return None   # no base to take a percentage of (reported as a change, not a %)
    change = (b - a) / abs(a) * 100
    return change if better == "lower" else -change


def compare_summaries(a: Mapping[str, Any], b: Mapping[str, Any], *,
                      fail_on_regression: float | None = None) -> dict[str, Any]:
    """Rows of A vs B with deltas; `failed` when p99 (total) or the success rate got worse by
    more than `fail_on_regression` percent (relative to A). Rows zero in both are left out."""
    rows_a, rows_b = _compare_rows(a), _compare_rows(b)
    mark = HIGHLIGHT_PCT if fail_on_regression is None else fail_on_regression
    rows = []
    for name, (va, better) in rows_a.items():
        vb = rows_b.get(name, (0, better))[0]
        if not (va or vb):
            continue
        worse = _worse_pct(va, vb, better)
        # A failure count going from 0 to anything is worse whatever the percentage says.
        regressed = better is not None and (
            (worse is not None and worse > mark) or (worse is None and va == 0 and
                                                     better == "lower" and vb > 0))
        rows.append({"name": name, "a": va, "b": vb, "delta": round(vb - va, 6),
                     "worse_pct": None if worse is None else round(worse, 3),
                     "better": better, "regression": regressed})
    gates = []
    if fail_on_regression is not None:
        p99_a, p99_b = a["latency_ms"]["total"]["p99"], b["latency_ms"]["total"]["p99"]
        if p99_a > 0 and p99_b > 0 and _worse_pct(p99_a, p99_b, "lower") > fail_on_regression:
            gates.append(f"total p99 {fmt_ms(p99_a)} -> {fmt_ms(p99_b)}")
        sr_a, sr_b = a["success_rate"], b["success_rate"]
        if sr_a > 0 and _worse_pct(sr_a, sr_b, "higher") > fail_on_regression:
            gates.append(f"success rate {sr_a:.1f}% -> {sr_b:.1f}%")
    return {"rows": rows, "fail_on_regression": fail_on_regression,
            "regressions": gates, "failed": bool(gates)}


def format_compare(a: Mapping[str, Any], b: Mapping[str, Any], *,
                   names: tuple[str, str] = ("A", "B"), fail_on_regression: float | None = None,
                   color: bool = False) -> str:
    """Two summaries side by side with the change B - A and the change in percent of A.
    Rows that got worse (by more than the regression limit) end in "worse"; with `color`,
    they are red and improvements green (ANSI: only for a terminal)."""
    result = compare_summaries(a, b, fail_on_regression=fail_on_regression)
    width = max([len(r["name"]) for r in result["rows"]] + [10])
    lines = [f"A: {names[0]}", f"B: {names[1]}",
             f"{'':<{width}}  {'A':>12} {'B':>12} {'B - A':>12} {'change':>8}"]
    for r in result["rows"]:
        pct = "" if r["worse_pct"] is None or r["a"] == 0 else \
            f"{(r['b'] - r['a']) / abs(r['a']) * 100:+.1f}%"
        line = (f"{r['name']:<{width}}  {r['a']:>12.6g} {r['b']:>12.6g} {r['delta']:>+12.6g} "
                f"{pct:>8}")
        if r["regression"]:
            line += "  worse"
            line = f"\x1b[31m{line}\x1b[0m" if color else line
        elif color and r["worse_pct"] is not None and r["worse_pct"] < -(
                fail_on_regression if fail_on_regression is not None else HIGHLIGHT_PCT):
            line = f"\x1b[32m{line}\x1b[0m"
        lines.append(line)
    if fail_on_regression is not None:
        verdict = ("REGRESSION: " + "; ".join(result["regressions"]) if result["failed"] else
                   "no regression")
        lines.append(f"{verdict} (limit: p99 total and success rate worse by more than "
                     f"{fail_on_regression:g}%)")
    return "\n".join(lines)
