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
"""

from __future__ import annotations


class TargetUnreachable(RuntimeError):
    """The target refused the warm-up request: nothing to measure."""


class LoadEngine:
    pass
