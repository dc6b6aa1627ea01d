"""Sharded httpx.AsyncClient pools, one pool per role (DESIGN.md section 4, "Use httpx ...").

Why shards: httpcore's pool re-scans every connection per request, so one client holding
thousands of open SSE streams falls far behind. Streams and short POSTs get separate pools of
clients, handed out round robin. HTTP/1.1 only; no connection limits (our own in-flight cap is
the limit); pool timeout 1 s so a saturated *generator* shows up as pool_timeout, never as server
latency; SSE read timeout None (the session has its own reply deadline).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import ssl

import httpx

from webchat_tui.engine.outcomes import Outcome

MAX_SHARDS = 32
SESSIONS_PER_SHARD = 128  # in-flight sessions per client before another shard is worth it
LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=30)
CONNECT_S, WRITE_S, POOL_S = 5.0, 5.0, 1.0


class TargetUnreachable(RuntimeError):
    """The target refused the warm-up request: nothing to measure."""


def shard_count(max_inflight: int) -> int:
    return max(1, min(MAX_SHARDS, math.ceil(max_inflight / SESSIONS_PER_SHARD)))


class ClientPool:
    """A fixed set of AsyncClients for one role, handed out round robin."""

    def __init__(self, base_url: str, headers: dict[str, str], n: int, read_s: float | None,
                 ssl_context: ssl.SSLContext) -> None:
        timeout = httpx.Timeout(connect=CONNECT_S, write=WRITE_S, pool=POOL_S, read=read_s)
        self.clients = [
            httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout, limits=LIMITS,
                              verify=ssl_context,
                              http1=True, http2=False, trust_env=False, follow_redirects=False)
            for _ in range(n)
        ]
        self._next = itertools.cycle(self.clients).__next__

    def get(self) -> httpx.AsyncClient:
        return self._next()

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.clients), return_exceptions=True)


class Clients:
    """The run's clients: `post` for create/send/chat requests, `stream` for SSE streams."""

    def __init__(self, base_url: str, headers: dict[str, str], max_inflight: int,
                 post_read_s: float) -> None:
        n = shard_count(max_inflight)
        self.base_url = base_url
        ctx = _ssl_context(base_url)
        self.post = ClientPool(base_url, headers, n, read_s=post_read_s, ssl_context=ctx)
        self.stream = ClientPool(base_url, headers, n, read_s=None, ssl_context=ctx)

    async def warm_up(self) -> None:
        """One GET per client so connection setup happens before the clock starts.

        Any HTTP status counts as reachable. If no client can connect at all, the target is
        unreachable (headless exit 3) and the clients are closed.
        """
        clients = self.post.clients + self.stream.clients
        results = await asyncio.gather(*(c.get("/") for c in clients), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if len(errors) == len(results):
            await self.aclose()
            raise TargetUnreachable(f"cannot reach {self.base_url}: {describe_error(errors[0])}")

    async def aclose(self) -> None:
        await asyncio.gather(self.post.aclose(), self.stream.aclose())


def _ssl_context(base_url: str) -> ssl.SSLContext:
    """One context for all clients: httpx builds a fresh one (~75 ms, certifi) per client otherwise.
    Plain-http targets never use it (redirects are not followed), so skip loading the CAs."""
    if base_url.lower().startswith("https:"):
        return httpx.create_ssl_context()
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def describe_error(exc: BaseException) -> str:
    """One line for a user: the exception type and its message, no traceback."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def classify_transport_error(exc: BaseException, got_response: bool) -> Outcome:
    """Map an httpx exception to an outcome. `got_response`: headers of this request arrived."""
    if isinstance(exc, httpx.PoolTimeout):
        return Outcome.POOL_TIMEOUT
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return Outcome.TIMEOUT
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return Outcome.CONNECT_ERROR
    if isinstance(exc, (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError,
                        httpx.CloseError)):
        # A reset after the headers arrived cut the stream short; before them, the connection failed.
        return Outcome.STREAM_CLOSED if got_response else Outcome.CONNECT_ERROR
    if isinstance(exc, httpx.DecodingError):
        return Outcome.PROTOCOL_ERROR
    if isinstance(exc, httpx.TransportError):
        return Outcome.CONNECT_ERROR
    return Outcome.PROTOCOL_ERROR
