"""Shared helpers for the CLI / headless / snapshot tests: a recorded MetricsSnapshot and a
subprocess runner for `python -m webchat_tui`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from webchat_tui.engine.metrics import MetricsSnapshot, Recorder

REPO = Path(__file__).resolve().parent.parent
NS = 1_000_000_000


def make_snapshot(*, ok: int = 9, slow: int = 1, started: int = 10, elapsed_s: float = 2.5,
                  warning: str = "reply lost", stop_at_s: float | None = None) -> MetricsSnapshot:
    """A run recorded through the real Recorder on a fake clock: `started` arrivals at 4/s,
    the first `ok` end ok (~800 ms total), the next `slow` end slow."""
    now = [0]
    rec = Recorder(0, 100, 4.0, "wait", clock=lambda: now[0])
    rec.set_state("running", 4.0, "wait", 0)
    # (time, kind, session) in time order, as a real run would call the recorder.
    calls = [(i * NS // 4, "start", i) for i in range(started)]
    calls += [(i * NS // 4 + 800_000_000 + 1_000_000 * i, "end", i) for i in range(ok + slow)]
    for t, kind, i in sorted(calls):
        now[0] = t
        if kind == "start":
            rec.session_started(t, t + 300_000)      # 0.3 ms start lag
            rec.phase("create", 2_000_000)
        else:
            rec.session_finished("ok" if i < ok else "slow", t, i * NS // 4)
    rec.warn("sse_miss", warning, session_id="sid-1")
    if stop_at_s is not None:
        now[0] = int(stop_at_s * NS)
        rec.event("stop", "stopped", 4.0)
    now[0] = int(elapsed_s * NS)
    rec.set_state("finished", 4.0, "wait", 0)
    return rec.snapshot()


def run_cli(*args: str, timeout: float = 60, env: dict | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m webchat_tui ARGS` with a hard timeout; text stdout/stderr."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "webchat_tui", *args], capture_output=True,
                          text=True, timeout=timeout, env=full_env, cwd=cwd or REPO)
