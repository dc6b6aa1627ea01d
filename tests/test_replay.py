"""`webchat-tui open SNAPSHOT`: ReplayLink cuts a saved run at t; the dashboard in replay mode."""

from __future__ import annotations

import json

import pytest
from cli_helpers import NS, make_snapshot, run_cli
from tui_helpers import quit_and_wait

from webchat_tui.config import RunConfig
from webchat_tui.engine.metrics import Recorder
from webchat_tui.snapshot import SNAPSHOT_FILE, read_snapshot, save_snapshot
from webchat_tui.tui.replay import ReplayApp, ReplayLink, replay_length, snapshot_at

CONFIG = RunConfig(target="http://127.0.0.1:9", preset="sustained", rate=4.0, duration_s=6.0)
SIZE = (120, 40)


def steered_run():
    """6 s at 4/s through the real Recorder on a fake clock: rate 4 -> 8 at 2 s, burst mode at
    3 s, a pause at 4 s; every session ends ok 0.5 s after it starts; a warning at 3.5 s."""
    now = [0]
    rec = Recorder(0, 100, 4.0, "wait", clock=lambda: now[0])
    rec.set_state("running", 4.0, "wait", 0)
    rec.event("start", "4.00/s, wait mode", 4.0)
    starts = [i * NS // 4 for i in range(8)] + [2 * NS + i * NS // 8 for i in range(16)]
    calls = sorted([(t, "start") for t in starts] + [(t + NS // 2, "end") for t in starts]
                   + [(2 * NS, "rate"), (3 * NS, "mode"), (int(3.5 * NS), "warn"),
                      (4 * NS, "pause")])
    for t, kind in calls:
        now[0] = t
        if kind == "start":
            rec.session_started(t, t)
        elif kind == "end":
            rec.session_finished("ok", t, t - NS // 2)
        elif kind == "rate":
            rec.set_state("running", 8.0, "wait", 0)
            rec.event("rate", "4.00 -> 8.00/s", 8.0)
        elif kind == "mode":
            rec.event("mode", "wait -> burst", 8.0)
        elif kind == "warn":
            rec.warn("rate_limited", "429 at 3.5 s")
        else:
            rec.event("pause", "arrivals paused", 8.0)
    now[0] = 6 * NS
    rec.set_state("finished", 8.0, "burst", 0)
    return rec.snapshot()


def test_snapshot_at_cuts_timeline_events_and_warnings():
    full = steered_run()
    assert replay_length(full) == 6
    early = snapshot_at(full, 2)
    assert early.elapsed_s == 2.0 and early.started == 8
    assert [b.t for b in early.timeline] == [0, 1]
    assert [e.kind for e in early.events] == ["start", "rate"]
    assert early.warnings == () and early.send_mode == "wait" and early.state == "running"
    assert early.ok == early.finished == sum(b.ok for b in early.timeline)
    mid = snapshot_at(full, 4)
    assert mid.send_mode == "burst" and mid.state == "paused" and mid.target_rate == 8.0
    assert [w.kind for w in mid.warnings] == ["rate_limited"]
    assert dict(mid.warning_counts) == {"rate_limited": 1}
    assert mid.outcomes["ok"] == mid.ok and mid.success_rate == 100.0
    # Whole-run figures stay whole-run at every t.
    assert mid.phases["total"] == full.phases["total"]
    assert mid.histograms["total"].get_total_count() == full.started
    assert snapshot_at(full, 6) is full and snapshot_at(full, 0).started == 0
    counts = [snapshot_at(full, t).started for t in range(7)]
    assert counts == sorted(counts) and counts[-1] == full.started


def test_replay_link_cursor_and_controls():
    link = ReplayLink(steered_run())
    assert link.t == link.total == 6 and link.finished
    assert link.step(-10) == 0 and link.step(1) == 1 and link.seek(99) == 6
    first = link.latest
    assert link.latest is first            # cached while the cursor stands still
    link.set_rate(100)
    link.pause()
    link.set_send_mode("burst")
    link.restart()
    assert link.stop() is link.latest and link.latest.target_rate == first.target_rate


@pytest.fixture
def saved(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)   # a stray ./runs would show up here
    return read_snapshot(save_snapshot(steered_run(), CONFIG, tmp_path / "saved"))


async def test_replay_app_keys_header_and_no_controls(saved, tmp_path):
    app = ReplayApp(saved)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        header = str(app.header.render())
        assert "REPLAY t=00:06 / 00:06 (percentiles: whole run)" in header
        assert "FINISHED" in header
        await pilot.press("home")
        assert app.replay_link.t == 0 and "REPLAY t=00:00 / 00:06" in str(app.header.render())
        await pilot.press("right", "right", "right")
        assert app.replay_link.t == 3 and app.snapshot.elapsed_s == 3.0
        assert app.snapshot.started == sum(b.started for b in app.snapshot.timeline)
        await pilot.press("shift+right")
        assert app.replay_link.t == 6
        await pilot.press("shift+left", "left")
        assert app.replay_link.t == 0
        await pilot.press("end")
        assert app.replay_link.t == 6
        for action in ("scale_rate", "toggle_pause", "toggle_mode", "type_rate", "ramp",
                       "new_run", "save_snapshot"):
            assert app.check_action(action, ()) is False, action
        rate_before = app.header.info.target_rate
        await pilot.press("plus", "space", "m", "s", "n")
        await pilot.pause()
        assert app.header.info.target_rate == rate_before and app.saved_paths == []
        assert not app.screen_stack[1:]        # no modal opened
        await quit_and_wait(app, pilot, tries=30)
    assert app.return_code == 0 and app.saved_paths == []
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("content, problem", [
    (None, "not found"),
    ('{"schema_version": 1, "config": {"tar', "truncated or corrupt"),
    ("{]", "truncated or corrupt"),
    ('{"schema_version": 2, "config": {}, "metrics": {}}', "newer than this"),
])
def test_open_bad_snapshot_exits_2_with_one_line(tmp_path, content, problem):
    path = tmp_path / SNAPSHOT_FILE
    if content is not None:
        path.write_text(content)
    result = run_cli("open", str(path))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("webchat-tui: error: snapshot ")
    assert problem in lines[0] and "Traceback" not in result.stderr


async def test_dashboard_s_snapshot_reads_back_in_report_compare_and_open(tmp_path,
                                                                         monkeypatch):
    """Done-when: a dashboard `s` snapshot is read by report, compare and open."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    from test_tui_app import make_app
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("s")
        for _ in range(50):
            if app.saved_paths:
                break
            await pilot.pause(0.1)
    [folder] = app.saved_paths
    text = (folder / SNAPSHOT_FILE).read_text() + (folder / "screen.svg").read_text()
    assert "hunter2" not in text   # the test app's target has user:hunter2@ in it
    report = run_cli("report", str(folder), "--json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["sessions"]["ok"] == 90
    other = save_snapshot(make_snapshot(), CONFIG, tmp_path / "other")
    compare = run_cli("compare", str(other), str(folder))
    assert compare.returncode == 0 and "success rate %" in compare.stdout
    replay = ReplayApp(read_snapshot(folder))
    async with replay.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "REPLAY t=00:20 / 00:20" in str(replay.header.render())
        assert replay.snapshot.ok == 90
        await pilot.press("home", "right")
        assert replay.snapshot.started == 5   # the fake timeline: 5 starts per second
