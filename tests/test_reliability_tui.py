"""The dashboard with an engine link that fails: notifications and warnings, never a crash."""

from __future__ import annotations

import pytest
from test_tui_app import SIZE, FakeLink, make_app
from tui_helpers import quit_and_wait


class FailingLink(FakeLink):
    """Every control raises (the engine thread/process is gone); stop() raises too."""

    def __init__(self) -> None:
        super().__init__()
        self.error: BaseException | None = None

    def _fail(self, *args, **kwargs):
        raise RuntimeError("engine connection lost")

    set_rate = ramp_to = pause = resume = set_send_mode = restart = _fail

    def stop(self, drain_s: float = 2.0, timeout_s: float = 10):
        self.calls.append(("stop", drain_s))
        raise RuntimeError("load engine failed: pacer exploded")


@pytest.fixture(autouse=True)
def no_user_themes(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


async def test_failing_controls_become_warnings(tmp_path):
    link = FailingLink()
    app = make_app(tmp_path, link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for key in ("plus", "right_square_bracket", "space", "m"):
            await pilot.press(key)
            await pilot.pause()
        assert app.is_running
        messages = notes(app)
        for action in ("set rate failed", "pause failed", "set send mode failed"):
            assert any(m.startswith(action) and "engine connection lost" in m
                       for m in messages), (action, messages)
        assert app.pending_rate is None and app.pending_mode is None  # nothing shown as applied


async def test_engine_error_is_notified_once(tmp_path):
    link = FailingLink()
    app = make_app(tmp_path, link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        link.error = RuntimeError("arrival scheduler failed")
        for _ in range(3):
            app.refresh_panels()
            await pilot.pause()
        failed = [m for m in notes(app) if m.startswith("Load engine failed")]
        assert len(failed) == 1 and "arrival scheduler failed" in failed[0]
        assert app.is_running


async def test_quit_with_a_failing_stop_still_saves_what_was_measured(tmp_path):
    link = FailingLink()
    app = make_app(tmp_path, link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await quit_and_wait(app, pilot, tries=50)
    assert not app.is_running and app.return_code == 0
    assert app.final_error and "pacer exploded" in app.final_error
    assert app.saved_paths and (app.saved_paths[-1] / "snapshot.json").is_file()
