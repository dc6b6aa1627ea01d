"""MetricsSnapshot merge and JSON round-trip (the methods on MetricsSnapshot call these).

JSON layout: a plain dict of the snapshot's fields; histograms are HdrHistogram's base64 V2
`encode()` strings (readable by other HDR tools); timeline buckets list only non-zero outcomes.
`snapshot_from_json` validates types and names the bad key in its ValueError.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping

from hdrh.histogram import HdrHistogram

from webchat_tui.engine.metrics import (
    EMPTY_STATS, EVENTS_KEEP, GENERATOR_LIMITED_LAG_MS, HIST_NAMES, METRICS_SCHEMA, START_LAG,
    STATE_PRIORITY, TIMELINE_KEEP_S, WARNINGS_KEEP, MetricsSnapshot, PhaseStats, RunEvent,
    SecondBucket, Warning, acyclic, new_histogram, phase_stats, sum_histograms,
)
from webchat_tui.engine.outcomes import Outcome, success_rate

def _add_maps(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    out = dict(a)
    for key, n in b.items():
        out[key] = out.get(key, 0) + n
    return out


def _merge_stats(hist: HdrHistogram, a: PhaseStats, b: PhaseStats) -> PhaseStats:
    count = a.count + b.count
    mean = (a.mean * a.count + b.mean * b.count) / count if count else 0.0
    return phase_stats(hist, mean)


def _merge_hists(a: MetricsSnapshot, b: MetricsSnapshot, window: bool
                 ) -> tuple[dict[str, HdrHistogram], dict[str, PhaseStats]]:
    ha, hb = (a.window_histograms, b.window_histograms) if window else (a.histograms, b.histograms)
    sa, sb = (a.window_phases, b.window_phases) if window else (a.phases, b.phases)
    hists, stats = {}, {}
    for name in HIST_NAMES:
        hists[name] = sum_histograms(h for h in (ha.get(name), hb.get(name)) if h is not None)
        stats[name] = _merge_stats(hists[name], sa.get(name, EMPTY_STATS),
                                   sb.get(name, EMPTY_STATS))
    return hists, stats


def _merge_timeline(a: Iterable[SecondBucket], b: Iterable[SecondBucket]
                    ) -> tuple[SecondBucket, ...]:
    by_t: dict[int, SecondBucket] = {x.t: x for x in a}
    for y in b:
        x = by_t.get(y.t)
        by_t[y.t] = y if x is None else SecondBucket(
            y.t, x.started + y.started, x.finished + y.finished, x.ok + y.ok,
            x.failed + y.failed, x.dropped + y.dropped,
            MappingProxyType(_add_maps(x.outcomes, y.outcomes)),
            x.target_rate + y.target_rate, x.in_flight + y.in_flight)
    return tuple(by_t[t] for t in sorted(by_t)[-TIMELINE_KEEP_S:])


def _merge_output(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, object]:
    if not a or not b:
        return dict(a or b)
    ra, rb = int(a.get("replies", 1)), int(b.get("replies", 1))
    unit = a.get("unit") if a.get("unit") == b.get("unit") else "mixed"
    per_s = (float(a["per_s"]) * ra + float(b["per_s"]) * rb) / (ra + rb)
    return {"count": a["count"] + b["count"], "per_s": per_s, "unit": unit, "replies": ra + rb}


def merge_snapshots(a: MetricsSnapshot, b: MetricsSnapshot) -> MetricsSnapshot:
    hists, phases = _merge_hists(a, b, window=False)
    window_hists, window_phases = _merge_hists(a, b, window=True)
    lag = window_phases[START_LAG]
    limited = (a.generator_limited or b.generator_limited
               or (lag.count > 0 and lag.p99 > GENERATOR_LIMITED_LAG_MS))
    state = next((s for s in STATE_PRIORITY if s in (a.state, b.state)), a.state)
    ok, finished = a.ok + b.ok, a.finished + b.finished
    return MetricsSnapshot(
        elapsed_s=max(a.elapsed_s, b.elapsed_s),
        state=state,
        target_rate=a.target_rate + b.target_rate,
        achieved_rate=a.achieved_rate + b.achieved_rate,
        send_mode=a.send_mode if a.send_mode == b.send_mode else "mixed",
        started=a.started + b.started,
        finished=finished,
        ok=ok,
        in_flight=a.in_flight + b.in_flight,
        max_inflight=a.max_inflight + b.max_inflight,
        dropped=a.dropped + b.dropped,
        outcomes=MappingProxyType(_add_maps(a.outcomes, b.outcomes)),
        success_rate=success_rate(ok, finished),
        sse_miss=MappingProxyType(_add_maps(a.sse_miss, b.sse_miss)),
        phases=MappingProxyType(phases),
        window_phases=MappingProxyType(window_phases),
        histograms=MappingProxyType(hists),
        window_histograms=MappingProxyType(window_hists),
        timeline=_merge_timeline(a.timeline, b.timeline),
        events=tuple(sorted(a.events + b.events, key=lambda e: e.t)[-EVENTS_KEEP:]),
        warnings=tuple(sorted(a.warnings + b.warnings, key=lambda w: w.t)[-WARNINGS_KEEP:]),
        warning_counts=MappingProxyType(_add_maps(a.warning_counts, b.warning_counts)),
        generator_limited=limited,
        output=MappingProxyType(_merge_output(a.output, b.output)),
        peak_in_flight=a.peak_in_flight + b.peak_in_flight,
        outcome_details=MappingProxyType(_add_maps(a.outcome_details, b.outcome_details)),
    )


def _encode(hist: HdrHistogram) -> str:
    return hist.encode().decode("ascii")


def _bucket_json(b: SecondBucket) -> dict:
    return {"t": b.t, "started": b.started, "finished": b.finished, "ok": b.ok,
            "failed": b.failed, "dropped": b.dropped,
            "outcomes": {k: n for k, n in b.outcomes.items() if n},  # zeros are implied
            "target_rate": b.target_rate, "in_flight": b.in_flight}


def snapshot_to_json(s: MetricsSnapshot) -> dict:
    return {
        "schema": METRICS_SCHEMA,
        "elapsed_s": s.elapsed_s,
        "state": s.state,
        "target_rate": s.target_rate,
        "achieved_rate": s.achieved_rate,
        "send_mode": s.send_mode,
        "started": s.started,
        "finished": s.finished,
        "ok": s.ok,
        "in_flight": s.in_flight,
        "max_inflight": s.max_inflight,
        "peak_in_flight": s.peak_in_flight,
        "dropped": s.dropped,
        "outcomes": dict(s.outcomes),
        "outcome_details": dict(s.outcome_details),
        "success_rate": s.success_rate,
        "sse_miss": dict(s.sse_miss),
        "phases": {n: asdict(p) for n, p in s.phases.items()},
        "window_phases": {n: asdict(p) for n, p in s.window_phases.items()},
        "histograms": {n: _encode(h) for n, h in s.histograms.items()},
        "window_histograms": {n: _encode(h) for n, h in s.window_histograms.items()},
        "timeline": [_bucket_json(b) for b in s.timeline],
        "events": [asdict(e) for e in s.events],
        "warnings": [asdict(w) for w in s.warnings],
        "warning_counts": dict(s.warning_counts),
        "generator_limited": s.generator_limited,
        "output": dict(s.output),
    }


# -- from_json: small typed readers that name the bad key ----------------------------------

_NUM = (int, float)


def _get(data: Mapping[str, Any], key: str, types: type | tuple[type, ...], where: str,
         default: Any = ...) -> Any:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
    if key not in data:
        if default is not ...:
            return default
        raise ValueError(f"{where}: missing key {key!r}")
    value = data[key]
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ValueError(f"{where}.{key}: expected a number, got a boolean")
    if not isinstance(value, types):
        raise ValueError(f"{where}.{key}: bad type {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}.{key}: not a finite number")
    return value


def _counts(data: Mapping[str, Any], key: str, where: str) -> dict[str, int]:
    raw = _get(data, key, dict, where)
    for k, v in raw.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"{where}.{key}.{k}: expected a count, got {v!r}")
    return dict(raw)


def _stats_json(raw: Any, where: str) -> PhaseStats:
    return PhaseStats(_get(raw, "count", int, where), *(
        float(_get(raw, k, _NUM, where)) for k in ("p50", "p90", "p99", "max", "mean")))


def _decode(text: Any, where: str) -> HdrHistogram:
    if not isinstance(text, str):
        raise ValueError(f"{where}: expected a base64 HdrHistogram string")
    try:
        return acyclic(HdrHistogram.decode(text.encode("ascii")))
    except Exception as exc:  # base64, zlib and HDR cookie errors alike
        raise ValueError(f"{where}: not a valid HdrHistogram encoding ({exc})") from None


def _hist_views(data: Mapping[str, Any], hist_key: str, stats_key: str
                ) -> tuple[dict[str, HdrHistogram], dict[str, PhaseStats]]:
    raw_h = _get(data, hist_key, dict, "metrics")
    raw_s = _get(data, stats_key, dict, "metrics")
    hists, stats = {}, {}
    for name in HIST_NAMES:  # a name missing from an older snapshot reads as empty
        hists[name] = (_decode(raw_h[name], f"metrics.{hist_key}.{name}") if name in raw_h
                       else new_histogram())
        stats[name] = (_stats_json(raw_s[name], f"metrics.{stats_key}.{name}")
                       if name in raw_s else phase_stats(hists[name]))
    return hists, stats


def _timeline_json(raw: Any) -> tuple[SecondBucket, ...]:
    if not isinstance(raw, list):
        raise ValueError("metrics.timeline: expected a list")
    out = []
    for i, b in enumerate(raw):
        where = f"metrics.timeline[{i}]"
        outcomes = {o.value: 0 for o in Outcome} | _counts(b, "outcomes", where)
        out.append(SecondBucket(
            _get(b, "t", int, where), _get(b, "started", int, where),
            _get(b, "finished", int, where), _get(b, "ok", int, where),
            _get(b, "failed", int, where), _get(b, "dropped", int, where),
            MappingProxyType(outcomes), float(_get(b, "target_rate", _NUM, where)),
            _get(b, "in_flight", int, where)))
    return tuple(out)


def _list_json(raw: Any, where: str, build: Callable[[Any, str], Any]) -> tuple:
    if not isinstance(raw, list):
        raise ValueError(f"{where}: expected a list")
    return tuple(build(x, f"{where}[{i}]") for i, x in enumerate(raw))


def _event_json(e: Any, where: str) -> RunEvent:
    return RunEvent(float(_get(e, "t", _NUM, where)), _get(e, "kind", str, where),
                    _get(e, "detail", str, where), float(_get(e, "rate", _NUM, where)))


def _warning_json(w: Any, where: str) -> Warning:
    return Warning(float(_get(w, "t", _NUM, where)), _get(w, "kind", str, where),
                   _get(w, "message", str, where),
                   _get(w, "session_id", (str, type(None)), where, None))


def snapshot_from_json(data: dict) -> MetricsSnapshot:
    if not isinstance(data, dict):
        raise ValueError(f"metrics: expected an object, got {type(data).__name__}")
    schema = _get(data, "schema", int, "metrics")
    if schema > METRICS_SCHEMA:
        raise ValueError(f"metrics: schema {schema} is newer than this version reads "
                         f"({METRICS_SCHEMA})")
    hists, phases = _hist_views(data, "histograms", "phases")
    window_hists, window_phases = _hist_views(data, "window_histograms", "window_phases")
    outcomes = {o.value: 0 for o in Outcome} | _counts(data, "outcomes", "metrics")
    output = _get(data, "output", dict, "metrics")
    g = lambda key, types: _get(data, key, types, "metrics")  # noqa: E731
    return MetricsSnapshot(
        elapsed_s=float(g("elapsed_s", _NUM)),
        state=g("state", str),
        target_rate=float(g("target_rate", _NUM)),
        achieved_rate=float(g("achieved_rate", _NUM)),
        send_mode=g("send_mode", str),
        started=g("started", int),
        finished=g("finished", int),
        ok=g("ok", int),
        in_flight=g("in_flight", int),
        max_inflight=g("max_inflight", int),
        dropped=g("dropped", int),
        outcomes=MappingProxyType(outcomes),
        success_rate=float(g("success_rate", _NUM)),
        sse_miss=MappingProxyType({"race": 0, "lost": 0, "server_confirmed": 0}
                                  | _counts(data, "sse_miss", "metrics")),
        phases=MappingProxyType(phases),
        window_phases=MappingProxyType(window_phases),
        histograms=MappingProxyType(hists),
        window_histograms=MappingProxyType(window_hists),
        timeline=_timeline_json(g("timeline", list)),
        events=_list_json(g("events", list), "metrics.events", _event_json),
        warnings=_list_json(g("warnings", list), "metrics.warnings", _warning_json),
        warning_counts=MappingProxyType(_counts(data, "warning_counts", "metrics")),
        generator_limited=g("generator_limited", bool),
        output=MappingProxyType(dict(output)),
        peak_in_flight=_get(data, "peak_in_flight", int, "metrics", 0),
        outcome_details=MappingProxyType(
            _counts(data, "outcome_details", "metrics") if "outcome_details" in data else {}),
    )
