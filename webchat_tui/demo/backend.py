"""ChatBackend: the demo's chat domain (sessions, SSE streams, messages, AI replies).

No HTTP here: chat_api.py and openai_api.py translate requests into these calls. The model of
one message (DESIGN.md section 7, docs/DEMO_SERVER.md):
  POST message -> a DB slot for the insert (`db_write_ms`; none free within `db_timeout_s` -> 503)
  -> reply task: the reply is bound to the session's stream registered *now* (none: the race)
  -> provider budget, asked for every message as the seed's server did (over -> `error`
  rate_limited) -> no bound stream? the SSE-miss warning, reply dropped -> a DB slot for the whole
  AI call (none -> `error` db_pool_timeout) -> tokens over the lognormal latency -> `reply` -> slot
  released. A push with no stream logs the SSE-miss warning once and drops the rest.
With mock_ai the reply is pushed at once: no latency, no budget, no slot.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass

from webchat_tui.demo.provider import MockProvider, deltas, token_offsets
from webchat_tui.demo.settings import DemoSettings
from webchat_tui.demo.sse import HEARTBEAT, event_frame
from webchat_tui.demo.state import Clock, DbPool, Session, SessionStore, Stats
from webchat_tui.demo.streams import Channel, StreamRegistry

log = logging.getLogger("webchat_tui.demo")

# The exact line the seed's server logged; the dashboard's log tail matches it.
SSE_MISS_MESSAGE = "SSE connection not found for session_id: %s"

TEMPLATE_COUNT = 32  # canned replies, encoded once at start so the hot path only copies bytes


@dataclass(frozen=True)
class ReplyTemplate:
    token_frames: tuple[bytes, ...]
    reply_frame: bytes
    blob: bytes  # all frames at once (mock_ai)


class ChatBackend:
    def __init__(self, settings: DemoSettings, clock: Clock = time.monotonic) -> None:
        self.settings = settings
        self.rng = random.Random(settings.seed)
        self.stats = Stats()
        self.sessions = SessionStore(settings.session_ttl_s, clock)
        self.streams = StreamRegistry()
        self.db = DbPool(settings.db_pool, settings.db_timeout_s)
        self.provider = MockProvider(settings, self.rng, clock)
        self._write_s = settings.db_write_ms / 1000.0
        self._register_delay_s = settings.stream_register_delay_ms / 1000.0
        self._register_jitter_s = settings.stream_register_jitter_ms / 1000.0
        self._templates = [self._make_template() for _ in range(TEMPLATE_COUNT)]
        self._rate_limited_frame = event_frame(
            "error", {"code": "rate_limited", "message": "AI provider rate limit exceeded (429)"})
        self._db_timeout_frame = event_frame(
            "error", {"code": "db_pool_timeout",
                      "message": f"no database connection within {settings.db_timeout_s:g} s"})
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- sessions --------------------------------------------------------------------------

    def new_id(self, nbytes: int = 16) -> str:
        return f"{self.rng.getrandbits(nbytes * 8):0{nbytes * 2}x}"

    async def create_session(self) -> str | None:
        """The new session id, or None on a DB pool timeout."""
        if not await self._db_insert():
            return None
        session_id = self.new_id()
        self.sessions.add(session_id)
        self.stats.sessions += 1
        return session_id

    def session(self, session_id: str) -> Session | None:
        return self.sessions.get(session_id)

    # ---- streams ---------------------------------------------------------------------------

    async def events(self, session: Session) -> AsyncIterator[bytes]:
        """The SSE body of one stream. Runs after the response headers went out; the stream is
        registered only after the registration delay. Cancelled when the client disconnects."""
        channel = Channel(session.id)
        self.streams.opened(channel)
        session.busy += 1
        try:
            delay = self._register_delay_s + self.rng.uniform(0.0, self._register_jitter_s)
            if delay:
                await asyncio.sleep(delay)
            self.streams.register(channel)
            yield event_frame("ready", {"session_id": session.id})
            queue = channel.queue
            while True:
                try:
                    async with asyncio.timeout(self.settings.heartbeat_s):
                        frame = await queue.get()
                except TimeoutError:
                    yield HEARTBEAT
                    continue
                if frame is None:
                    return
                yield frame
        finally:
            self.streams.closed(channel)
            session.busy -= 1
            self.sessions.touch(session)

    # ---- messages and replies --------------------------------------------------------------

    async def accept_message(self, session: Session) -> bool:
        """Store the message and start its reply; False on a DB pool timeout."""
        if not await self._db_insert():
            return False
        self.stats.messages += 1
        if self.settings.mock_ai:
            asyncio.get_running_loop().call_soon(self._reply_at_once, session.id)
        else:
            self._spawn(self._reply(session))
        return True

    def _reply_at_once(self, session_id: str) -> None:
        if self._push(session_id, self._template().blob):
            self.stats.replies += 1

    async def _reply(self, session: Session) -> None:
        session.busy += 1
        try:
            # Bound when the reply starts: a message that beat its stream loses the whole reply.
            # The provider is asked all the same (the server only learns at delivery), which is
            # how the seed's burst spent 15x its budget.
            bound = self.streams.lookup(session.id) is not None
            if not self.provider.allow():
                self.stats.provider_rate_limited += 1
                if bound:
                    self.stats.rate_limited += 1
                    self._push(session.id, self._rate_limited_frame)
                else:
                    self._sse_miss(session.id)
                return
            if not bound:
                self._sse_miss(session.id)
                return
            if not await self.db.acquire():
                self.stats.db_pool_timeouts += 1
                self._push(session.id, self._db_timeout_frame)
                return
            try:
                await self._stream_reply(session.id)
            finally:
                self.db.release()
        finally:
            session.busy -= 1
            self.sessions.touch(session)

    async def _stream_reply(self, session_id: str) -> None:
        template = self._template()
        loop = asyncio.get_running_loop()
        start = loop.time()
        offsets = token_offsets(self.provider.latency_s(), len(template.token_frames))
        for offset, frame in zip(offsets, template.token_frames):
            delay = start + offset - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if not self._push(session_id, frame):
                return  # the stream went away mid-reply: logged once, rest dropped
        if self._push(session_id, template.reply_frame):
            self.stats.replies += 1

    def _push(self, session_id: str, frame: bytes) -> bool:
        channel = self.streams.lookup(session_id)
        if channel is None:
            self._sse_miss(session_id)
            return False
        channel.push(frame)
        return True

    def _sse_miss(self, session_id: str) -> None:
        self.stats.sse_not_found += 1
        log.warning(SSE_MISS_MESSAGE, session_id)

    # ---- helpers ---------------------------------------------------------------------------

    async def _db_insert(self) -> bool:
        if not await self.db.acquire():
            self.stats.db_pool_timeouts += 1
            return False
        try:
            if self._write_s:
                await asyncio.sleep(self._write_s)
        finally:
            self.db.release()
        return True

    def _make_template(self) -> ReplyTemplate:
        words = deltas(self.provider.words(self.settings.tokens_per_reply))
        token_frames = tuple(event_frame("token", {"delta": d}) for d in words)
        reply_frame = event_frame("reply", {"text": "".join(words), "tokens": len(words)})
        return ReplyTemplate(token_frames, reply_frame, b"".join(token_frames) + reply_frame)

    def _template(self) -> ReplyTemplate:
        return self.rng.choice(self._templates)

    def _spawn(self, coro: Coroutine[None, None, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)  # keep a reference: the loop only holds weak ones
        task.add_done_callback(self._tasks.discard)

    # ---- lifecycle and stats ---------------------------------------------------------------

    async def sweep_forever(self) -> None:
        interval = min(1.0, self.settings.session_ttl_s / 2)
        while True:
            await asyncio.sleep(interval)
            self.stats.evicted_sessions += self.sessions.evict_idle()

    def end_streams(self) -> None:
        self.streams.end_all()

    async def aclose(self) -> None:
        self.end_streams()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stats_dict(self) -> dict[str, object]:
        return {
            **self.stats.as_dict(),
            "open_streams": self.streams.open_count,
            "registered_streams": self.streams.registered_count,
            "active_sessions": len(self.sessions),
            "replies_in_flight": len(self._tasks),
            "db_in_use": self.db.in_use,
            "db_pool": self.db.size,
            "mock_ai": self.settings.mock_ai,
        }
