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

import asyncio
import time
from typing import Callable

from webchat_tui.config import RunConfig
from webchat_tui.engine.clients import Clients, TargetUnreachable
from webchat_tui.engine.flows.base import Flow, FlowContext, Session, interrupt, run_session
from webchat_tui.engine.flows.openai import OpenAIFlow
from webchat_tui.engine.flows.webchat import WebchatFlow, confirmed_miss
from webchat_tui.engine.metrics import MetricsSnapshot, Recorder
from webchat_tui.engine.pacer import Pacer, run_pacer
from webchat_tui.engine.templating import expand_headers

__all__ = ["LoadEngine", "TargetUnreachable", "SEND_MODES"]

SEND_MODES = ("wait", "burst")
FOLD_S = 0.1  # how often the recorder folds raw values and gets the header fields


def make_flow(config: RunConfig) -> Flow:
    if config.flow == "openai":
        return OpenAIFlow(config)
    return WebchatFlow(config.profile)


class LoadEngine:
    """One run: clients, pacer, in-flight sessions, recorder (see the contract above)."""

    def __init__(self, config: RunConfig, *, clock: Callable[[], int] = time.perf_counter_ns) -> None:
        self.config = config
        self._clock = clock
        self._flow = make_flow(config)
        self._send_mode: str = config.send_mode
        self._rec = Recorder(clock(), config.max_inflight, config.rate, config.send_mode,
                             clock=clock)
        self._pacer: Pacer | None = None
        self._clients: Clients | None = None
        self._ctx: FlowContext | None = None
        # In flight only: removed when a session ends, so nothing grows per finished session.
        self._inflight: dict[int, Session] = {}
        self._by_server_id: dict[str, Session] = {}
        self._n = 0
        self._stage_marks: list[tuple[int, str, float]] = []   # (start ns, detail, rate), pending
        self._phase = "idle"   # idle -> running -> stopping -> finished
        self._stop_event = asyncio.Event()
        self._finished = asyncio.Event()
        self._tasks: list[asyncio.Task] = []   # pacer, fold timer, lifecycle
        self._stop_task: asyncio.Task | None = None
        self._finishing = False
        self.error: BaseException | None = None   # an engine-internal failure, if any

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._phase != "idle":
            raise RuntimeError("this engine has already been started")
        cfg = self.config
        headers = expand_headers(cfg.profile.headers)  # values never logged
        # POST read timeout = the session deadline (threshold + grace), not the threshold: a POST
        # slower than the threshold must still be able to end as "slow", not "timeout".
        self._clients = Clients(cfg.target, headers, cfg.max_inflight,
                                post_read_s=(cfg.threshold_ms + cfg.grace_ms) / 1000)
        await self._clients.warm_up()  # TargetUnreachable propagates to the caller
        t0 = self._clock()
        self._rec = Recorder(t0, cfg.max_inflight, cfg.rate, self._send_mode, clock=self._clock)
        self._pacer = Pacer(cfg.rate, cfg.arrivals, cfg.seed, self._clock, start_ns=t0)
        end_ns: int | None = None
        if cfg.stages:
            # Stages ramp from the initial --rate (k6 style, one linear piece per stage).
            end_ns = self._pacer.set_stages(cfg.stages, t0)
            t = t0
            for i, stage in enumerate(cfg.stages, 1):
                self._stage_marks.append((t, f"stage {i}/{len(cfg.stages)}: -> {stage.rate:g}/s "
                                             f"over {stage.duration_s:g} s", stage.rate))
                t += int(stage.duration_s * 1e9)
        elif cfg.duration_s is not None:
            end_ns = t0 + int(cfg.duration_s * 1e9)
        self._ctx = FlowContext(cfg, self._rec, self._clients,
                                threshold_ns=int(cfg.threshold_ms * 1e6),
                                grace_ns=int(cfg.grace_ms * 1e6), register=self._register)
        self._rec.event("start", f"{cfg.rate:.2f}/s, {self._send_mode} mode", cfg.rate)
        self._phase = "running"
        loop = asyncio.get_running_loop()
        pacer_task = loop.create_task(
            run_pacer(self._pacer, self._start_session, self._stop_event, end_ns, self._clock))
        self._tasks = [pacer_task, loop.create_task(self._fold_loop()),
                       loop.create_task(self._run_to_end(pacer_task))]

    async def wait_finished(self) -> None:
        """Returns when the run has ended and drained; re-raises an engine-internal failure."""
        await self._finished.wait()
        if self.error is not None:
            raise self.error

    async def stop(self, drain_s: float = 2.0) -> None:
        if self._stop_task is None:
            self._stop_task = asyncio.get_running_loop().create_task(self._stop(drain_s))
        await asyncio.shield(self._stop_task)

    async def _stop(self, drain_s: float) -> None:
        if self._phase == "idle":
            self._phase = "finished"
            self._finished.set()
            return
        if self._finishing:  # a timed run is already closing down
            await self._finished.wait()
            return
        self._stop_event.set()
        self._phase = "stopping"
        self._rec.event("stop", f"stopped, {len(self._inflight)} in flight", self.rate)
        self._tasks[-1].cancel()  # the natural-end watcher: we take over
        # The pacer returns at once once stop_event is set.
        await asyncio.gather(self._tasks[0], return_exceptions=True)
        await self._wait_inflight(drain_s)
        for sess in list(self._inflight.values()):
            if sess.task is not None:
                sess.task.cancel()  # -> outcome "cancelled"
        await self._wait_inflight(None)
        await self._finish()

    async def _run_to_end(self, pacer_task: asyncio.Task) -> None:
        """A timed run: after the last arrival, sessions end by their own deadlines."""
        try:
            await pacer_task
        except Exception as exc:  # a pacer bug must end the run visibly, not hang it
            self.error = exc
            self._rec.warn("engine", f"arrival scheduler failed: {exc!r}")
        if self._stop_event.is_set():
            return
        self._phase = "stopping"
        await self._wait_inflight(None)
        self._finishing = True
        await self._finish()

    async def _wait_inflight(self, timeout_s: float | None) -> None:
        tasks = [s.task for s in self._inflight.values() if s.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)

    async def _finish(self) -> None:
        self._finishing = True
        for task in self._tasks[:2]:
            task.cancel()
        await asyncio.gather(*self._tasks[:2], return_exceptions=True)
        if self._clients is not None:
            await self._clients.aclose()
        self._phase = "finished"
        self._publish_state()
        self._finished.set()

    async def _fold_loop(self) -> None:
        rec = self._rec
        while True:
            self._mark_stages()
            await asyncio.sleep(FOLD_S)
            self._publish_state()
            rec.fold()

    def _mark_stages(self) -> None:
        """A "stage" event on the timeline when each stage begins (at fold-timer resolution)."""
        now = self._clock()
        while self._stage_marks and self._stage_marks[0][0] <= now:
            _, detail, rate = self._stage_marks.pop(0)
            self._rec.event("stage", detail, rate)

    # -- sessions --------------------------------------------------------------------------------

    def _start_session(self, t_intended_ns: int) -> None:
        """Called by run_pacer, synchronously, for every arrival."""
        if len(self._inflight) >= self.config.max_inflight:
            self._rec.arrival_dropped()  # open model: never queued
            return
        self._rec.session_started(t_intended_ns, self._clock())
        n = self._n
        self._n += 1
        prompts = self.config.profile.prompts
        sess = Session(n, t_intended_ns, self._send_mode, prompts[n % len(prompts)] if prompts else "")
        self._inflight[n] = sess
        assert self._ctx is not None
        sess.task = asyncio.get_running_loop().create_task(
            run_session(self._flow, self._ctx, sess, self._session_done))

    def _register(self, sess: Session) -> None:
        if sess.server_id is not None:
            self._by_server_id[sess.server_id] = sess

    def _session_done(self, sess: Session) -> None:
        self._inflight.pop(sess.n, None)
        if sess.server_id is not None and self._by_server_id.get(sess.server_id) is sess:
            del self._by_server_id[sess.server_id]

    def confirm_sse_miss(self, session_id: str) -> bool:
        sess = self._by_server_id.get(session_id)
        if sess is None or sess.done:
            return False
        if interrupt(sess, confirmed_miss(sess)):
            self._rec.server_confirmed_miss()
        return True

    # -- steering --------------------------------------------------------------------------------

    def _live_pacer(self) -> Pacer:
        if self._pacer is None or self._phase != "running":
            raise RuntimeError(f"the run is {self.state}: arrivals cannot be changed")
        return self._pacer

    def set_rate(self, rate: float) -> None:
        pacer = self._live_pacer()
        now = self._clock()
        old = pacer.current_rate(now)
        pacer.set_rate(rate, now)  # ValueError for a negative / non-finite rate
        self._rec.event("rate", f"{old:.2f} -> {rate:.2f}/s", rate)

    def ramp_to(self, rate: float, seconds: float) -> None:
        pacer = self._live_pacer()
        now = self._clock()
        old = pacer.current_rate(now)
        pacer.ramp_to(rate, seconds, now)
        self._rec.event("ramp", f"{old:.2f} -> {rate:.2f}/s over {seconds:g} s", rate)

    def pause(self) -> None:
        pacer = self._live_pacer()
        if not pacer.paused:
            pacer.pause(self._clock())
            self._rec.event("pause", "arrivals paused", self.rate)

    def resume(self) -> None:
        pacer = self._live_pacer()
        if pacer.paused:
            pacer.resume(self._clock())
            self._rec.event("resume", "arrivals resumed", self.rate)

    def set_send_mode(self, mode: str) -> None:
        if mode not in SEND_MODES:
            raise ValueError(f"send mode must be 'wait' or 'burst', not {mode!r}")
        if mode != self._send_mode:
            old, self._send_mode = self._send_mode, mode
            self._rec.event("mode", f"{old} -> {mode}", self.rate)

    # -- reading ---------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        if self._phase == "running" and self._pacer is not None:
            if self._pacer.paused:
                return "paused"
            if self._pacer.ramping:
                return "ramping"
        return self._phase

    @property
    def rate(self) -> float:
        return self._pacer.current_rate() if self._pacer is not None else self.config.rate

    @property
    def send_mode(self) -> str:
        return self._send_mode

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def _publish_state(self) -> None:
        self._rec.set_state(self.state, self.rate, self._send_mode, len(self._inflight))

    def snapshot(self) -> MetricsSnapshot:
        self._publish_state()
        return self._rec.snapshot()
