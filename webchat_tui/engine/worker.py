"""EngineProcess: the load engine in a child process, with EngineThread's API (contract: engine.py).

Why a process and not only a thread: with the engine in a thread of the dashboard's process, the
UI's rendering holds the GIL in long stretches and every engine wake-up waits for it. Measured at
100 sessions/s (bench/bench_dashboard.py): start_lag p99 ~5 ms without the UI, 25-80 ms with it in
the same process. In its own process the engine keeps its own GIL.

Protocol over one multiprocessing Pipe (pickled tuples):
  parent -> child   ("set_rate", r) ("ramp_to", r, s) ("pause",) ("resume",)
                    ("set_send_mode", m) ("confirm_sse_miss", id) ("stop", drain_s)
  child -> parent   ("started", blob) | ("start_error", kind, message)
                    ("snap", blob, finished)          every ~0.25 s when the snapshot changed
                    ("final", blob, error_or_None)    after a stop, then the child exits
A blob is a pickled snapshot without histograms plus, at most once a second (and always in the
final one), the histograms in HdrHistogram's own encoding: encoding all of them costs a few ms,
too much for every 0.25 s in the engine's process; plots redraw at ~1 Hz anyway.

The child ignores SIGINT (Ctrl-C reaches the whole process group: the parent decides how to stop)
and exits on its own when the parent goes away (EOF on the pipe). Its stdout and stderr go to a
temp file, never to the terminal the dashboard draws on; the last line is shown if it dies.
"""

from __future__ import annotations

import copyreg
import dataclasses
import multiprocessing
import os
import pickle
import signal
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from types import MappingProxyType
from typing import Any

from hdrh.histogram import HdrHistogram

from webchat_tui.config import ConfigError, RunConfig
from webchat_tui.engine.clients import TargetUnreachable, describe_error
from webchat_tui.engine.metrics import MetricsSnapshot, acyclic
from webchat_tui.engine.runner import PUBLISH_S, EngineControls, EngineError, EngineThread

HIST_EVERY_S = 1.0
_START_ERRORS = {"TargetUnreachable": TargetUnreachable, "ConfigError": ConfigError}



def _mappingproxy(items: dict) -> MappingProxyType:
    return MappingProxyType(items)


# Snapshots hold read-only MappingProxyType views, which pickle cannot handle by itself.
copyreg.pickle(MappingProxyType, lambda m: (_mappingproxy, (dict(m),)))


class EngineProcess(EngineControls):
    """Same API as EngineThread; the engine runs in a spawned child process."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self._ctx = multiprocessing.get_context("spawn")  # no fork of a threaded parent
        self._reset()

    def _reset(self) -> None:
        self.latest: MetricsSnapshot | None = None
        self.error: BaseException | None = None
        self._finished = False
        self._stopped = False
        self._proc: Any = None
        self._conn: Connection | None = None
        self._reader: threading.Thread | None = None
        self._final = threading.Event()
        self._send_lock = threading.Lock()
        self._decoder = _SnapshotDecoder()
        self._log_path: str | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout_s: float = 30) -> None:
        if self._proc is not None:
            raise RuntimeError("EngineProcess already started; use restart()")
        fd, self._log_path = tempfile.mkstemp(prefix="webchat-engine-", suffix=".log")
        os.close(fd)
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        self._proc = self._ctx.Process(target=_child_main, name="webchat-engine", daemon=True,
                                       args=(self.config, child_conn, self._log_path))
        self._proc.start()
        child_conn.close()  # so a dead child shows as EOF here
        self._conn = parent_conn
        if not parent_conn.poll(timeout_s):
            self._kill()
            raise TimeoutError(f"the load engine did not start within {timeout_s:g} s")
        try:
            first = parent_conn.recv()
        except EOFError:
            self._kill()
            raise EngineError(f"the load engine process died at start{self._log_tail()}") from None
        if first[0] == "start_error":
            self._kill()
            raise _START_ERRORS.get(first[1], EngineError)(first[2])
        self.latest = self._decoder.decode(first[1])
        self._reader = threading.Thread(target=self._read, name="webchat-engine-reader",
                                        daemon=True)
        self._reader.start()

    def stop(self, drain_s: float = 2.0, timeout_s: float = 10) -> MetricsSnapshot:
        """Stop the run (idempotent) and return the final snapshot."""
        if self._proc is None:
            raise RuntimeError("EngineProcess was never started")
        if not self._stopped:
            self._stopped = True
            self._send("stop", drain_s)
            if not self._final.wait(drain_s + timeout_s) and self.error is None:
                self.error = EngineError("the load engine did not stop in time")
            self._proc.join(5)
            self._kill()
        return self._final_snapshot()

    @property
    def _started(self) -> bool:
        return self._proc is not None

    # -- plumbing --------------------------------------------------------------------------------

    def _deliver(self, name: str, *args: Any) -> None:  # the steering commands (EngineControls)
        self._send(name, *args)

    def _send(self, *msg: Any) -> None:
        conn = self._conn
        if conn is None:
            return
        with self._send_lock:  # UI thread and a worker thread may steer at the same time
            try:
                conn.send(msg)
            except (OSError, ValueError):
                pass  # the child is gone: the reader reports why

    def _read(self) -> None:
        conn = self._conn
        assert conn is not None
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                if not self._final.is_set() and self.error is None:
                    self.error = EngineError(
                        f"the load engine process exited unexpectedly{self._log_tail()}")
                self._final.set()
                return
            kind = msg[0]
            if kind == "snap":
                self.latest = self._decoder.decode(msg[1])
                self._finished = msg[2]
            elif kind == "final":
                self.latest = self._decoder.decode(msg[1])
                self._finished = True
                if msg[2] is not None:
                    self.error = EngineError(msg[2])
                self._final.set()
                return

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.is_alive():
            proc.kill()
            proc.join(5)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self.error is None and self._log_path:
            _unlink(self._log_path)  # kept when something went wrong, for the bug report

    def _log_tail(self) -> str:
        """': <last line the child wrote>' or '' (its log holds any traceback)."""
        try:
            with open(self._log_path or "", "rb") as f:
                lines = f.read()[-4096:].decode(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return f": {lines[-1]} (log: {self._log_path})" if lines else ""


class _SnapshotEncoder:
    """Child side: histograms travel at most every HIST_EVERY_S (and always when final)."""

    def __init__(self) -> None:
        self._hist_at = float("-inf")

    def encode(self, snap: MetricsSnapshot, *, full: bool = False) -> bytes:
        now = time.monotonic()
        hists = None
        if full or now - self._hist_at >= HIST_EVERY_S:
            self._hist_at = now
            hists = ({n: h.encode() for n, h in snap.histograms.items()},
                     {n: h.encode() for n, h in snap.window_histograms.items()})
        bare = dataclasses.replace(snap, histograms={}, window_histograms={})
        return pickle.dumps((bare, hists), protocol=pickle.HIGHEST_PROTOCOL)


class _SnapshotDecoder:
    """Parent side: re-attach the latest histograms to each snapshot."""

    def __init__(self) -> None:
        self._hists: tuple[MappingProxyType, MappingProxyType] = (
            MappingProxyType({}), MappingProxyType({}))

    def decode(self, blob: bytes) -> MetricsSnapshot:
        bare, hists = pickle.loads(blob)
        if hists is not None:
            self._hists = tuple(  # type: ignore[assignment]
                MappingProxyType({n: acyclic(HdrHistogram.decode(b)) for n, b in part.items()})
                for part in hists)
        return dataclasses.replace(bare, histograms=self._hists[0],
                                   window_histograms=self._hists[1])


def _child_main(config: RunConfig, conn: Connection, log_path: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _redirect_output(log_path)
    engine = EngineThread(config)
    try:
        engine.start(timeout_s=30)
    except BaseException as exc:  # shown by the parent as one line
        conn.send(("start_error", type(exc).__name__, str(exc) or describe_error(exc)))
        return
    encoder = _SnapshotEncoder()
    sent = engine.latest
    conn.send(("started", encoder.encode(sent, full=True)))
    drain_s = 1.0
    while True:
        if conn.poll(PUBLISH_S):
            try:
                msg = conn.recv()
            except EOFError:
                break  # the parent is gone: stop quietly
            if msg[0] == "stop":
                drain_s = msg[1]
                break
            _dispatch(engine, msg)
        snap = engine.latest
        if snap is not None and snap is not sent:
            sent = snap
            conn.send(("snap", encoder.encode(snap), engine.finished))
    error = None
    try:
        final = engine.stop(drain_s=drain_s)
    except EngineError as exc:
        final, error = engine.latest, str(exc)
    if final is not None:
        try:
            conn.send(("final", encoder.encode(final, full=True), error))
        except OSError:
            pass  # the parent is gone


def _dispatch(engine: EngineThread, msg: tuple) -> None:
    name, args = msg[0], msg[1:]
    if name not in {"set_rate", "ramp_to", "pause", "resume", "set_send_mode",
                    "confirm_sse_miss"}:
        print(f"engine process: unknown command {name!r}", file=sys.stderr)
        return
    try:
        getattr(engine, name)(*args)
    except ValueError as exc:  # validated in the parent already; never kill the run for it
        print(f"engine process: {name}: {exc}", file=sys.stderr)


def _redirect_output(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
