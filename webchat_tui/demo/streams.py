"""The stream registry: which session has an SSE stream the server can push to."""

from __future__ import annotations

import asyncio


class Channel:
    """One open SSE stream: frames put here are written to the client in order.

    `None` in the queue ends the stream (server shutdown).
    """

    __slots__ = ("session_id", "queue")

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    def push(self, frame: bytes) -> None:
        self.queue.put_nowait(frame)


class StreamRegistry:
    """Open streams, and the registered one per session (the latest registration wins).

    A stream is open from its first byte to its end; it is registered only after the server's
    registration delay. A push to a session finds nothing in between: that is the seed's race.
    """

    def __init__(self) -> None:
        self._open: set[Channel] = set()
        self._registered: dict[str, Channel] = {}

    @property
    def open_count(self) -> int:
        return len(self._open)

    @property
    def registered_count(self) -> int:
        return len(self._registered)

    def opened(self, channel: Channel) -> None:
        self._open.add(channel)

    def register(self, channel: Channel) -> None:
        self._registered[channel.session_id] = channel

    def lookup(self, session_id: str) -> Channel | None:
        return self._registered.get(session_id)

    def closed(self, channel: Channel) -> None:
        self._open.discard(channel)
        if self._registered.get(channel.session_id) is channel:
            del self._registered[channel.session_id]

    def end_all(self) -> None:
        """Ask every open stream to finish (server shutdown)."""
        for channel in self._open:
            channel.queue.put_nowait(None)
