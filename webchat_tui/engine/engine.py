"""LoadEngine: owns the pacer, the flows and the recorder. No Textual here.

CONTRACT used by headless.py (same event loop) and, through an engine link, by tui/app.py (all
methods are called on the engine's event loop):

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
                                    # timing); True if it was this run's.
    config.server_log set: the engine follows that log itself (logtail.LogTail on this loop, from
    start() to the end of the run); miss lines end this run's sessions as confirmed sse_miss,
    other ids count as sse_miss "foreign" / "late"; --log-pattern lines become warnings whose
    kind is the pattern's name (warning_counts per pattern); tail notices are "log" warnings.

Engine links (the dashboard's view of an engine): runner.py's `EngineThread(config)` runs a
LoadEngine on its own event loop in a daemon thread; worker.py's `EngineProcess(config)` has the same
API and runs it in a child process, which is what the dashboard uses (in a thread, the UI's
rendering still delays arrivals through the GIL: bench/bench_dashboard.py). The API:
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
from collections import OrderedDict
from typing import Callable

from webchat_tui.config import RunConfig
from webchat_tui.engine.clients import Clients, TargetUnreachable
from webchat_tui.engine.flows.base import Flow, FlowContext, Session, interrupt, run_session
from webchat_tui.engine.flows.openai import OpenAIFlow
from webchat_tui.engine.flows.webchat import WebchatFlow, confirmed_miss
from webchat_tui.engine.logtail import DEFAULT_MISS_PATTERN, LogTail
from webchat_tui.engine.metrics import MetricsSnapshot, Recorder
from webchat_tui.engine.pacer import Pacer, run_pacer
from webchat_tui.engine.templating import expand_headers

__all__ = ["LoadEngine", "TargetUnreachable", "SEND_MODES"]

SEND_MODES = ("wait", "burst")
FOLD_S = 0.1  # how often the recorder folds raw values and gets the header fields
# --server-log: ended sessions' server ids are kept this long (and at most this many) to tell a
# "late" miss line from a foreign one; bounded in time too, so memory is flat in a long run.
ENDED_IDS_KEEP = 100_000
ENDED_IDS_KEEP_NS = 120 * 1_000_000_000
LOG_LINE_KEEP = 300       # characters of a matched --log-pattern line kept in its warning


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
        # --server-log only: the tail, and ended sessions' ids (bounded, oldest dropped first).
        self._tail: LogTail | None = None
        self._ended_ids: OrderedDict[str, int] | None = None   # server id -> end time (ns)
        self._foreign_noticed = False
        self._n = 0
        self._stage_marks: list[tuple[int, str, float]] = []   # (start ns, detail, rate), pending
        self._phase = "idle"   # idle -> running -> stopping -> finished
        self._stop_event = asyncio.Event()
        self._finished = asyncio.Event()
        self._tasks: list[asyncio.Task] = []   # pacer, fold timer, lifecycle
        self._stop_task: asyncio.Task | None = None
        self._finishing = False
        self.error: BaseException | None = None   # an engine-internal failure, if any
        self._records = None   # records.RecordWriter when config.record_path is set

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._phase != "idle":
            raise RuntimeError("this engine has already been started")
        cfg = self.config
        self._tail = self._make_log_tail()  # a bad pattern raises here, before anything opens
        headers = expand_headers(cfg.profile.headers)  # values never logged
        # POST read timeout = the session deadline (threshold + grace), not the threshold: a POST
        # slower than the threshold must still be able to end as "slow", not "timeout".
        self._clients = Clients(cfg.target, headers, cfg.max_inflight,
                                post_read_s=(cfg.threshold_ms + cfg.grace_ms) / 1000,
                                transport=cfg.transport)
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
        if cfg.record_path:   # --record: opened here, closed (flushed) in _finish
            from webchat_tui.engine.records import RecordWriter
            from webchat_tui.secrets import run_secrets
            self._records = RecordWriter(cfg.record_path, run_secrets(cfg))
        self._ctx = FlowContext(cfg, self._rec, self._clients,
                                threshold_ns=int(cfg.threshold_ms * 1e6),
                                grace_ns=int(cfg.grace_ms * 1e6), register=self._register,
                                records=self._records)
        self._rec.event("start", f"{cfg.rate:.2f}/s, {self._send_mode} mode", cfg.rate)
        if self._tail is not None:
            await self._tail.poll()  # open the log at its current end before the first arrival
            self._tail.start().add_done_callback(self._log_tail_ended)
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
        if self._tail is not None:  # every session has ended: remaining lines are late/foreign
            # A crashed tail was already reported by _log_tail_ended; it must not fail the run.
            await asyncio.gather(self._tail.stop(catch_up=True), return_exceptions=True)
        if self._clients is not None:
            await self._clients.aclose()
        if self._records is not None:
            records, self._records = self._records, None
            await asyncio.to_thread(records.close)
            if records.dropped:
                self._rec.warn("records", f"--record: {records.dropped} session lines not "
                               f"written ({records.error or 'the disk could not keep up'})")
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
        if self._ended_ids is not None and sess.server_id is not None:
            ended, now = self._ended_ids, self._clock()
            ended[sess.server_id] = now
            # Oldest first; the id just added is never too old, so the loop ends.
            while len(ended) > ENDED_IDS_KEEP or \
                    now - next(iter(ended.values())) > ENDED_IDS_KEEP_NS:
                ended.popitem(last=False)

    def confirm_sse_miss(self, session_id: str) -> bool:
        sess = self._by_server_id.get(session_id)
        if sess is None or sess.done:
            return False
        if interrupt(sess, confirmed_miss(sess)):
            self._rec.server_confirmed_miss()
        return True

    # -- the server log (--server-log): runs on this loop, so on_miss can answer at once ---------

    def _make_log_tail(self) -> LogTail | None:
        cfg = self.config
        if not cfg.server_log:
            return None
        self._ended_ids = OrderedDict()
        return LogTail(cfg.server_log, on_miss=self._log_miss,
                       miss_pattern=cfg.miss_pattern or DEFAULT_MISS_PATTERN,
                       patterns=dict(cfg.log_patterns), on_match=self._log_match,
                       on_notice=lambda message: self._rec.warn("log", message))

    def _log_miss(self, session_id: str) -> str:
        """The tail's on_miss, once per distinct id: "run" | "late" | "foreign"."""
        sess = self._by_server_id.get(session_id)
        if sess is not None and interrupt(sess, confirmed_miss(sess)):
            self._rec.server_confirmed_miss()  # its sse_miss warning names the session
            return "run"
        if sess is not None or (self._ended_ids is not None and session_id in self._ended_ids):
            # Ours, but it already had its reply or ended otherwise: not a miss of this run.
            self._rec.server_log_miss("late")
            self._rec.warn("late_miss", "server logged SSE connection not found after the "
                                        "session had its reply or had ended", session_id)
            return "late"
        self._rec.server_log_miss("foreign")
        if not self._foreign_noticed:
            self._foreign_noticed = True
            self._rec.warn("log", "server log names SSE misses of sessions that are not this "
                                  "run's (another client?): counted as foreign", session_id)
        return "foreign"

    def _log_match(self, name: str, session_id: str | None, line: str) -> None:
        self._rec.warn(name, line.strip()[:LOG_LINE_KEEP], session_id)

    def _log_tail_ended(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._rec.warn("log", f"server log no longer followed: {task.exception()!r}")

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
