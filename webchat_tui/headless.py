"""Headless runs: the engine without the UI, one progress line per second, a final summary and
a CI-friendly exit code.

Exit codes (config.ExitCode): 0 pass, 1 success rate under --fail-under, 3 target unreachable
at start, 130 interrupted (Ctrl-C / SIGINT / SIGTERM: what was measured is still summarised and
saved).
Progress and the summary table go to `stream` (stderr); --json puts ONE JSON object on stdout.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Callable, TextIO

from webchat_tui.config import ExitCode, RunConfig
from webchat_tui.engine.engine import LoadEngine, TargetUnreachable
from webchat_tui.engine.metrics import MetricsSnapshot
from webchat_tui.autosave import RunSaver, autosave_loop
from webchat_tui.secrets import redact_text, run_secrets, safe_run
from webchat_tui.summary import fmt_ms, format_summary, summarize

FINAL_DRAIN_S = 2.0       # a timed run has already drained; this only bounds stop()
INTERRUPT_DRAIN_S = 1.0   # Ctrl-C: the user wants out, keep it short
RECENT_WARNINGS = 5       # warning lines printed under the summary


def progress_line(snap: MetricsSnapshot) -> str:
    """`[  3s] target 5.0/s achieved 4.9/s in-flight 12 ok 8 failed 0 p50 812ms p99 1.9s`"""
    total = snap.window_phases.get("total")
    if total is not None and total.count:
        latency = f"p50 {fmt_ms(total.p50)} p99 {fmt_ms(total.p99)}"
    else:
        latency = "p50 - p99 -"
    return (f"[{snap.elapsed_s:3.0f}s] target {snap.target_rate:.1f}/s "
            f"achieved {snap.achieved_rate:.1f}/s in-flight {snap.in_flight} "
            f"ok {snap.ok} failed {snap.finished - snap.ok} {latency}")


def _install_stop_signals(loop: asyncio.AbstractEventLoop,
                          callback: Callable[[], None]) -> list[int]:
    """SIGINT/SIGTERM -> callback on the loop (not KeyboardInterrupt thrown into a random await).
    SIGTERM too, so a CI job killed at its time limit still prints and saves what it measured."""
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, callback)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread or not supported: Ctrl-C falls back to KeyboardInterrupt
    return installed


async def _watch(engine: LoadEngine, interrupted: asyncio.Event,
                 out: Callable[[str], None]) -> bool:
    """Print progress every second until the run ends (False) or the user interrupts (True)."""
    loop = asyncio.get_running_loop()
    finished = asyncio.ensure_future(engine.wait_finished())
    stopped = asyncio.ensure_future(interrupted.wait())
    next_tick = loop.time() + 1.0
    try:
        while True:
            done, _ = await asyncio.wait({finished, stopped},
                                         timeout=max(0.0, next_tick - loop.time()),
                                         return_when=asyncio.FIRST_COMPLETED)
            if stopped in done:
                return True
            if finished in done:
                finished.result()  # an engine failure surfaces here, not silently
                return False
            out(progress_line(engine.snapshot()))
            # Skip ticks we overslept instead of printing a burst of lines.
            next_tick = max(next_tick + 1.0, loop.time() + 0.5)
    finally:
        for task in (finished, stopped):
            task.cancel()


async def run_headless(config: RunConfig, *, json_out: bool, stream: TextIO = sys.stderr,
                       stdout: TextIO = sys.stdout) -> int:
    secrets = run_secrets(config)

    def out(line: str) -> None:
        print(redact_text(line, secrets), file=stream, flush=True)

    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    installed = _install_stop_signals(loop, interrupted.set)
    engine = LoadEngine(config)
    saver = RunSaver(config, config.snapshot_dir) if config.snapshot_dir else None
    autosave: asyncio.Future | None = None
    try:
        try:
            await engine.start()
        except TargetUnreachable as exc:
            # The engine's message may already name the URL: keep just the reason after it.
            reason = str(exc).split(f"{config.target}: ", 1)[-1]
            out(f"webchat-tui: target unreachable: {config.target}: {reason}")
            await engine.stop(drain_s=0)
            return ExitCode.UNREACHABLE
        if saver is not None and config.autosave_s > 0:
            autosave = asyncio.ensure_future(
                autosave_loop(saver, engine.snapshot, config.autosave_s, out))
        was_interrupted = await _watch(engine, interrupted, out)
        if was_interrupted:
            out(f"interrupted: stopping (drain up to {INTERRUPT_DRAIN_S:g}s)")
        await engine.stop(drain_s=INTERRUPT_DRAIN_S if was_interrupted else FINAL_DRAIN_S)
        snap = engine.snapshot()
    finally:
        if autosave is not None:
            autosave.cancel()   # a write in flight finishes in its thread; the final one wins
        for sig in installed:
            loop.remove_signal_handler(sig)

    summary = summarize(snap, safe_run(config, secrets))
    out(format_summary(summary))
    for warning in snap.warnings[-RECENT_WARNINGS:]:
        sid = f" [{warning.session_id}]" if warning.session_id else ""
        out(f"  warning {warning.t:6.1f}s {warning.kind}{sid}: {warning.message}")
    if saver is not None:
        _save(snap, saver, out)
    if json_out:
        print(redact_text(json.dumps(summary), secrets), file=stdout, flush=True)
    if was_interrupted:
        return ExitCode.INTERRUPTED
    return ExitCode.OK if summary["passed"] else ExitCode.FAILED


def _save(snap: MetricsSnapshot, saver: RunSaver, out: Callable[[str], None]) -> None:
    try:
        folder = saver.save(snap, final=True)
    except OSError as exc:
        out(f"webchat-tui: error: --snapshot-dir: cannot write snapshot: {exc}")
    else:
        out(f"snapshot saved: {folder}")
