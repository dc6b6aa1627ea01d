"""The profile-driven web-chat session (DESIGN.md section 4), one coroutine per session.

Phases (perf_counter_ns): create (POST -> id), connect (stream request -> ready), send (POST ->
2xx), first_reply (send start -> first token event, or the reply event if no token came), reply
(send start -> reply event); total (INTENDED start -> reply) is recorded by the recorder.

Ready = the stream's response headers arrived with 2xx and text/event-stream, and then the first
event named in profile.ready_events (if the profile names any). Send mode, fixed per session when
it starts: `wait` sends after ready (how a browser widget behaves); `burst` sends right after
create, concurrently with opening the stream (reproduces the seed's race). The send always runs
as a second task so the stream is read while the POST is in flight; if the send fails, it ends
the session at once through `interrupt`.

Outcome rules (exactly one per session, see flows/base.py):
- reply event by threshold -> ok; after threshold but before threshold + grace -> slow.
- 429 in any phase, or an error event whose JSON code contains "rate" -> rate_limited.
- other non-2xx -> http_error "<phase> <status>"; other error events -> http_error
  "reply error event <code>".
- refused / reset / RemoteProtocolError before a response -> connect_error; the stream ending
  (or being reset) after its headers and before the reply -> stream_closed.
- bad JSON or a missing/empty id in the create response, a stream with another content type,
  malformed SSE (invalid UTF-8, an event over 1 MiB, the stream ending inside an event),
  an error event that is not JSON -> protocol_error. A redirect (3xx) is not followed: it is
  an http_error "<phase> 302" like any other non-2xx status.
- httpx PoolTimeout -> pool_timeout (the generator is saturated; never server latency).
- nothing by threshold + grace: if the message was accepted (2xx), the stream is ready, the send
  started before the stream was ready, and no token/reply/error event arrived -> inferred
  sse_miss "race"; anything else -> timeout.
- engine.confirm_sse_miss (server log says it had no stream for the id) ends the session at once
  as sse_miss: "race" if the send started before ready, else "lost".
- the run stopped -> cancelled.
"""

from __future__ import annotations

import asyncio

from webchat_tui.config import TargetProfile
from webchat_tui.engine.flows.base import (
    SSE_HEADERS, FlowContext, Session, SessionEnd, error_event_end, interrupt, now_ns, status_end,
)
from webchat_tui.engine.clients import classify_transport_error, describe_error
from webchat_tui.engine.outcomes import Outcome, SseMissKind
from webchat_tui.engine.sse import is_event_stream, iter_events
from webchat_tui.engine.templating import PointerError, compile_body, compile_path, compile_pointer


class WebchatFlow:
    """Compiled once per run from the profile; `body` runs once per session."""

    def __init__(self, profile: TargetProfile) -> None:
        p = profile
        self.create_method, self.create_path = p.create.method, compile_path(p.create.path)
        self.create_body = compile_body(p.create.json) if p.create.json is not None else None
        self.stream_method, self.stream_path = p.stream.method, compile_path(p.stream.path)
        self.stream_body = compile_body(p.stream.json) if p.stream.json is not None else None
        self.send_method, self.send_path = p.send.method, compile_path(p.send.path)
        self.send_body = compile_body(p.send.json) if p.send.json is not None else None
        self.get_id = compile_pointer(p.session_id_pointer)
        self.ready_events = frozenset(p.ready_events)
        self.token_events = frozenset(p.token_events)
        self.reply_events = frozenset(p.reply_events)
        self.error_events = frozenset(p.error_events)

    # -- phases ----------------------------------------------------------------------------------

    async def _create(self, ctx: FlowContext, sess: Session) -> str:
        t = now_ns()
        body = self.create_body("", sess.prompt, sess.n) if self.create_body else None
        resp = await ctx.clients.post.get().request(
            self.create_method, self.create_path("", sess.prompt, sess.n), json=body)
        if (end := status_end(resp, "create")) is not None:
            raise end
        try:
            sid = self.get_id(resp.json())
        except ValueError:
            raise SessionEnd(Outcome.PROTOCOL_ERROR, "create: response is not JSON") from None
        except PointerError:
            raise SessionEnd(Outcome.PROTOCOL_ERROR, "create: no session id in response") from None
        if isinstance(sid, bool) or not isinstance(sid, (str, int)) or sid == "":
            raise SessionEnd(Outcome.PROTOCOL_ERROR, "create: session id is not a string")
        ctx.rec.phase("create", now_ns() - t)
        return str(sid)

    async def _send(self, ctx: FlowContext, sess: Session) -> None:
        """Runs beside the stream reader; a failure interrupts the session's main task."""
        sid = sess.server_id or ""
        sess.send_start_ns = t = now_ns()
        sess.sent_before_ready = sess.ready_ns is None
        try:
            body = self.send_body(sid, sess.prompt, sess.n) if self.send_body else None
            resp = await ctx.clients.post.get().request(
                self.send_method, self.send_path(sid, sess.prompt, sess.n), json=body)
            if (end := status_end(resp, "send")) is not None:
                raise end
            ctx.rec.phase("send", now_ns() - t)
            sess.send_ok = True
        except asyncio.CancelledError:
            raise
        except SessionEnd as end:
            interrupt(sess, end)
        except Exception as exc:  # httpx errors: classify like the main path would
            interrupt(sess, SessionEnd(classify_transport_error(exc, got_response=False),
                                       f"send: {describe_error(exc)}"))

    def _start_send(self, ctx: FlowContext, sess: Session) -> None:
        sess.send_task = asyncio.get_running_loop().create_task(self._send(ctx, sess))

    # -- the session -----------------------------------------------------------------------------

    async def body(self, ctx: FlowContext, sess: Session) -> int:
        rec = ctx.rec
        sess.server_id = await self._create(ctx, sess)
        ctx.register(sess)
        burst = sess.send_mode == "burst"
        sess.phase = "connect"
        t_connect = now_ns()
        if burst:
            self._start_send(ctx, sess)
        sid = sess.server_id
        body = self.stream_body(sid, sess.prompt, sess.n) if self.stream_body else None
        async with ctx.clients.stream.get().stream(
                self.stream_method, self.stream_path(sid, sess.prompt, sess.n),
                headers=SSE_HEADERS, json=body) as resp:
            # Status first: a 404 JSON body is an http_error, not a content-type problem.
            if (end := status_end(resp, "connect")) is not None:
                raise end
            if not is_event_stream(resp):
                ctype = resp.headers.get("content-type", "none")[:60]
                raise SessionEnd(Outcome.PROTOCOL_ERROR, f"connect: content type {ctype}")
            sess.phase = "reply"
            ready_events = self.ready_events
            if not ready_events:
                self._ready(ctx, sess, t_connect, burst)
            first_ns: int | None = None
            async for ev in iter_events(resp, strict_end=True):
                name = ev.name
                if sess.ready_ns is None and name in ready_events:
                    self._ready(ctx, sess, t_connect, burst)
                elif name in self.token_events:
                    sess.saw_event = True
                    if first_ns is None:
                        first_ns = now_ns()
                        if sess.send_start_ns is not None:
                            rec.phase("first_reply", first_ns - sess.send_start_ns)
                elif name in self.reply_events:
                    sess.saw_event = True
                    t = now_ns()
                    if sess.send_start_ns is not None:
                        if first_ns is None:
                            rec.phase("first_reply", t - sess.send_start_ns)
                        rec.phase("reply", t - sess.send_start_ns)
                    sess.reply_ns = t
                    if sess.send_task is not None and not sess.send_task.done():
                        await sess.send_task  # the POST's own timing, under the session deadline
                    return t
                elif name in self.error_events:
                    sess.saw_event = True
                    raise error_event_end(ev.data)
            raise SessionEnd(Outcome.STREAM_CLOSED, "stream ended before the reply")

    def _ready(self, ctx: FlowContext, sess: Session, t_connect: int, burst: bool) -> None:
        sess.ready_ns = now_ns()
        ctx.rec.phase("connect", sess.ready_ns - t_connect)
        if not burst:
            self._start_send(ctx, sess)

    def on_deadline(self, sess: Session) -> SessionEnd:
        if sess.send_ok and sess.ready_ns is not None and sess.sent_before_ready \
                and not sess.saw_event:
            return SessionEnd(Outcome.SSE_MISS, "no reply: message sent before the stream was ready",
                              kind=SseMissKind.RACE.value)
        return SessionEnd(Outcome.TIMEOUT, f"no reply by the deadline ({sess.phase})")


def confirmed_miss(sess: Session) -> SessionEnd:
    """The server log confirmed it had no stream for this session."""
    kind = SseMissKind.RACE if sess.sent_before_ready or sess.ready_ns is None else SseMissKind.LOST
    return SessionEnd(Outcome.SSE_MISS, f"server confirmed ({kind.value})", kind=kind.value)

