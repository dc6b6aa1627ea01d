"""Pilot helpers shared by the dashboard tests."""

from __future__ import annotations


async def quit_and_wait(app, pilot, tries: int) -> None:
    """Press q, then give the app up to `tries` x 0.1 s to stop (it drains the engine, stops the
    demo server and saves first). The caller asserts on how it ended."""
    await pilot.press("q")
    for _ in range(tries):
        if not app.is_running:
            break
        await pilot.pause(0.1)
