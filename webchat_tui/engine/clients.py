"""Sharded httpx.AsyncClient pools, one pool per role (DESIGN.md section 4, "Use httpx ...").

Why shards: httpcore's pool re-scans every connection per request, so one client holding
thousands of open SSE streams falls far behind. Streams and short POSTs get separate pools of
clients, handed out round robin. HTTP/1.1 only; no connection limits (our own in-flight cap is
the limit); pool timeout 1 s so a saturated *generator* shows up as pool_timeout, never as server
latency; SSE read timeout None (the session has its own reply deadline).

Transport "httpx" (httpcore) or "aiohttp" (the httpx-aiohttp transport: same httpx API, about
half the CPU per request). With aiohttp, the errors come out as the same httpx exception types
(see _AiohttpTransport); it has no write timeout (the session deadline still ends a stalled
write) and no pool to wait for (no connection limit), so PoolTimeout never happens there.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import ssl
from collections.abc import AsyncIterator

import httpx

from webchat_tui.engine.outcomes import Outcome

TRANSPORTS = ("httpx", "aiohttp")
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
                 ssl_context: ssl.SSLContext, transport: str = "httpx") -> None:
        timeout = httpx.Timeout(connect=CONNECT_S, write=WRITE_S, pool=POOL_S, read=read_s)
        if transport not in TRANSPORTS:
            raise ValueError(f"unknown transport {transport!r} (known: {', '.join(TRANSPORTS)})")
        self.clients = [
            httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout, limits=LIMITS,
                              verify=ssl_context,
                              transport=(_AiohttpTransport(ssl_context)
                                         if transport == "aiohttp" else None),
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
                 post_read_s: float, transport: str = "httpx") -> None:
        n = shard_count(max_inflight)
        self.base_url = base_url
        self.transport = transport
        ctx = _ssl_context(base_url)
        self.post = ClientPool(base_url, headers, n, read_s=post_read_s, ssl_context=ctx,
                               transport=transport)
        self.stream = ClientPool(base_url, headers, n, read_s=None, ssl_context=ctx,
                                 transport=transport)

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


class _AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx_aiohttp.AiohttpTransport with what a load generator needs on top.

    - Our own aiohttp session: no connection limit (the library falls back to aiohttp's 100 per
      client when max_connections is None), keep-alive 30 s, the shared SSL context, no proxies
      or netrc from the environment, no cookie jar of its own (httpx keeps the cookies).
    - Timeouts: the library passes httpx's pool timeout as aiohttp's `connect` (pool wait AND
      connection setup); with no pool to wait for, that would cut connection setup to 1 s.
      Here `connect` = connect + pool; sock_connect = connect; sock_read = read.
    - URL credentials: httpx turns them into an Authorization header; aiohttp refuses a URL
      with credentials next to that header, so the URL goes without them.
    - Errors as the httpx types httpcore would raise, so classify_transport_error gives the
      same outcomes on both transports (the library maps every connection error, a reset or a
      peer closing before the response included, to ConnectTimeout, and leaves parser errors
      as raw aiohttp exceptions). Also while the body streams.
    """

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        from httpx_aiohttp import AiohttpTransport

        self._ssl_context = ssl_context
        self._inner = AiohttpTransport(verify=ssl_context, trust_env=False, client=self._session)

    def _session(self):  # called lazily, inside the running loop, on the first request
        import aiohttp

        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0,
                                         keepalive_timeout=LIMITS.keepalive_expiry,
                                         ssl=self._ssl_context)
        return aiohttp.ClientSession(connector=connector, trust_env=False,
                                     cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.userinfo:  # httpx already made it an Authorization header; aiohttp
            request.url = request.url.copy_with(userinfo=b"")  # refuses both at once
        timeout = request.extensions.get("timeout")
        if timeout:
            connect, pool = timeout.get("connect"), timeout.get("pool")
            if connect is not None and pool is not None:
                request.extensions["timeout"] = {**timeout, "pool": connect + pool}
        try:
            response = await self._inner.handle_async_request(request)
        except Exception as exc:
            raise _httpx_error(exc, request) from exc
        response.stream = _MappedStream(response.stream, request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _MappedStream(httpx.AsyncByteStream):
    __slots__ = ("_stream", "_request")

    def __init__(self, stream, request: httpx.Request) -> None:
        self._stream = stream
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except Exception as exc:
            raise _httpx_error(exc, self._request) from exc

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        except Exception as exc:
            raise _httpx_error(exc, self._request) from exc


def _httpx_error(exc: Exception, request: httpx.Request) -> Exception:
    """The httpx exception httpcore would have raised for this aiohttp failure (or exc itself)."""
    import aiohttp

    cause = exc.__cause__ if isinstance(exc, httpx.HTTPError) else exc
    if not isinstance(cause, aiohttp.ClientError):  # an httpx error of its own, or not aiohttp's
        return exc
    message = str(cause) or type(cause).__name__
    kind: type[httpx.HTTPError]
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        kind = httpx.ConnectTimeout
    elif isinstance(cause, aiohttp.ServerTimeoutError):    # sock_read
        kind = httpx.ReadTimeout
    elif isinstance(cause, aiohttp.ClientConnectorError):  # refused, unreachable, DNS, TLS
        kind = httpx.ConnectError
    elif isinstance(cause, aiohttp.ServerDisconnectedError):  # peer closed: no (full) response
        kind = httpx.RemoteProtocolError
    elif isinstance(cause, aiohttp.ClientOSError):  # reset while writing or reading
        kind = httpx.ReadError
    elif isinstance(cause, aiohttp.ClientPayloadError):  # body cut short / bad chunked framing
        kind = httpx.RemoteProtocolError
    elif isinstance(cause, aiohttp.ClientResponseError):  # unparsable status line or headers
        kind = httpx.RemoteProtocolError
    elif isinstance(cause, aiohttp.ClientConnectionError):
        kind = httpx.ConnectError
    elif isinstance(cause, aiohttp.InvalidURL):
        kind = httpx.UnsupportedProtocol
    else:
        kind = httpx.TransportError
    if type(exc) is kind:
        return exc
    return kind(message, request=request)


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
