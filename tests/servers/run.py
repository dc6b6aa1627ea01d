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
        self._thread = threading.Thread(target=self._run, daemon=True, name="raw-test-server")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._server = await asyncio.start_server(self._handler, sock=self._sock)
            self._started.set()
            async with self._server:
                await self._server.serve_forever()

        try:
            self._loop.run_until_complete(main())
        except asyncio.CancelledError:
            pass
        finally:
            self._loop.close()

    def __enter__(self) -> "ThreadedRawServer":
        self._thread.start()
        if not self._started.wait(5):
            raise RuntimeError("raw test server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        def shutdown() -> None:
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
        self._loop.call_soon_threadsafe(shutdown)
        self._thread.join(5)
