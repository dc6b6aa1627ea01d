"""--record FILE.jsonl: one JSON line per finished session, streamed, never kept in memory.

Hot path (the engine's event loop): `RecordWriter.probe(ctx, sess)` gives a session a context
whose recorder and clients note its phase timings and response statuses as they pass through;
`probe.finish(...)` appends one tuple of plain values to a bounded deque. A writer thread wakes
every FLUSH_S (or as soon as BATCH lines wait), encodes them as JSON, scrubs known secrets and
appends them to the file. If the disk cannot keep up, lines beyond MAX_BUFFERED are dropped and
counted instead of growing memory.

One line (keys with nothing to say are left out):
    {"n": 12, "session_id": "s-81f2", "outcome": "sse_miss", "sse_miss": "race",
     "detail": "no reply: message sent before the stream was ready", "t_end_s": 3.214,
     "send_mode": "burst", "ms": {"start_lag": 0.21, "create": 3.1, "connect": 2.2,
     "send": 1.9, "first_reply": 40.3, "reply": 61.0, "total": 70.2},
     "status": [["POST", 201], ["GET", 200], ["POST", 202]]}
`ms.total` (intended start -> reply) is present for ok/slow only, as in the histograms; `status`
lists every response's method and status code in the order the responses arrived.

The file is truncated when the run starts: one file holds one run.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import deque
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Iterable

from webchat_tui.engine.outcomes import Outcome
from webchat_tui.secrets import redact_text

FLUSH_S = 0.5
BATCH = 1000
MAX_BUFFERED = 100_000
_REPLY = frozenset({Outcome.OK, Outcome.SLOW})
_NS_PER_MS = 1_000_000


class _RecorderTap:
    """The run's Recorder, plus this session's phase timings (first value per phase)."""
    __slots__ = ("_rec", "phases")

    def __init__(self, rec: Any, phases: dict[str, int]) -> None:
        self._rec = rec
        self.phases = phases

    def phase(self, name: str, duration_ns: int) -> None:
        self._rec.phase(name, duration_ns)
        if name != "itl":   # inter-token gaps: one per chunk, the histogram has them
            self.phases.setdefault(name, duration_ns)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rec, name)


class _ClientTap:
    """An httpx.AsyncClient that notes (method, status) of every response it returns."""
    __slots__ = ("_client", "_statuses")

    def __init__(self, client: Any, statuses: list) -> None:
        self._client = client
        self._statuses = statuses

    async def request(self, method: str, url: Any, **kwargs: Any) -> Any:
        response = await self._client.request(method, url, **kwargs)
        self._statuses.append((method.upper(), response.status_code))
        return response

    @asynccontextmanager
    async def stream(self, method: str, url: Any, **kwargs: Any) -> AsyncIterator[Any]:
        async with self._client.stream(method, url, **kwargs) as response:
            self._statuses.append((method.upper(), response.status_code))
            yield response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class _PoolTap:
    __slots__ = ("_pool", "_statuses")

    def __init__(self, pool: Any, statuses: list) -> None:
        self._pool = pool
        self._statuses = statuses

    def get(self) -> _ClientTap:
        return _ClientTap(self._pool.get(), self._statuses)


class _ClientsTap:
    __slots__ = ("post", "stream", "_clients")

    def __init__(self, clients: Any, statuses: list) -> None:
        self._clients = clients
        self.post = _PoolTap(clients.post, statuses)
        self.stream = _PoolTap(clients.stream, statuses)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._clients, name)


class SessionProbe:
    """One session's taps; `ctx` is what the flow runs with."""
    __slots__ = ("_writer", "ctx", "_phases", "_statuses", "_start_ns")

    def __init__(self, writer: "RecordWriter", ctx: Any, start_ns: int) -> None:
        self._writer = writer
        self._phases: dict[str, int] = {}
        self._statuses: list[tuple[str, int]] = []
        self._start_ns = start_ns
        self.ctx = dataclasses.replace(ctx, rec=_RecorderTap(ctx.rec, self._phases),
                                       clients=_ClientsTap(ctx.clients, self._statuses))

    def finish(self, sess: Any, outcome: Outcome, detail: str | None, kind: str | None,
               t_end_ns: int, t0_ns: int) -> None:
        phases = self._phases
        phases["start_lag"] = self._start_ns - sess.t_intended_ns
        if outcome in _REPLY:
            phases["total"] = t_end_ns - sess.t_intended_ns
        self._writer.add((sess.n, sess.server_id, outcome.value,
                          kind if outcome is Outcome.SSE_MISS else None, detail,
                          (t_end_ns - t0_ns) / 1e9, sess.send_mode, phases,
                          self._statuses))


def _encode(row: tuple, secrets: tuple[str, ...]) -> dict[str, Any]:
    """A row as its JSON object; the free texts (server id, error detail) are scrubbed."""
    n, sid, outcome, kind, detail, t_end_s, mode, phases, statuses = row
    if sid is not None and secrets:
        sid = redact_text(sid, secrets)
    line: dict[str, Any] = {"n": n, "session_id": sid, "outcome": outcome}
    if kind:
        line["sse_miss"] = kind
    if detail:
        line["detail"] = redact_text(detail, secrets) if secrets else detail
    line["t_end_s"] = round(t_end_s, 6)
    line["send_mode"] = mode
    line["ms"] = {name: round(ns / _NS_PER_MS, 3) for name, ns in phases.items()}
    line["status"] = [list(s) for s in statuses]
    return line


class RecordWriter:
    """Appends session lines to `path` from a thread. OSError from opening propagates."""

    def __init__(self, path: str, secrets: Iterable[str] = (), *, flush_s: float = FLUSH_S,
                 batch: int = BATCH, max_buffered: int = MAX_BUFFERED) -> None:
        self.path = path
        self._secrets = tuple(sorted(secrets, key=len, reverse=True))
        self._file = open(path, "w", encoding="utf-8")   # one file per run
        self._flush_s, self._batch, self._max = flush_s, batch, max_buffered
        self._rows: deque[tuple] = deque()   # append (loop) / popleft (thread): thread-safe
        self._wake = threading.Event()
        self._closing = False
        self.written = 0
        self._dropped_full = 0                # counted on the loop
        self._dropped_error = 0               # counted in the writer thread
        self.error: str | None = None         # the write error that stopped recording
        self._thread = threading.Thread(target=self._run, name="webchat-records", daemon=True)
        self._thread.start()

    # -- event loop side ---------------------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Lines not written: buffer full (disk too slow) or after a write error."""
        return self._dropped_full + self._dropped_error

    def probe(self, ctx: Any, sess: Any) -> SessionProbe:
        return SessionProbe(self, ctx, time.perf_counter_ns())

    def add(self, row: tuple) -> None:
        if len(self._rows) >= self._max or self.error is not None:
            self._dropped_full += 1
            return
        self._rows.append(row)
        if len(self._rows) >= self._batch and not self._wake.is_set():
            self._wake.set()

    def close(self) -> None:
        """Write what is buffered and close the file (blocking: call it via to_thread)."""
        self._closing = True
        self._wake.set()
        self._thread.join()
        self._file.close()

    # -- writer thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self._flush_s)
            self._wake.clear()
            closing = self._closing   # read before draining: nothing is added after close()
            self._drain()
            if closing:
                return

    def _drain(self) -> None:
        rows = self._rows
        lines = []
        while rows:
            lines.append(json.dumps(_encode(rows.popleft(), self._secrets),
                                    separators=(",", ":")))
            if len(lines) >= self._batch:
                self._write(lines)
                lines = []
        self._write(lines)

    def _write(self, lines: list[str]) -> None:
        if not lines:
            return
        if self.error is not None:
            self._dropped_error += len(lines)
            return
        text = "\n".join(lines) + "\n"
        try:
            self._file.write(text)
            self._file.flush()
        except OSError as exc:
            self.error = f"{exc.strerror or exc}"
            self._dropped_error += len(lines)
        else:
            self.written += len(lines)
