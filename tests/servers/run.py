"""Run an ASGI app or a raw asyncio handler on 127.0.0.1 (free port) in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Awaitable, Callable

import uvicorn


def free_port_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def closed_port() -> int:
    """A port nothing listens on (bound, then closed): connections are refused."""
    sock = free_port_socket()
    port = sock.getsockname()[1]
    sock.close()
    return port


class ThreadedUvicorn:
    """uvicorn serving `app` in its own thread and loop; `with` starts and stops it."""

    def __init__(self, app) -> None:
        self._sock = free_port_socket()
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                                timeout_graceful_shutdown=1, timeout_keep_alive=30)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, daemon=True, name="test-server")

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self._sock]))

    def __enter__(self) -> "ThreadedUvicorn":
        self._thread.start()
        for _ in range(500):
            if self.server.started:
                return self
            self._thread.join(0.01)
        raise RuntimeError("test server did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)

    def __exit__(self, *exc: object) -> None:
        self.stop()


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class ThreadedRawServer:
    """A raw asyncio TCP server (for faults HTTP frameworks will not produce, like a reset)."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._sock = free_port_socket()
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="raw-test-server")

    async def _guarded(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Cancelled at shutdown: end normally, or asyncio logs the cancelled handler as an error.
        try:
            await self._handler(reader, writer)
        except asyncio.CancelledError:
            writer.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._stop = asyncio.Event()
            server = await asyncio.start_server(self._guarded, sock=self._sock)
            self._started.set()
            await self._stop.wait()
            server.close()
            # Open connections (streams the client never closed) end now, before the loop does.
            handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

        try:
            self._loop.run_until_complete(main())
        finally:
            self._loop.close()

    def __enter__(self) -> "ThreadedRawServer":
        self._thread.start()
        if not self._started.wait(5):
            raise RuntimeError("raw test server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)
