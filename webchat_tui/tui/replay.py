"""`webchat-tui open SNAPSHOT`: the dashboard, read-only, over a saved snapshot.

`ReplayLink` has the engine-link API the dashboard uses (tui/app.py EngineLink) and serves the
snapshot as of a time cursor t: the per-second timeline, the events and the recent warnings cut
at t, with the counters (started, finished, ok, outcomes, rates, in flight) summed from the
timeline up to t. What a snapshot keeps only for the whole run stays whole-run at every t: the
latency histograms and percentiles (phase table, histogram), the SSE-miss split, output tokens
and the generator-limited flag; the header says so. The controls are no-ops (the dashboard
also hides their keys in replay mode).

Keys: left/right step 1 s, shift+left/right 10 s, home/end jump to the start/end.
"""

from __future__ import annotations

import dataclasses
import math
import os
from types import MappingProxyType
from typing import Any, Mapping

from textual.binding import Binding

from webchat_tui.config import RunConfig
from webchat_tui.engine.metrics import ACHIEVED_WINDOW_S, MetricsSnapshot
from webchat_tui.engine.outcomes import Outcome, success_rate
from webchat_tui.snapshot import SavedSnapshot, read_snapshot
from webchat_tui.tui.app import DashboardApp, display_target
from webchat_tui.tui.widgets.run_header import HeaderInfo, format_elapsed

BIG_STEP_S = 10


def replay_length(full: MetricsSnapshot) -> int:
    """Whole seconds the replay cursor can move over (at least 1)."""
    return max(1, math.ceil(full.elapsed_s))


def _state_at(events: tuple) -> str:
    state = "running"
    for e in events:
        if e.kind == "pause":
            state = "paused"
        elif e.kind == "resume":
            state = "running"
        elif e.kind == "stop":
            state = "stopping"
    return state


def _mode_at(events: tuple, first_mode: str) -> str:
    mode = first_mode
    for e in events:
        if e.kind == "mode" and "-> " in e.detail:   # detail "wait -> burst"
            mode = e.detail.rsplit("-> ", 1)[1].strip()
    return mode


def snapshot_at(full: MetricsSnapshot, t: int, first_mode: str = "wait") -> MetricsSnapshot:
    """`full` as of second t (0 <= t <= replay_length(full)); the end is `full` itself."""
    if t >= replay_length(full):
        return full
    buckets = tuple(b for b in full.timeline if b.t < t)
    outcomes = {o.value: 0 for o in Outcome}
    for b in buckets:
        for name, n in b.outcomes.items():
            outcomes[name] = outcomes.get(name, 0) + n
    started = sum(b.started for b in buckets)
    finished = sum(b.finished for b in buckets)
    ok = sum(b.ok for b in buckets)
    recent = buckets[-ACHIEVED_WINDOW_S:]
    events = tuple(e for e in full.events if e.t <= t)
    warnings = tuple(w for w in full.warnings if w.t <= t)
    counts: dict[str, int] = {}
    for w in warnings:   # only the recent warnings were saved: counts of those up to t
        counts[w.kind] = counts.get(w.kind, 0) + 1
    last = buckets[-1] if buckets else None
    first_rate = events[0].rate if events else full.target_rate
    return dataclasses.replace(
        full, elapsed_s=float(t), state=_state_at(events),
        target_rate=last.target_rate if last else first_rate,
        achieved_rate=sum(b.started for b in recent) / len(recent) if recent else 0.0,
        send_mode=_mode_at(events, first_mode), started=started, finished=finished, ok=ok,
        in_flight=last.in_flight if last else 0, dropped=sum(b.dropped for b in buckets),
        outcomes=MappingProxyType(outcomes), success_rate=success_rate(ok, finished),
        timeline=buckets, events=events, warnings=warnings,
        warning_counts=MappingProxyType(counts))


class ReplayLink:
    """A saved run behind the engine-link API; `t` is the replay cursor in whole seconds."""

    def __init__(self, full: MetricsSnapshot, *, first_mode: str = "wait",
                 start_at_end: bool = True) -> None:
        self.full = full
        self.total = replay_length(full)
        self.first_mode = first_mode
        self.t = self.total if start_at_end else 0
        self._cache: tuple[int, MetricsSnapshot] | None = None

    # -- what the dashboard reads ----------------------------------------------------------
    @property
    def latest(self) -> MetricsSnapshot:
        if self._cache is None or self._cache[0] != self.t:
            self._cache = (self.t, snapshot_at(self.full, self.t, self.first_mode))
        return self._cache[1]

    @property
    def finished(self) -> bool:
        return True   # nothing runs: the dashboard treats the run as over

    # -- the cursor ------------------------------------------------------------------------
    def seek(self, t: float) -> int:
        self.t = int(min(max(0, t), self.total))
        return self.t

    def step(self, seconds: float) -> int:
        return self.seek(self.t + seconds)

    # -- controls: a replay cannot steer anything ------------------------------------------
    def set_rate(self, rate: float) -> None:
        pass

    def ramp_to(self, rate: float, seconds: float) -> None:
        pass

    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass

    def set_send_mode(self, mode: str) -> None:
        pass

    def restart(self, config: RunConfig | None = None) -> None:
        pass

    def stop(self, drain_s: float = 2.0, timeout_s: float = 10) -> MetricsSnapshot:
        return self.latest


def config_from_saved(config: Mapping[str, Any]) -> RunConfig:
    """The RunConfig fields the dashboard shows, from a snapshot's (validated) config."""
    return RunConfig(
        target=config.get("target") or "", preset=config["preset"], flow=config["flow"],
        rate=float(config["rate"]), duration_s=config["duration_s"],
        send_mode=config["send_mode"], threshold_ms=float(config["threshold_ms"]),
        fail_under=float(config["fail_under"]), autosave_s=0.0)


class ReplayApp(DashboardApp):
    """The dashboard with replay keys; rate, mode, pause, new-run and save keys are hidden."""

    # priority: a focused table or log would take the arrows and home/end for scrolling.
    BINDINGS = [
        Binding("left", "step(-1)", "-1 s", key_display="←", id="replay.back",
                priority=True, tooltip="Replay: one second back"),
        Binding("right", "step(1)", "+1 s", key_display="→", id="replay.forward",
                priority=True, tooltip="Replay: one second forward"),
        Binding("shift+left", "step(-10)", "-10 s", show=False, id="replay.back10",
                priority=True, tooltip="Replay: ten seconds back"),
        Binding("shift+right", "step(10)", "+10 s", show=False, id="replay.forward10",
                priority=True, tooltip="Replay: ten seconds forward"),
        Binding("home", "seek(0)", "Start", id="replay.start", priority=True,
                tooltip="Replay: the start"),
        Binding("end", "seek(-1)", "End", id="replay.end", priority=True,
                tooltip="Replay: the end (final numbers)"),
    ]

    def __init__(self, saved: SavedSnapshot, **kwargs: Any) -> None:
        link = ReplayLink(saved.metrics, first_mode=str(saved.config.get("send_mode", "wait")))
        kwargs.setdefault("snapshot_dir", os.devnull)   # never written: saving is disabled
        super().__init__(link, config_from_saved(saved.config), replay=True, **kwargs)
        self.saved = saved
        self.replay_link = link

    def action_step(self, seconds: int) -> None:
        self.replay_link.step(int(seconds))
        self.refresh_panels()

    def action_seek(self, t: int) -> None:
        self.replay_link.seek(self.replay_link.total if int(t) < 0 else int(t))
        self.refresh_panels()

    def _header_info(self, snap: MetricsSnapshot, now: float) -> HeaderInfo:
        info = super()._header_info(snap, now)
        link = self.replay_link
        position = (f"REPLAY t={format_elapsed(link.t)} / {format_elapsed(link.total)} "
                    "(percentiles: whole run)")
        return dataclasses.replace(info, target=f"{position}  {display_target(info.target)}")


def run_replay(snapshot: SavedSnapshot | str | os.PathLike, *, theme: str | None = None) -> int:
    """Open a snapshot (a path is read here: SnapshotError for a bad one) in the dashboard."""
    saved = snapshot if isinstance(snapshot, SavedSnapshot) else read_snapshot(snapshot)
    ReplayApp(saved, theme=theme).run()
    return 0
