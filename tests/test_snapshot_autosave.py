"""Autosave: the run's folder is refreshed every N s (headless and dashboard); a SIGKILL loses at
most N seconds; the final snapshot always wins over a late autosave."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import subprocess
import sys
import threading

import pytest
from cli_helpers import REPO, make_snapshot
from tui_helpers import quit_and_wait

from webchat_tui.autosave import RunSaver, autosave_loop
from webchat_tui.config import RunConfig
from webchat_tui.snapshot import SNAPSHOT_FILE, load_snapshot, read_snapshot

CONFIG = RunConfig(target="http://127.0.0.1:9", preset="burst", rate=4.0, duration_s=2.0)


def folders(base):
    return sorted(p for p in base.iterdir() if p.is_dir())


def test_saves_share_one_folder_and_the_final_one_wins(tmp_path):
    saver = RunSaver(CONFIG, tmp_path)
    first = saver.save(make_snapshot(ok=1, slow=0, elapsed_s=1))
    again = saver.save(make_snapshot(ok=2, slow=0, elapsed_s=2))
    assert first == again and folders(tmp_path) == [first]
    started = read_snapshot(first).started_at
    assert saver.save(make_snapshot(ok=5, slow=0, elapsed_s=3), final=True) == first
    assert saver.save(make_snapshot(ok=3, slow=0, elapsed_s=4)) is None   # late autosave dropped
    saved = read_snapshot(first)
    assert saved.metrics.ok == 5 and saved.final is True
    assert saved.started_at == started            # the run's start stays put across saves


def test_new_run_gets_a_new_folder_and_drops_stale_saves(tmp_path):
    saver = RunSaver(CONFIG, tmp_path)
    old = saver.save(make_snapshot())
    generation = saver.generation
    saver.new_run()
    assert saver.save(make_snapshot(), generation=generation) is None
    new = saver.save(make_snapshot(), generation=saver.generation)
    assert new is not None and new != old and len(folders(tmp_path)) == 2


def test_saves_in_parallel_threads_leave_one_valid_file(tmp_path):
    saver = RunSaver(CONFIG, tmp_path)
    threads = [threading.Thread(target=saver.save, args=(make_snapshot(ok=i, slow=0),))
               for i in range(1, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    [folder] = folders(tmp_path)
    assert saver.saves == 6 and sorted(p.name for p in folder.iterdir()) == [SNAPSHOT_FILE]
    assert 1 <= load_snapshot(folder)[1].ok <= 6


async def test_autosave_loop_takes_on_the_loop_writes_in_a_thread(tmp_path):
    saver = RunSaver(CONFIG, tmp_path)
    loop_thread = threading.get_ident()
    taken, errors = [], []

    def take():
        taken.append(threading.get_ident())
        return make_snapshot(ok=len(taken), slow=0)

    task = asyncio.ensure_future(autosave_loop(saver, take, 0.05, errors.append))
    for _ in range(200):   # bounded: a few saves
        await asyncio.sleep(0.02)
        if saver.saves >= 3:
            break
    task.cancel()
    assert saver.saves >= 3 and not errors
    assert set(taken) == {loop_thread}
    assert load_snapshot(saver.folder)[1].ok >= 3


async def test_autosave_loop_reports_a_write_error_once(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    saver = RunSaver(CONFIG, blocker)   # mkdir under a file fails: OSError
    errors: list[str] = []
    task = asyncio.ensure_future(autosave_loop(saver, make_snapshot, 0.02, errors.append))
    await asyncio.sleep(0.3)
    task.cancel()
    assert len(errors) == 1 and errors[0].startswith("autosave failed: ")


def test_sigkill_loses_at_most_the_autosave_interval(tmp_path, fast_demo_server):
    proc = subprocess.Popen(
        [sys.executable, "-m", "webchat_tui", "--target", fast_demo_server.url, "--headless",
         "--duration", "60", "--rate", "10", "--autosave-s", "1", "--snapshot-dir",
         str(tmp_path)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(3):   # one progress line per second: ~3 s of run
            line = proc.stderr.readline()
            assert line.startswith("["), line
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    [folder] = folders(tmp_path)
    saved = read_snapshot(folder)
    assert saved.final is False             # an autosave: the process never got to the end
    assert saved.metrics.started >= 10      # at least ~1 s of the ~3 s run at 10/s
    assert saved.metrics.elapsed_s >= 1.0


@pytest.fixture
def no_user_themes(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


async def test_dashboard_autosaves_into_the_run_folder_and_quits_into_it(tmp_path,
                                                                        no_user_themes):
    from test_tui_app import FakeLink

    from webchat_tui.tui.app import DashboardApp
    link = FakeLink()
    config = RunConfig(target="http://127.0.0.1:9", rate=5.0, autosave_s=0.2)
    app = DashboardApp(link, config, snapshot_dir=tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(50):
            await pilot.pause(0.1)
            if app.saver.saves:
                break
        assert app.saver.saves >= 1
        run_folder = app.saver.folder
        assert sorted(p.name for p in run_folder.iterdir()) == [SNAPSHOT_FILE]  # no SVG
        assert read_snapshot(run_folder).final is False
        saves = app.saver.saves
        await pilot.pause(0.6)
        assert app.saver.saves == saves     # same snapshot object: nothing new to write
        link.latest = dataclasses.replace(link.latest, ok=link.latest.ok + 1)   # new data
        for _ in range(30):
            await pilot.pause(0.1)
            if app.saver.saves > saves:
                break
        assert app.saver.saves > saves
        await quit_and_wait(app, pilot, tries=50)
    assert app.final_error is None
    assert app.saved_paths[-1] == run_folder and folders(tmp_path / "runs") == [run_folder]
    assert (run_folder / "screen.svg").is_file() and read_snapshot(run_folder).final is True
