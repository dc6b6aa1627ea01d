"""What every flow shares: per-session state, the one finish path, error-to-outcome mapping.

Exactly one outcome per session is guaranteed by structure: `run_session` is the only caller of
`rec.session_finished`, from a `finally` block, whatever happens inside the flow (reply, error,
deadline, the run being stopped, an interrupt from outside such as a server-confirmed SSE miss or
a failed send running beside the stream reader).

A flow is an object with two methods:
    async body(ctx, sess) -> int        the reply's perf_counter_ns; raise SessionEnd otherwise
    on_deadline(sess) -> SessionEnd     what "no reply by threshold + grace" means for this flow
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Protocol

import httpx

from webchat_tui.engine.clients import Clients, classify_transport_error, describe_error
from webchat_tui.engine.outcomes import Outcome
from webchat_tui.engine.sse import SSEProtocolError

if TYPE_CHECKING:
    from webchat_tui.config import RunConfig

now_ns = time.perf_counter_ns
SSE_HEADERS = {"Accept": "text/event-stream", "Cache-Control": "no-store"}  # never mutated

# Outcomes that also go to the warnings log (the recorder keeps a bounded ring).
_WARN = {Outcome.RATE_LIMITED, Outcome.HTTP_ERROR, Outcome.POOL_TIMEOUT, Outcome.SSE_MISS,
         Outcome.CONNECT_ERROR}


class SessionEnd(Exception):
    """Ends a session with a non-reply outcome. `kind` is the SSE-miss kind for SSE_MISS."""

    def __init__(self, outcome: Outcome, detail: str | None = None, kind: str | None = None) -> None:
        super().__init__(outcome, detail)
        self.outcome = outcome
        self.detail = detail
        self.kind = kind


@dataclass(slots=True, eq=False)
class Session:
    n: int                           # sequence number in the run ({n})
    t_intended_ns: int
    send_mode: str
    prompt: str
    server_id: str | None = None
    phase: str = "create"            # for error details: where it failed
    task: asyncio.Task | None = None
    send_task: asyncio.Task | None = None
    interrupt: SessionEnd | None = None   # set before cancelling `task` from outside
    ready_ns: int | None = None
    send_start_ns: int | None = None
    sent_before_ready: bool = False
    send_ok: bool = False
    saw_event: bool = False          # a token, reply or error event arrived
    reply_ns: int | None = None      # the reply came: nothing may interrupt the session now
    done: bool = False


@dataclass(slots=True)
class FlowContext:
    """Run-wide, read-mostly values the flows need. Built once per run."""
    config: RunConfig
    rec: Any                          # metrics.Recorder
    clients: Clients
    threshold_ns: int
    grace_ns: int
    register: Callable[[Session], None] = lambda s: None   # server id known (engine's map)
    records: Any = None               # records.RecordWriter (--record) or None


class Flow(Protocol):
    async def body(self, ctx: FlowContext, sess: Session) -> int: ...
    def on_deadline(self, sess: Session) -> SessionEnd: ...


def status_end(response: httpx.Response, phase: str) -> SessionEnd | None:
    """None for 2xx; else the outcome of a bad status (429 -> rate_limited)."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    outcome = Outcome.RATE_LIMITED if status == 429 else Outcome.HTTP_ERROR
    detail = f"{phase} {status}"
    retry = response.headers.get("retry-after")
    if retry and status == 429:
        detail += f" (Retry-After {retry[:20]})"
    return SessionEnd(outcome, detail)


def error_event_end(data: str, phase: str = "reply") -> SessionEnd:
    """An error event: a JSON code containing "rate" -> rate_limited, other codes -> http_error."""
    try:
        doc = json.loads(data)
    except ValueError:
        return SessionEnd(Outcome.PROTOCOL_ERROR, f"{phase}: error event is not JSON")
    code: Any = ""
    if isinstance(doc, dict):
        code = doc.get("code") or doc.get("error") or doc.get("type") or ""
        if isinstance(code, dict):  # OpenAI style {"error": {"code": ..., "type": ...}}
            code = code.get("code") or code.get("type") or ""
    code = str(code)[:80]
    if "rate" in code.lower():
        return SessionEnd(Outcome.RATE_LIMITED, f"{phase} error event {code}")
    return SessionEnd(Outcome.HTTP_ERROR, f"{phase} error event {code or 'unknown'}")


def interrupt(sess: Session, end: SessionEnd) -> bool:
    """End a running session from outside its task (first interrupt wins). True if applied."""
    if sess.done or sess.reply_ns is not None or sess.interrupt is not None or sess.task is None:
        return False
    sess.interrupt = end
    sess.task.cancel()
    return True


def _reply_outcome(ctx: FlowContext, sess: Session, t_reply_ns: int) -> Outcome:
    return Outcome.OK if t_reply_ns - sess.t_intended_ns <= ctx.threshold_ns else Outcome.SLOW


async def run_session(flow: Flow, ctx: FlowContext, sess: Session,
                      on_done: Callable[[Session], None]) -> None:
    """Run one session to exactly one outcome, recorded once."""
    rec = ctx.rec
    sess.task = asyncio.current_task()
    outcome: Outcome = Outcome.CANCELLED
    detail: str | None = None
    kind: str | None = None
    t_end: int | None = None
    # --record: the flow runs with a context that also notes this session's timings/statuses.
    probe = ctx.records.probe(ctx, sess) if ctx.records is not None else None
    try:
        remaining_s = (sess.t_intended_ns + ctx.threshold_ns + ctx.grace_ns - now_ns()) / 1e9
        async with asyncio.timeout(max(remaining_s, 0.0)):
            t_end = await flow.body(ctx if probe is None else probe.ctx, sess)
        outcome = _reply_outcome(ctx, sess, t_end)
    except SessionEnd as end:
        outcome, detail, kind = end.outcome, end.detail, end.kind
    except TimeoutError:
        if sess.reply_ns is not None:  # the reply came; only the send's response was late
            t_end = sess.reply_ns
            outcome = _reply_outcome(ctx, sess, t_end)
        else:
            end = flow.on_deadline(sess)
            outcome, detail, kind = end.outcome, end.detail, end.kind
    except asyncio.CancelledError:
        if sess.reply_ns is not None:  # stopped while only the send's response was pending
            t_end = sess.reply_ns
            outcome = _reply_outcome(ctx, sess, t_end)
        elif sess.interrupt is not None:
            end = sess.interrupt
            outcome, detail, kind = end.outcome, end.detail, end.kind
        # else: the run was stopped -> CANCELLED (the task ends normally; nothing to propagate)
    except SSEProtocolError as exc:
        outcome, detail = Outcome.PROTOCOL_ERROR, f"{sess.phase}: {exc}"
    except httpx.HTTPError as exc:
        outcome = classify_transport_error(exc, got_response=sess.phase == "reply")
        detail = f"{sess.phase}: {describe_error(exc)}"
    except Exception as exc:  # a bug or an unforeseen library error: classify, keep the run going
        outcome, detail = Outcome.PROTOCOL_ERROR, f"{sess.phase}: {describe_error(exc)}"
        rec.warn("engine", f"unexpected {describe_error(exc)} in {sess.phase}", sess.server_id)
    finally:
        sess.done = True
        if sess.send_task is not None and not sess.send_task.done():
            sess.send_task.cancel()
        try:
            if t_end is None:
                t_end = now_ns()
            rec.session_finished(outcome, t_end, sess.t_intended_ns, detail)
            if probe is not None:
                probe.finish(sess, outcome, detail, kind, t_end, rec.t0_ns)
            if outcome is Outcome.SSE_MISS:
                rec.sse_miss(kind or "lost")
            if outcome in _WARN:
                rec.warn(outcome.value, f"{outcome.value}: {detail or kind or ''}".rstrip(": "),
                         sess.server_id)
        finally:
            on_done(sess)  # the in-flight bookkeeping happens whatever the recorder does
