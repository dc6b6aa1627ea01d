"""DashboardApp: wires an engine link (EngineThread or a fake with its API) to the widgets.

One 4 Hz tick reads `engine_link.latest` (an immutable MetricsSnapshot) and hands plain values to
the widgets inside one batch update; plots rebuild at most ~1 Hz. Keys call the engine link and
update the header at once from what was requested (snapshots lag by up to ~0.25 s).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from textual.app import App, ComposeResult, InvalidThemeError
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from webchat_tui.config import RunConfig
from webchat_tui.engine.metrics import MetricsSnapshot, latency_bins

from . import controls
from .messages import SnapshotFailed, SnapshotSaved
from .screens.help import HelpScreen
from .screens.ramp_input import RampScreen
from .screens.rate_input import RateScreen
from .themes import DEFAULT_THEME, load_themes
from .widgets.generator_banner import GeneratorBanner
from .widgets.latency_histogram import HistogramData, LatencyHistogram
from .widgets.outcomes_panel import OutcomesPanel, summarise
from .widgets.phase_table import PhaseRow, PhaseTable
from .widgets.run_header import HeaderInfo, RunHeader
from .widgets.throughput_chart import ThroughputChart, ThroughputData
from .widgets.warnings_log import WarningsLog

if TYPE_CHECKING:
    from webchat_tui.demo.process import DemoServer

TICK_S = 0.25
HIST_EVERY_S = 1.0       # latency bins are recomputed at most this often
STOP_DRAIN_S = 1.5
CONTROL_ACTIONS = frozenset({"scale_rate", "step_rate", "type_rate", "ramp", "toggle_pause",
                             "toggle_mode"})
EVENT_LABELS = {"pause": "pause", "resume": "resume", "mode": "mode", "stage": "stage"}


class EngineLink(Protocol):
    """What the dashboard needs from webchat_tui.engine.runner.EngineThread."""
    @property
    def latest(self) -> MetricsSnapshot | None: ...
    @property
    def finished(self) -> bool: ...
    def set_rate(self, rate: float) -> None: ...
    def ramp_to(self, rate: float, seconds: float) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def set_send_mode(self, mode: str) -> None: ...
    def restart(self, config: RunConfig | None = None) -> None: ...
    def stop(self, drain_s: float = 2.0, timeout_s: float = 10) -> MetricsSnapshot: ...


def display_target(url: str) -> str:
    """The target without credentials or query string (they may hold secrets)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid target>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", "")) or url


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0]}" if text else exc.__class__.__name__


class DashboardApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "webchat-tui"
    ENABLE_COMMAND_PALETTE = False
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    BINDINGS = [
        Binding("plus,equals_sign", "scale_rate(1.25)", "Rate ×1.25", key_display="+",
                id="rate.up", tooltip="Multiply the target rate by 1.25"),
        Binding("minus", "scale_rate(0.8)", "Rate ÷1.25", key_display="-",
                id="rate.down", tooltip="Divide the target rate by 1.25 (min 0.1/s)"),
        Binding("right_square_bracket", "step_rate(1)", "+1/s", key_display="]",
                id="rate.step_up", tooltip="Add one session per second"),
        Binding("left_square_bracket", "step_rate(-1)", "-1/s", key_display="[",
                id="rate.step_down", tooltip="Remove one session per second (min 0.1/s)"),
        Binding("r", "type_rate", "Set rate", id="rate.type",
                tooltip="Type an exact target rate"),
        Binding("g", "ramp", "Ramp", id="rate.ramp",
                tooltip="Ramp linearly to a rate over N seconds"),
        Binding("space", "toggle_pause", "Pause/Resume", id="run.pause",
                tooltip="Pause or resume arrivals (in-flight sessions continue)"),
        Binding("m", "toggle_mode", "Wait/Burst", id="run.mode",
                tooltip="Toggle send mode: wait for the stream, or send at once (race)"),
        Binding("v", "toggle_view", "Window/Run", id="view.latency",
                tooltip="Latency histogram and phases: last 10 s or the whole run"),
        Binding("s", "save_snapshot", "Snapshot", id="snapshot.save",
                tooltip="Save snapshot.json and screen.svg under the runs folder"),
        Binding("t", "next_theme", "Theme", id="view.theme", tooltip="Switch to the next theme"),
        Binding("n", "new_run", "New run", id="run.new",
                tooltip="Start a new run (after a timed run finished)"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help",
                tooltip="List every key"),
        Binding("q", "quit", "Quit", id="app.quit",
                tooltip="Stop the run, keep a final snapshot and exit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="app.quit_ctrl_c",
                tooltip="Same as q"),
    ]

    def __init__(self, engine_link: EngineLink, config: RunConfig, *,
                 demo: "DemoServer | None" = None, theme: str | None = None,
                 snapshot_dir: str | Path | None = None,
                 clock: Callable[[], float] | None = None, replay: bool = False) -> None:
        super().__init__()
        from webchat_tui.autosave import RunSaver   # another module; imported on use
        self.link = engine_link
        self.config = config
        self.demo = demo
        self.requested_theme = theme
        self.snapshot_dir = Path(snapshot_dir or config.snapshot_dir or "./runs")
        self.clock = clock or time.monotonic
        self.theme_names: list[str] = []
        self.view = "whole"                      # or "window" (last 10 s)
        self.snapshot: MetricsSnapshot | None = None
        self.pending_rate: controls.Pending | None = None
        self.pending_state: controls.Pending | None = None
        self.pending_mode: controls.Pending | None = None
        self.ramp_target: float | None = None
        self.saved_paths: list[Path] = []        # snapshots written (tests, final report)
        self.final_error: str | None = None      # printed by run_dashboard after exit
        self.demo_stopped = False
        self._quitting = False
        self._last_state = ""
        self._hist_at = -1e18
        self._timeline_key: object = None
        self._engine_error: BaseException | None = None   # notified once (engine_link.error)
        self.replay = replay                     # `open SNAPSHOT`: read-only (tui/replay.py)
        # Autosave and the final snapshot share the run's folder; `s` writes a new one.
        self.saver = RunSaver(config, self.snapshot_dir)
        self._autosave_busy = False
        self._autosaved: MetricsSnapshot | None = None
        self._autosave_error = ""

    # ---- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        yield GeneratorBanner(id="banner")
        with Horizontal(id="charts"):
            yield ThroughputChart(id="throughput", clock=self.clock)
            yield LatencyHistogram(id="latency", clock=self.clock)
        with Horizontal(id="tables"):
            yield PhaseTable(id="phases")
            yield OutcomesPanel(id="outcomes")
            yield WarningsLog(id="warnings")
        yield Footer()

    @property
    def header(self) -> RunHeader:
        return self.query_one("#header", RunHeader)

    @property
    def throughput(self) -> ThroughputChart:
        return self.query_one("#throughput", ThroughputChart)

    @property
    def latency(self) -> LatencyHistogram:
        return self.query_one("#latency", LatencyHistogram)

    @property
    def warnings_log(self) -> WarningsLog:
        return self.query_one("#warnings", WarningsLog)

    def on_mount(self) -> None:
        self._load_themes()
        self.set_interval(TICK_S, self.refresh_panels)
        if self.config.autosave_s > 0 and not self.replay:
            self.set_interval(self.config.autosave_s, self.autosave)
        self.refresh_panels()

    # ---- themes -------------------------------------------------------------------------
    def get_theme_variable_defaults(self) -> dict[str, str]:
        # Chart colours follow the theme unless a theme file sets them in [variables].
        try:
            theme = self.current_theme
        except Exception:   # during early init there may be no theme yet
            return {}
        return {
            "chart-started": theme.primary,
            "chart-ok": theme.success or theme.primary,
            "chart-failed": theme.error or theme.primary,
            "chart-marker": theme.accent or theme.primary,
        }

    def _load_themes(self) -> None:
        loaded = load_themes()
        for theme in loaded.themes:
            self.register_theme(theme)
        self.theme_names = loaded.names
        if loaded.errors:
            more = f" (and {len(loaded.errors) - 1} more)" if len(loaded.errors) > 1 else ""
            self.notify(f"Theme file ignored: {loaded.errors[0]}{more}",
                        title="Themes", severity="warning", timeout=8)
        self.apply_theme(self.requested_theme or DEFAULT_THEME)

    def apply_theme(self, name: str) -> None:
        try:
            self.theme = name
        except InvalidThemeError:
            fallback = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
            self.notify(f"Unknown theme {name!r}; using {fallback}", severity="warning")
            self.theme = fallback

    def action_next_theme(self) -> None:
        names = self.theme_names or sorted(self.available_themes)
        index = names.index(self.theme) + 1 if self.theme in names else 0
        self.apply_theme(names[index % len(names)])
        self.notify(f"Theme: {self.theme}", timeout=2)

    # ---- the tick -----------------------------------------------------------------------
    def refresh_panels(self) -> None:
        self._notify_engine_error()
        snapshot = self.link.latest
        if snapshot is None:
            return
        try:
            with self.batch_update():
                self.show_snapshot(snapshot)
        except NoMatches:
            pass  # the tick fired while the screen is being built or torn down: nothing to draw

    def _notify_engine_error(self) -> None:
        """An engine failure (link.error: e.g. its scheduler died) -> one notification."""
        error = getattr(self.link, "error", None)
        if error is not None and error is not self._engine_error:
            self._engine_error = error
            self.notify(f"Load engine failed: {one_line(error)}; the numbers stop here",
                        title="Engine", severity="error", timeout=15)

    def show_snapshot(self, snap: MetricsSnapshot) -> None:
        self.snapshot = snap
        now = self.clock()
        self.header.show(self._header_info(snap, now))
        self.query_one("#banner", GeneratorBanner).show(snap.generator_limited)
        phases = snap.window_phases if self.view == "window" else snap.phases
        self.query_one("#phases", PhaseTable).show(
            {name: PhaseRow(s.count, s.p50, s.p90, s.p99, s.max) for name, s in phases.items()},
            self._view_label())
        self.query_one("#outcomes", OutcomesPanel).show(summarise(
            snap.outcomes, snap.finished, snap.success_rate, self.config.fail_under,
            self.config.threshold_ms, snap.sse_miss))
        self.warnings_log.show(snap.warnings, snap.warning_counts, snap.sse_miss)
        self._update_charts(snap, now)
        state = self._state()
        if state != self._last_state:   # keys enabled/disabled by state: refresh the footer
            self._last_state = state
            self.refresh_bindings()

    def _header_info(self, snap: MetricsSnapshot, now: float) -> HeaderInfo:
        rate = snap.target_rate
        if self.pending_rate is not None:
            rate, still = self.pending_rate.current(snap.target_rate, now)
            self.pending_rate = self.pending_rate if still else None
        state = snap.state
        if self.pending_state is not None and snap.state not in ("finished", "stopping"):
            state, still = self.pending_state.current(snap.state, now)
            self.pending_state = self.pending_state if still else None
        mode = snap.send_mode
        if self.pending_mode is not None:
            mode, still = self.pending_mode.current(snap.send_mode, now)
            self.pending_mode = self.pending_mode if still else None
        if self.ramp_target is not None and snap.state not in ("ramping",) and \
                abs(snap.target_rate - self.ramp_target) < 1e-6:
            self.ramp_target = None
        lag = snap.phases.get("start_lag")
        return HeaderInfo(
            target=display_target(self.config.target), preset=self.config.preset,
            send_mode=str(mode), state=str(state), elapsed_s=snap.elapsed_s,
            target_rate=float(rate), achieved_rate=snap.achieved_rate,
            in_flight=snap.in_flight, max_inflight=snap.max_inflight,
            start_lag_p99_ms=lag.p99 if lag else 0.0, dropped=snap.dropped,
            ramp_to=self.ramp_target,
        )

    def _update_charts(self, snap: MetricsSnapshot, now: float) -> None:
        # The bucket of the second in progress is partial: drawing it would dip every curve.
        timeline = tuple(b for b in snap.timeline if b.t < int(snap.elapsed_s))
        key = (len(timeline), timeline[-1] if timeline else None, len(snap.events))
        if key != self._timeline_key:
            self._timeline_key = key
            self.throughput.set_data(ThroughputData(
                t=tuple(b.t for b in timeline), started=tuple(b.started for b in timeline),
                ok=tuple(b.ok for b in timeline), failed=tuple(b.failed for b in timeline),
                events=tuple((e.t, self._event_label(e)) for e in snap.events
                             if e.kind in ("rate", "ramp", *EVENT_LABELS))))
        if now - self._hist_at >= HIST_EVERY_S:
            self._hist_at = now
            self.latency.set_data(self._histogram_data(snap))
        self.throughput.maybe_rebuild()
        self.latency.maybe_rebuild()

    def _histogram_data(self, snap: MetricsSnapshot) -> HistogramData | None:
        window = self.view == "window"
        hist = (snap.window_histograms if window else snap.histograms).get("total")
        stats = (snap.window_phases if window else snap.phases).get("total")
        if hist is None or stats is None or stats.count == 0:
            return None
        edges, counts = latency_bins(hist, 24)
        return HistogramData(tuple(edges), tuple(counts), stats.p50, stats.p90, stats.p99,
                             self._view_label())

    @staticmethod
    def _event_label(event: Any) -> str:
        if event.kind in ("rate", "ramp"):
            return f"{event.rate:g}/s"
        return EVENT_LABELS.get(event.kind, event.kind)

    def _view_label(self) -> str:
        return "last 10 s" if self.view == "window" else "whole run"

    # ---- state and key checks -----------------------------------------------------------
    def _state(self) -> str:
        if self._quitting:
            return "stopping"
        if self.link.finished:
            return "finished"
        return self.snapshot.state if self.snapshot else "idle"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        state = self._state()
        if self.replay and action in CONTROL_ACTIONS | {"new_run", "save_snapshot"}:
            return False   # a replay steers nothing and saves nothing: keys hidden
        if action in CONTROL_ACTIONS:
            return None if state in ("finished", "stopping") else True   # greyed out
        if action == "new_run":
            return True if state == "finished" else None
        if action == "save_snapshot":
            return None if self._quitting or self.snapshot is None else True
        return True

    def _current_rate(self) -> float:
        if self.pending_rate is not None:
            return float(self.pending_rate.value)   # type: ignore[arg-type]
        return self.snapshot.target_rate if self.snapshot else self.config.rate

    def _redraw_header(self) -> None:
        if self.snapshot is not None:
            with suppress(NoMatches):  # a key typed ahead while the screen is still being built
                self.header.show(self._header_info(self.snapshot, self.clock()))

    # ---- rate and run controls ----------------------------------------------------------
    def _call_link(self, name: str, *args: object) -> bool:
        """Steer the engine. A failing link (engine gone, bad state) is a warning, not a crash."""
        try:
            getattr(self.link, name)(*args)
        except Exception as exc:
            self.notify(f"{name.replace('_', ' ')} failed: {one_line(exc)}", title="Engine",
                        severity="warning", timeout=8)
            return False
        return True

    def set_rate(self, rate: float) -> None:
        if not self._call_link("set_rate", rate):
            return
        self.ramp_target = None
        self.pending_rate = controls.Pending(rate, self.clock())
        self._redraw_header()   # show the new rate now, not at the next snapshot

    def action_scale_rate(self, factor: float) -> None:
        self.set_rate(controls.scale_rate(self._current_rate(), float(factor)))

    def action_step_rate(self, step: float) -> None:
        self.set_rate(controls.step_rate(self._current_rate(), float(step)))

    def action_type_rate(self) -> None:
        def done(rate: float | None) -> None:
            if rate is not None:
                self.set_rate(rate)
        self.push_screen(RateScreen(self._current_rate()), done)

    def action_ramp(self) -> None:
        def done(result: tuple[float, float] | None) -> None:
            if result is None:
                return
            rate, seconds = result
            if not self._call_link("ramp_to", rate, seconds):
                return
            self.pending_rate = None
            self.ramp_target = rate
            self.pending_state = controls.Pending("ramping", self.clock())
            self._redraw_header()
            self.notify(f"Ramping to {rate:g}/s over {seconds:g} s", timeout=3)
        self.push_screen(RampScreen(self._current_rate()), done)

    def action_toggle_pause(self) -> None:
        shown = self.header.info.state if self.header.info else self._state()
        if shown == "paused":
            if self._call_link("resume"):
                self.pending_state = controls.Pending("running", self.clock())
        elif self._call_link("pause"):
            self.pending_state = controls.Pending("paused", self.clock())
        self._redraw_header()

    def action_toggle_mode(self) -> None:
        shown = self.header.info.send_mode if self.header.info else self.config.send_mode
        mode = "burst" if shown == "wait" else "wait"
        if not self._call_link("set_send_mode", mode):
            return
        self.pending_mode = controls.Pending(mode, self.clock())
        self._redraw_header()

    def action_toggle_view(self) -> None:
        self.view = "window" if self.view == "whole" else "whole"
        self.latency.set_view_title(self._view_label())
        self._hist_at = -1e18   # recompute bins on this tick
        if self.snapshot is not None:
            self.show_snapshot(self.snapshot)

    def action_new_run(self) -> None:
        if not self._call_link("restart"):
            return
        self.saver.new_run()   # the new run gets its own folder
        self._autosaved = None
        self.warnings_log.reset()
        self.query_one("#phases", PhaseTable).reset()
        self.pending_rate = self.pending_state = self.pending_mode = None
        self.ramp_target = None
        self.refresh_bindings()
        self.notify("New run started", timeout=2)

    def action_help(self) -> None:
        rows = []
        for binding in self.BINDINGS:
            if isinstance(binding, Binding):
                key = binding.key_display or self.get_key_display(binding)
                rows.append((key, binding.description, binding.tooltip))
        self.push_screen(HelpScreen(rows))

    # ---- snapshots ----------------------------------------------------------------------
    def action_save_snapshot(self) -> None:
        snapshot = self.link.latest
        if snapshot is None:
            self.notify("No data yet to save", severity="warning")
            return
        svg = self.export_screenshot()   # on the UI thread; the file write happens off it
        self.run_worker(partial(self._write_snapshot, snapshot, svg), thread=True,
                        exit_on_error=False, group="snapshot", name="save snapshot")

    def _write_snapshot(self, snapshot: MetricsSnapshot, svg: str, final: bool = False) -> Path:
        from webchat_tui.snapshot import save_snapshot   # another module; imported on use
        try:
            if final:   # into the run's folder, over its last autosave
                path = self.saver.save(snapshot, final=True, svg=svg)
            else:
                path = save_snapshot(snapshot, self.config, self.snapshot_dir, svg=svg)
        except Exception as exc:
            self.post_message(SnapshotFailed(one_line(exc)))
            raise
        self.post_message(SnapshotSaved(Path(path), final=final))
        return Path(path)

    def autosave(self) -> None:
        """Timer: refresh the run's folder from a worker thread (no screenshot: it costs UI
        time, and the numbers are what a killed dashboard must not lose)."""
        snapshot = self.link.latest
        if snapshot is None or snapshot is self._autosaved or self._autosave_busy \
                or self._quitting:
            return
        self._autosave_busy = True
        self.run_worker(partial(self._autosave_write, snapshot, self.saver.generation),
                        thread=True, exit_on_error=False, group="autosave", name="autosave")

    def _autosave_write(self, snapshot: MetricsSnapshot, generation: int) -> None:
        try:
            if self.saver.save(snapshot, generation=generation) is not None:
                self._autosaved = snapshot
            self._autosave_error = ""
        except OSError as exc:
            reason = f"autosave: {one_line(exc)}"
            if reason != self._autosave_error:   # once per distinct problem, not every N s
                self._autosave_error = reason
                self.post_message(SnapshotFailed(reason))
        finally:
            self._autosave_busy = False

    def on_snapshot_saved(self, message: SnapshotSaved) -> None:
        self.saved_paths.append(message.path)
        if not message.final:
            self.notify(f"Snapshot saved: {message.path}", title="Snapshot", timeout=6)

    def on_snapshot_failed(self, message: SnapshotFailed) -> None:
        self.notify(f"Snapshot not saved: {message.reason}", severity="error", timeout=8)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # One place that turns a failed worker into a visible one-line error (no traceback).
        if event.state is WorkerState.ERROR and event.worker.group != "snapshot":
            self.notify(f"{event.worker.name} failed: {one_line(event.worker.error)}",
                        severity="error", timeout=8)

    # ---- quitting -----------------------------------------------------------------------
    async def action_quit(self) -> None:
        if self._quitting:
            return
        if self.replay:   # nothing to stop or save
            self.exit(0)
            return
        self._quitting = True
        self.refresh_bindings()
        self.notify("Stopping the run and saving a final snapshot…", timeout=10)
        self.run_worker(self._stop_and_exit, thread=True, exit_on_error=False, group="shutdown",
                        name="shutdown")

    def _stop_and_exit(self) -> None:
        """Worker thread: stop engine, show final numbers, save final snapshot, stop demo, exit."""
        try:
            try:
                final = self.link.stop(drain_s=STOP_DRAIN_S)
            except Exception as exc:
                # Keep what was measured: the last published snapshot becomes the final one.
                self.final_error = f"stopping the run failed: {one_line(exc)}"
                final = self.link.latest
                if final is None:
                    return
            self.call_from_thread(self.show_snapshot, final)
            time.sleep(0.1)   # let the compositor paint the final numbers before the screenshot
            svg = self.call_from_thread(self.export_screenshot)
            try:
                self._write_snapshot(final, svg, final=True)
            except Exception as exc:
                self.final_error = f"final snapshot not saved: {one_line(exc)}"
        except Exception as exc:
            self.final_error = f"stopping the run failed: {one_line(exc)}"
        finally:
            self.stop_demo()
            self.call_from_thread(self.exit, 0)

    def stop_demo(self) -> None:
        if self.demo is not None and not self.demo_stopped:
            self.demo_stopped = True
            with suppress(Exception):
                self.demo.stop()


def run_dashboard(config: RunConfig, *, demo: "DemoServer | None" = None,
                  theme: str | None = None) -> int:
    """Start the engine in its own process, run the dashboard, always stop engine and demo.

    A process, not a thread: the UI's rendering would otherwise hold the GIL while arrivals are
    due (bench/bench_dashboard.py measures both links)."""
    from webchat_tui.engine.engine import TargetUnreachable
    from webchat_tui.engine.worker import EngineProcess

    link = EngineProcess(config)
    app: DashboardApp | None = None
    try:
        try:
            link.start(timeout_s=30)
        except TargetUnreachable as exc:
            print(f"webchat-tui: target unreachable: {exc}", file=sys.stderr)
            return 3
        except Exception as exc:
            print(f"webchat-tui: could not start the run: {one_line(exc)}", file=sys.stderr)
            return 1
        app = DashboardApp(link, config, demo=demo, theme=theme, snapshot_dir=config.snapshot_dir)
        app.run()
        if app.final_error:
            print(f"webchat-tui: {app.final_error}", file=sys.stderr)
        elif app.saved_paths:
            print(f"webchat-tui: final snapshot: {app.saved_paths[-1]}")
        return 0
    finally:
        with suppress(Exception):
            link.stop(drain_s=STOP_DRAIN_S)
        if app is not None:
            app.stop_demo()
        elif demo is not None:
            with suppress(Exception):
                demo.stop()
