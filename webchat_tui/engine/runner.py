"""EngineThread: a LoadEngine on its own event loop in a daemon thread (contract: engine.py).

Why a thread: the dashboard's renders (plots take 5-20 ms) must not delay arrivals or inflate
measured latency. The UI reads `latest` (an immutable snapshot swapped in every ~0.25 s) and
steers through methods that only schedule work on the engine loop (call_soon_threadsafe).

Errors are never lost: a start failure (TargetUnreachable, a bad header variable, ...) is raised
in the caller's thread by start(); a failure later in the engine thread is kept in `error` and
raised by stop() as EngineError with a one-line message.
"""

from __future__ import annotations

import asyncio
import math
import threading
from typing import Any, Callable

from webchat_tui.config import MAX_RATE, RunConfig
from webchat_tui.engine.clients import describe_error
from webchat_tui.engine.engine import SEND_MODES, LoadEngine
from webchat_tui.engine.metrics import MetricsSnapshot

PUBLISH_S = 0.25


class EngineError(RuntimeError):
    """The engine thread failed after it had started."""


class EngineControls:
    """What EngineThread and EngineProcess share. Steering: arguments are checked in the
    caller's thread (a bad one raises there, at once), then the subclass's `_deliver(name,
    *args)` hands the call to the engine without waiting. Also restart() and stop()'s result."""

    config: RunConfig
    latest: MetricsSnapshot | None = None  # the newest snapshot published by the engine
    error: BaseException | None = None     # a failure of the engine after it started
    _finished = False

    # Lifecycle, provided by the subclass.
    def start(self, timeout_s: float = 30) -> None:
        raise NotImplementedError

    def stop(self, drain_s: float = 2.0, timeout_s: float = 10) -> MetricsSnapshot:
        raise NotImplementedError

    def _reset(self) -> None:
        raise NotImplementedError

    @property
    def _started(self) -> bool:
        raise NotImplementedError

    @property
    def finished(self) -> bool:
        return self._finished

    def restart(self, config: RunConfig | None = None, timeout_s: float = 30) -> None:
        """A new run (same or new config) after the previous one finished or was stopped."""
        if self._started:
            try:
                self.stop()
            except EngineError:
                pass  # the old run's failure was shown already; the new run starts clean
        if config is not None:
            self.config = config
        self._reset()
        self.start(timeout_s)

    def _deliver(self, name: str, *args: Any) -> None:
        raise NotImplementedError

    def set_rate(self, rate: float) -> None:
        _check_rate(rate)
        self._deliver("set_rate", rate)

    def ramp_to(self, rate: float, seconds: float) -> None:
        _check_rate(rate)
        self._deliver("ramp_to", rate, seconds)

    def pause(self) -> None:
        self._deliver("pause")

    def resume(self) -> None:
        self._deliver("resume")

    def set_send_mode(self, mode: str) -> None:
        if mode not in SEND_MODES:
            raise ValueError(f"send mode must be 'wait' or 'burst', not {mode!r}")
        self._deliver("set_send_mode", mode)

    def confirm_sse_miss(self, session_id: str) -> None:
        self._deliver("confirm_sse_miss", session_id)

    def _final_snapshot(self) -> MetricsSnapshot:
        """What stop() returns once the engine has ended: its last snapshot, or its failure."""
        if self.error is not None:
            raise EngineError(f"load engine failed: {describe_error(self.error)}") from self.error
        if self.latest is None:
            raise EngineError("load engine stopped before publishing a snapshot")
        return self.latest


class EngineThread(EngineControls):
    def __init__(self, config: RunConfig,
                 engine_factory: Callable[[RunConfig], LoadEngine] = LoadEngine) -> None:
        self.config = config
        self._factory = engine_factory
        self._reset()

    def _reset(self) -> None:
        self.latest: MetricsSnapshot | None = None
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._engine: LoadEngine | None = None
        self._stop_req: asyncio.Event | None = None
        self._drain_s = 2.0
        self._finished = False
        self._stopped = False

    # -- lifecycle (caller's thread) -------------------------------------------------------------

    def start(self, timeout_s: float = 30) -> None:
        if self._thread is not None:
            raise RuntimeError("EngineThread already started; use restart()")
        ready = threading.Event()
        self._loop = loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(loop, ready), daemon=True,
                                        name="webchat-engine")
        self._thread.start()
        if not ready.wait(timeout_s):
            self._request_stop(0.0)
            raise TimeoutError(f"the load engine did not start within {timeout_s:g} s")
        if self.error is not None:
            self._thread.join(timeout_s)
            error, self._stopped = self.error, True
            raise error  # TargetUnreachable, ConfigError, ...: the caller shows one line

    def stop(self, drain_s: float = 2.0, timeout_s: float = 10) -> MetricsSnapshot:
        """Stop the run (idempotent) and return the final snapshot."""
        if self._thread is None:
            raise RuntimeError("EngineThread was never started")
        if not self._stopped:
            self._request_stop(drain_s)
            self._thread.join(drain_s + timeout_s)
            self._stopped = not self._thread.is_alive()
        return self._final_snapshot()

    @property
    def _started(self) -> bool:
        return self._thread is not None

    # -- controls: EngineControls validates, then _deliver schedules on the engine loop ----------

    def _deliver(self, name: str, *args: Any) -> None:
        self._call(lambda engine: getattr(engine, name)(*args))

    def _call(self, action: Callable[[LoadEngine], Any]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # no run: a key pressed after the end is simply ignored

        def run() -> None:
            if self._engine is None:
                return
            try:
                action(self._engine)
            except RuntimeError:
                pass  # e.g. a rate change after the run finished: nothing to steer

        try:
            loop.call_soon_threadsafe(run)
        except RuntimeError:
            pass  # the loop closed between the check and the call

    def _request_stop(self, drain_s: float) -> None:
        self._drain_s = drain_s
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def request() -> None:
            if self._stop_req is not None:
                self._stop_req.set()

        try:
            loop.call_soon_threadsafe(request)
        except RuntimeError:
            pass

    # -- the engine thread -----------------------------------------------------------------------

    def _run(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main(ready))
        except BaseException as exc:  # never lost: stop() raises it
            self.error = exc
        finally:
            ready.set()
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    async def _main(self, ready: threading.Event) -> None:
        self._stop_req = asyncio.Event()
        engine = self._factory(self.config)
        try:
            await engine.start()
        except BaseException as exc:
            self.error = exc
            ready.set()
            return
        self._engine = engine
        self.latest = engine.snapshot()
        ready.set()
        finished = asyncio.ensure_future(engine.wait_finished())
        stop_wait = asyncio.ensure_future(self._stop_req.wait())
        try:
            while not (finished.done() or stop_wait.done()):
                await asyncio.wait((finished, stop_wait), timeout=PUBLISH_S,
                                   return_when=asyncio.FIRST_COMPLETED)
                self.latest = engine.snapshot()
            if not finished.done():
                await engine.stop(self._drain_s)
            self.latest = engine.snapshot()
            self._finished = True
            if engine.error is not None:
                self.error = engine.error
        finally:
            for fut in (finished, stop_wait):
                if fut.done() and not fut.cancelled():
                    fut.exception()  # retrieved (kept in self.error), not logged by asyncio
                fut.cancel()
            if engine.state != "finished":  # an error above: still close the clients
                await engine.stop(0.0)


def _check_rate(rate: float) -> None:
    if not (isinstance(rate, (int, float)) and math.isfinite(rate) and 0 <= rate <= MAX_RATE):
        raise ValueError(f"rate must be a number from 0 to {MAX_RATE:g}, not {rate!r}")
