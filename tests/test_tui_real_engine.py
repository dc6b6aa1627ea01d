"""The dashboard driven by the real EngineThread against the demo server (127.0.0.1 only)."""

from __future__ import annotations

from tui_helpers import quit_and_wait
from webchat_tui.config import RunConfig
from webchat_tui.engine.runner import EngineThread
from webchat_tui.tui.app import DashboardApp


async def test_dashboard_with_real_engine(demo_server, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    config = RunConfig(target=demo_server.url, rate=20.0, duration_s=None, demo=True)
    link = EngineThread(config)
    link.start(timeout_s=30)
    try:
        app = DashboardApp(link, config, snapshot_dir=tmp_path / "runs")
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in range(60):   # bounded: up to ~15 s for replies to arrive
                await pilot.pause(0.25)
                if app.snapshot is not None and app.snapshot.ok >= 3:
                    break
            assert app.snapshot is not None and app.snapshot.ok >= 3
            await pilot.press("plus")
            assert "rate 25.00/s" in str(app.header.render())
            for _ in range(20):
                await pilot.pause(0.25)
                if any(e.kind == "rate" and e.rate == 25.0 for e in link.latest.events):
                    break
            assert any(e.kind == "rate" and e.rate == 25.0 for e in link.latest.events)
            await quit_and_wait(app, pilot, tries=60)
        assert app.return_code == 0 and app.final_error is None
        assert (app.saved_paths[-1] / "snapshot.json").is_file()
    finally:
        link.stop(drain_s=0.5)
