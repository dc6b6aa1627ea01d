"""Server-side state of the demo: counters, the session store and the DB pool model."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Callable

Clock = Callable[[], float]


class Stats:
    """Monotonic counters served by GET /api/stats (gauges are added by the backend)."""

    # rate_limited: 429s a client was told of (an error event or an HTTP 429);
    # provider_rate_limited: every provider refusal, including those lost with their reply.
    __slots__ = ("sessions", "messages", "replies", "sse_not_found", "rate_limited",
                 "provider_rate_limited", "db_pool_timeouts", "completions", "evicted_sessions",
                 "bad_requests")

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class Session:
    __slots__ = ("id", "last_used", "busy")

    def __init__(self, session_id: str, now: float) -> None:
        self.id = session_id
        self.last_used = now
        self.busy = 0  # open streams + replies in progress: a busy session is never evicted


class SessionStore:
    """Sessions by id, oldest use first, so eviction only looks at the expired head."""

    def __init__(self, ttl_s: float, clock: Clock = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._by_id: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, session_id: str) -> Session:
        session = Session(session_id, self._clock())
        self._by_id[session_id] = session
        return session

    def get(self, session_id: str) -> Session | None:
        session = self._by_id.get(session_id)
        if session is not None:
            self.touch(session)
        return session

    def touch(self, session: Session) -> None:
        session.last_used = self._clock()
        if session.id in self._by_id:  # an evicted session stays evicted
            self._by_id.move_to_end(session.id)

    def evict_idle(self) -> int:
        """Drop sessions idle for longer than the TTL; returns how many were dropped."""
        deadline = self._clock() - self._ttl_s
        evicted = 0
        while self._by_id:
            session = next(iter(self._by_id.values()))
            if session.last_used > deadline:
                break
            if session.busy:
                self.touch(session)  # still streaming: look again one TTL later
                continue
            del self._by_id[session.id]
            evicted += 1
        return evicted


class DbPool:
    """A connection pool as a semaphore: slots are held while "writing" or awaiting the AI."""

    def __init__(self, size: int, timeout_s: float) -> None:
        self.size = size
        self._timeout_s = timeout_s
        self._slots = asyncio.Semaphore(size)
        self.in_use = 0

    async def acquire(self) -> bool:
        """True with a slot held; False if none came free within the timeout."""
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._slots.acquire()
        except TimeoutError:
            return False
        self.in_use += 1
        return True

    def release(self) -> None:
        self.in_use -= 1
        self._slots.release()
