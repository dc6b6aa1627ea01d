"""A strict SSE reader over an httpx streaming response, built on httpx-sse's field decoder.

httpx-sse's `EventSource` is not used as-is: a load generator must *classify* hostile streams, not
survive them silently. It decodes with errors="replace" (invalid UTF-8 vanishes into U+FFFD) and
buffers lines and events without a size bound. So here we split the bytes into lines ourselves and
hand each line to httpx-sse's `SSEDecoder`, which interprets the fields as the spec says:
- LF, CRLF and lone CR all end a line; each line is decoded strictly as UTF-8: invalid bytes raise
  SSEProtocolError;
- a line or one event larger than `max_event_bytes` raises SSEProtocolError (bounded buffering),
  whatever the chunk boundaries (the same bytes split anywhere give the same events or error);
- the stream ending inside an event (fields after the last blank line: "missing blank lines"):
  the spec discards that event; with `strict_end=True` (what the flows use) it raises
  SSEProtocolError instead, since for a load test it is a malformed stream, not a clean close;
- phantom events (no data and the default name, httpx-sse #35: a kept `id:` makes every blank line
  an event) are dropped;
- comments (`:`) are skipped by the decoder; `id:`/`retry:` are ignored (we never reconnect).
The caller checks the status and content type BEFORE reading (so a 404 JSON body is an
http_error, not a parse error).
"""

from __future__ import annotations

from typing import AsyncIterator, NamedTuple

import httpx
from httpx_sse._decoders import SSEDecoder

MAX_EVENT_BYTES = 1 << 20  # 1 MiB: a chat token or reply is far smaller


class SSEProtocolError(Exception):
    """Malformed stream: invalid UTF-8, oversized event."""


class Event(NamedTuple):
    name: str   # "message" when the stream gives no `event:` field
    data: str


def is_event_stream(response: httpx.Response) -> bool:
    ctype = response.headers.get("content-type", "")
    return ctype.partition(";")[0].strip().lower() == "text/event-stream"


async def iter_events(response: httpx.Response,
                      max_event_bytes: int = MAX_EVENT_BYTES,
                      strict_end: bool = False) -> AsyncIterator[Event]:
    """Yield the stream's events until the server closes it (see the module docstring)."""
    decoder = SSEDecoder()
    buf = b""
    size = 0  # bytes of data lines in the event being built
    open_event = False  # a field line came since the last blank line
    pending_cr = False  # a chunk ended in CR: a following LF belongs to it
    async for chunk in response.aiter_bytes():
        if not chunk:
            continue  # an empty chunk must not reset pending_cr
        if pending_cr:
            pending_cr = False
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
        if b"\r" in chunk:
            if chunk.endswith(b"\r"):
                pending_cr = True
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if b"\n" not in chunk:
            buf += chunk
            if len(buf) > max_event_bytes:
                raise SSEProtocolError(f"SSE line over {max_event_bytes} bytes")
            continue
        *lines, rest = (buf + chunk).split(b"\n")
        buf = rest
        for raw in lines:
            if len(raw) > max_event_bytes:
                raise SSEProtocolError(f"SSE line over {max_event_bytes} bytes")
            if raw.startswith(b"data"):
                size += len(raw)
                if size > max_event_bytes:
                    raise SSEProtocolError(f"SSE event over {max_event_bytes} bytes")
            try:
                line = raw.decode()
            except UnicodeDecodeError as exc:
                raise SSEProtocolError(f"invalid UTF-8 in SSE stream: {exc.reason}") from None
            sse = decoder.decode(line)
            if not line:
                size = 0
                open_event = False
            elif not line.startswith(":"):
                open_event = True
            if sse is not None and (sse.data or sse.event):
                yield Event(sse.event or "message", sse.data)
        # Checked after the complete lines, so their events come first however the bytes split.
        if len(buf) > max_event_bytes:
            raise SSEProtocolError(f"SSE line over {max_event_bytes} bytes")
    if strict_end and (open_event or buf):
        raise SSEProtocolError("stream ended inside an event (no blank line after it)")
