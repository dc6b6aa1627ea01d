"""Pilot tests of the dashboard with a deterministic fake engine link (no network)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import MappingProxyType

import pytest
from textual.widgets import Input, Log

from tui_helpers import quit_and_wait
from webchat_tui.config import RunConfig
from webchat_tui.engine.metrics import (HIST_NAMES, MetricsSnapshot, PhaseStats, RunEvent,
                                        SecondBucket, Warning, new_histogram)
from webchat_tui.engine.outcomes import Outcome
from webchat_tui.tui.app import DashboardApp
from webchat_tui.tui.screens.help import HelpScreen
from webchat_tui.tui.screens.ramp_input import RampScreen
from webchat_tui.tui.screens.rate_input import RateScreen
from webchat_tui.tui.widgets.generator_banner import GeneratorBanner
from webchat_tui.tui.widgets.run_header import RunHeader

SIZE = (120, 40)


def make_snapshot(*, rate: float = 5.0, state: str = "running", mode: str = "wait",
                  seconds: int = 20, warnings: tuple[Warning, ...] = (),
                  generator_limited: bool = False) -> MetricsSnapshot:
    hist = new_histogram()
    for i in range(1, 400):
        hist.record_value(200_000 + i * 5_000)   # 0.2 .. 2.2 s in microseconds
    lag = new_histogram()
    lag.record_value(800)
    hists = {name: new_histogram() for name in HIST_NAMES}
    hists["total"], hists["start_lag"] = hist, lag
    stats = {name: PhaseStats(0, 0, 0, 0, 0, 0) for name in HIST_NAMES}
    stats["total"] = PhaseStats(399, 1200.0, 1900.0, 2150.0, 2200.0, 1200.0)
    stats["start_lag"] = PhaseStats(399, 0.5, 0.7, 0.8, 1.0, 0.5)
    outcomes = {o.value: 0 for o in Outcome}
    outcomes.update(ok=90, sse_miss=10)
    timeline = tuple(SecondBucket(t, 5, 5, 4, 1, 0, MappingProxyType({}), rate, 3)
                     for t in range(seconds))
    counts: dict[str, int] = {}
    for w in warnings:
        counts[w.kind] = counts.get(w.kind, 0) + 1
    return MetricsSnapshot(
        elapsed_s=float(seconds), state=state, target_rate=rate, achieved_rate=rate * 0.98,
        send_mode=mode, started=100, finished=100, ok=90, in_flight=3, max_inflight=10_000,
        dropped=0, outcomes=MappingProxyType(outcomes), success_rate=90.0,
        sse_miss=MappingProxyType({"race": 6, "lost": 4, "server_confirmed": 2}),
        phases=MappingProxyType(stats), window_phases=MappingProxyType(stats),
        histograms=MappingProxyType(hists), window_histograms=MappingProxyType(hists),
        timeline=timeline, events=(RunEvent(3.0, "rate", "4.00 -> 5.00/s", 5.0),),
        warnings=warnings, warning_counts=MappingProxyType(counts),
        generator_limited=generator_limited)


class FakeLink:
    """Has EngineThread's API; records calls; its snapshot follows the controls."""

    def __init__(self, snapshot: MetricsSnapshot | None = None) -> None:
        self.latest = snapshot or make_snapshot()
        self.calls: list[tuple] = []
        self.finished = False
        self.follow = True   # False: snapshots lag behind (to test the immediate header)

    def _update(self, **changes) -> None:
        if self.follow:
            self.latest = dataclasses.replace(self.latest, **changes)

    def set_rate(self, rate: float) -> None:
        self.calls.append(("set_rate", rate))
        self._update(target_rate=rate)

    def ramp_to(self, rate: float, seconds: float) -> None:
        self.calls.append(("ramp_to", rate, seconds))
        self._update(state="ramping")

    def pause(self) -> None:
        self.calls.append(("pause",))
        self._update(state="paused")

    def resume(self) -> None:
        self.calls.append(("resume",))
        self._update(state="running")

    def set_send_mode(self, mode: str) -> None:
        self.calls.append(("set_send_mode", mode))
        self._update(send_mode=mode)

    def restart(self, config=None) -> None:
        self.calls.append(("restart",))
        self.finished = False
        self.latest = make_snapshot(seconds=1)

    def stop(self, drain_s: float = 2.0, timeout_s: float = 10) -> MetricsSnapshot:
        self.calls.append(("stop", drain_s))
        return dataclasses.replace(self.latest, state="finished")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_app(tmp_path: Path, link: FakeLink | None = None, **kwargs) -> DashboardApp:
    config = RunConfig(target="http://user:hunter2@127.0.0.1:9/?key=abc", rate=5.0)
    return DashboardApp(link or FakeLink(), config, snapshot_dir=tmp_path / "runs",
                        clock=kwargs.pop("clock", FakeClock()), **kwargs)


@pytest.fixture(autouse=True)
def no_user_themes(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def header_text(app: DashboardApp) -> str:
    return str(app.query_one(RunHeader).render())


async def test_plus_at_5_shows_6_25_at_once(tmp_path):
    link = FakeLink()
    link.follow = False   # the engine's next snapshot has not arrived yet
    app = make_app(tmp_path, link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "5.00/s" in header_text(app)
        await pilot.press("plus")
        assert link.calls == [("set_rate", 6.25)]
        assert "rate 6.25/s" in header_text(app)
        await pilot.press("minus")
        assert link.calls[-1] == ("set_rate", 5.0)


async def test_step_keys_and_floor(tmp_path):
    link = FakeLink(make_snapshot(rate=1.0))
    app = make_app(tmp_path, link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("right_square_bracket")
        assert link.calls[-1] == ("set_rate", 2.0)
        await pilot.press("left_square_bracket", "left_square_bracket", "left_square_bracket")
        assert link.calls[-1] == ("set_rate", 0.1)   # never below the floor


async def test_pause_resume_and_mode(tmp_path):
    link = FakeLink()
    app = make_app(tmp_path, link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("space")
        assert link.calls[-1] == ("pause",)
        assert "PAUSED" in header_text(app)
        await pilot.press("space")
        assert link.calls[-1] == ("resume",)
        assert "RUNNING" in header_text(app)
        await pilot.press("m")
        assert link.calls[-1] == ("set_send_mode", "burst")
        assert "mode burst" in header_text(app)
        await pilot.press("m")
        assert link.calls[-1] == ("set_send_mode", "wait")


async def test_rate_modal_validates_and_cancels(tmp_path):
    link = FakeLink()
    app = make_app(tmp_path, link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, RateScreen)
        await pilot.press("a", "b", "c", "enter")
        await pilot.pause()
        assert isinstance(app.screen, RateScreen)   # still open: invalid input
        assert "number" in str(app.screen.query_one("#rate-error").render())
        assert link.calls == []
        app.screen.query_one(Input).value = ""
        await pilot.press("1", "2", ".", "5", "enter")
        await pilot.pause()
        assert not isinstance(app.screen, RateScreen)
        assert link.calls == [("set_rate", 12.5)]
        assert "12.50/s" in header_text(app)
        await pilot.press("r")
        await pilot.pause()   # the modal is up before the keys meant for it
        await pilot.press("9", "escape")
        await pilot.pause()
        assert not isinstance(app.screen, RateScreen)
        assert link.calls == [("set_rate", 12.5)]   # Esc changed nothing


async def test_ramp_modal_calls_ramp_to(tmp_path):
    link = FakeLink()
    app = make_app(tmp_path, link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("g")
        await pilot.pause()   # let the modal mount its inputs
        assert isinstance(app.screen, RampScreen)
        await pilot.press("2", "0", "enter")          # moves to the seconds field
        assert isinstance(app.screen, RampScreen)
        await pilot.press("0", "enter")                # 0 s is rejected
        await pilot.pause()
        assert isinstance(app.screen, RampScreen)
        assert "duration" in str(app.screen.query_one("#ramp-error").render())
        app.screen.query_one("#ramp-seconds", Input).value = ""
        await pilot.press("3", "0", "enter")
        await pilot.pause()
        assert link.calls == [("ramp_to", 20.0, 30.0)]
        assert "→ 20.00/s" in header_text(app)
        assert "RAMPING" in header_text(app)


async def test_help_lists_every_binding(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-keys").render())
        for binding in DashboardApp.BINDINGS:
            assert binding.description in text
            assert binding.tooltip in text
        for key in ("+", "-", "]", "[", "r", "g", "space", "m", "v", "s", "t", "n", "?", "q"):
            assert f" {key} " in text or f"{key} " in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_new_run_only_when_finished(tmp_path):
    link = FakeLink()
    app = make_app(tmp_path, link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        assert ("restart",) not in link.calls
        link.finished = True
        link.latest = dataclasses.replace(link.latest, state="finished")
        await pilot.pause(0.3)   # one tick
        await pilot.press("plus")
        assert not any(c[0] == "set_rate" for c in link.calls)   # controls off when finished
        assert "FINISHED" in header_text(app)
        await pilot.press("n")
        assert ("restart",) in link.calls


async def test_theme_cycles_and_flag(tmp_path):
    app = make_app(tmp_path, theme="webchat-light")
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == "webchat-light"
        assert {"webchat-dark", "webchat-light", "webchat-high-contrast"} <= set(app.theme_names)
        await pilot.press("t")
        assert app.theme != "webchat-light"
        assert app.theme in app.theme_names


async def test_unknown_theme_falls_back(tmp_path):
    app = make_app(tmp_path, theme="no-such-theme")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "webchat-dark"
        assert any("no-such-theme" in n.message for n in app._notifications)


async def test_broken_user_theme_notifies_once_and_falls_back(tmp_path):
    folder = tmp_path / "config" / "webchat-tui" / "themes"
    folder.mkdir(parents=True)
    (folder / "broken.toml").write_text('name = "broken"\nprimary = "not-a-colour"\n')
    (folder / "bad.toml").write_text("name = [unclosed\n")
    (folder / "mine.toml").write_text('name = "mine"\nprimary = "#112233"\ndark = false\n')
    app = make_app(tmp_path, theme="broken")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        theme_notes = [n for n in app._notifications if n.title == "Themes"]
        assert len(theme_notes) == 1 and "and 1 more" in theme_notes[0].message
        assert app.theme == "webchat-dark"
        assert "mine" in app.theme_names


async def test_warnings_appear_once(tmp_path):
    first = (Warning(1.0, "sse_miss", "SSE connection not found", "abc123"),
             Warning(2.0, "rate_limited", "429 from provider"))
    link = FakeLink(make_snapshot(warnings=first))
    app = make_app(tmp_path, link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        log = app.query_one("#warnings Log", Log)
        assert log.line_count == 2 and "abc123" in log.lines[0]
        await pilot.pause(0.3)   # more ticks, same snapshot: nothing appended
        assert log.line_count == 2
        more = first + (Warning(3.0, "pool_timeout", "generator pool exhausted"),)
        link.latest = make_snapshot(warnings=more)
        await pilot.pause(0.3)
        assert log.line_count == 3 and "pool_timeout" in log.lines[2]
        counts = str(app.query_one("#warning-counts").render())
        assert "sse_miss 1" in counts and "pool_timeout 1" in counts


async def test_generator_limited_banner_and_no_secrets(tmp_path):
    link = FakeLink(make_snapshot(generator_limited=True))
    app = make_app(tmp_path, link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.query_one(GeneratorBanner).display
        svg = app.export_screenshot()
        assert "GENERATOR-LIMITED" in svg
        assert "hunter2" not in svg and "key=abc" not in svg
        link.latest = make_snapshot(generator_limited=False)
        await pilot.pause(0.3)
        assert not app.query_one(GeneratorBanner).display


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_panels_render_at_sizes(tmp_path, size):
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        app.clock.now += 5   # let the plots rebuild
        await pilot.pause(0.3)
        svg = app.export_screenshot()
        assert "preset" in svg and "Outcomes" in svg and "Throughput" in svg
        assert app.throughput.build_count >= 1
        if size[0] >= 100:
            assert app.latency.build_count >= 1 and "Warnings" in svg
        else:
            assert not app.query_one("#warnings").region.area   # hidden on small screens


async def test_view_toggle_changes_titles(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "whole run" in str(app.latency.border_title)
        await pilot.press("v")
        assert "last 10 s" in str(app.latency.border_title)
        assert "last 10 s" in str(app.query_one("#phases").border_title)


async def test_plots_rebuild_at_most_once_per_second(tmp_path):
    link = FakeLink()
    clock = FakeClock()
    app = make_app(tmp_path, link, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        builds = app.throughput.build_count
        for seconds in range(21, 25):   # new data every tick, but the clock stands still
            link.latest = make_snapshot(seconds=seconds)
            await pilot.pause(0.3)
        assert app.throughput.build_count == builds
        clock.now += 1.5
        await pilot.pause(0.3)
        assert app.throughput.build_count == builds + 1


async def test_s_writes_snapshot_and_svg(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("s")
        for _ in range(50):   # bounded wait for the worker thread
            if app.saved_paths:
                break
            await pilot.pause(0.1)
        assert app.saved_paths, [n.message for n in app._notifications]
        folder = app.saved_paths[0]
        assert (folder / "snapshot.json").is_file()
        assert "webchat-tui" in (folder / "screen.svg").read_text()
        assert json.loads((folder / "snapshot.json").read_text())["metrics"]


async def test_q_stops_engine_saves_and_exits(tmp_path):
    link = FakeLink()

    class Demo:
        stops = 0

        def stop(self) -> None:
            Demo.stops += 1

    app = make_app(tmp_path, link, demo=Demo())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await quit_and_wait(app, pilot, tries=50)
    assert ("stop", 1.5) in link.calls
    assert Demo.stops == 1
    assert app.return_code == 0
    assert app.final_error is None
    assert app.saved_paths and (app.saved_paths[-1] / "screen.svg").is_file()
