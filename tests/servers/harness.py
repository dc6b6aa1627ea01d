"""Helpers shared by the engine tests: run a timed engine to its end, check the invariants."""

from __future__ import annotations

import asyncio

from webchat_tui.config import RunConfig
from webchat_tui.engine.engine import LoadEngine
from webchat_tui.engine.metrics import MetricsSnapshot

RUN_LIMIT_S = 30  # no engine test may hang: every timed run ends well within this


def config(target: str, **kw) -> RunConfig:
    kw.setdefault("rate", 20)
    kw.setdefault("duration_s", 1.0)
    kw.setdefault("threshold_ms", 2000)
    kw.setdefault("grace_ms", 500)
    return RunConfig(target=target, **kw)


async def run_timed(cfg: RunConfig) -> tuple[LoadEngine, MetricsSnapshot]:
    engine = LoadEngine(cfg)
    await engine.start()
    try:
        await asyncio.wait_for(engine.wait_finished(), RUN_LIMIT_S)
    finally:
        await engine.stop(0.0)
    snap = engine.snapshot()
    check_invariants(snap)
    return engine, snap


def check_invariants(snap: MetricsSnapshot) -> None:
    """Every started session has exactly one outcome; nothing is left in flight."""
    assert snap.state == "finished"
    assert snap.started == sum(snap.outcomes.values()), dict(snap.outcomes)
    assert snap.in_flight == 0


def nonzero(snap: MetricsSnapshot) -> dict[str, int]:
    return {k: v for k, v in snap.outcomes.items() if v}
