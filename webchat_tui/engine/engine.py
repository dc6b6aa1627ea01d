"""LoadEngine: owns the pacer, the flows and the recorder. No Textual here.

CONTRACT used by headless.py and tui/app.py (all methods are called on the engine's event loop;
the dashboard runs the engine in the same loop, or via a thin thread/process adapter later):

    engine = LoadEngine(config: RunConfig)
    await engine.start()            # warm clients, start pacer; raises TargetUnreachable if the
                                    # target cannot be reached at all (headless exit 3)
    engine.set_rate(rate)           # immediate, no burst/gap; recorded as a "rate" event
    engine.ramp_to(rate, seconds)   # linear ramp; "ramp" event
    engine.pause() / engine.resume()  # stop/resume arrivals (in-flight sessions continue)
    engine.set_send_mode("wait"|"burst")  # applies to sessions started after the call
    engine.snapshot() -> MetricsSnapshot  # immutable, cheap enough for 4 Hz
    await engine.wait_finished()    # returns when a timed run (duration/stages) has ended and
                                    # drained; never returns for an open-ended run
    await engine.stop(drain_s=2.0)  # stop arrivals, let in-flight sessions finish up to drain_s,
                                    # then cancel the rest (outcome "cancelled"); idempotent
    engine.state -> str             # same as snapshot().state
    engine.rate -> float            # current target rate
    engine.send_mode -> str
    engine.config -> RunConfig
    engine.confirm_sse_miss(session_id) -> bool  # server log says "SSE connection not found" for
                                    # this session id: if it is one of this run's in-flight sessions
                                    # it ends now as sse_miss (server-confirmed, race or lost by its
                                    # timing); True if it was this run's. Used by logtail (issue 6).

runner.py wraps the engine for the dashboard: `EngineThread(config)` runs a LoadEngine on its own
event loop in a daemon thread (so UI rendering cannot delay arrivals):
    et = EngineThread(config); et.start(timeout_s=30)  # blocks until engine.start() done; raises
                                    # TargetUnreachable / other start errors in the caller's thread
    et.latest -> MetricsSnapshot    # published by the engine thread every ~0.25 s (atomic swap)
    et.set_rate(r) / et.ramp_to(r, s) / et.pause() / et.resume() / et.set_send_mode(m)
                                    # thread-safe, return at once (call_soon_threadsafe)
    et.confirm_sse_miss(session_id) # thread-safe too
    et.finished -> bool             # a timed run has ended
    et.restart(config=None)         # new run (same or new config) after a finished one
    et.stop(drain_s=2.0, timeout_s=10) -> MetricsSnapshot  # blocking; final snapshot; idempotent
"""

from __future__ import annotations


class TargetUnreachable(RuntimeError):
    """The target refused the warm-up request: nothing to measure."""


class LoadEngine:
    pass
