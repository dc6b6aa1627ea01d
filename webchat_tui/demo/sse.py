"""Server-Sent-Events framing (the server side; the engine has its own parser)."""

from __future__ import annotations

import json

HEARTBEAT = b": ping\n\n"
DONE = b"data: [DONE]\n\n"
EVENT_STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # tell reverse proxies not to buffer the stream
}


def _compact(data: object) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def event_frame(event: str, data: object) -> bytes:
    """A named event with a JSON data line."""
    return f"event: {event}\ndata: {_compact(data)}\n\n".encode()


def data_frame(data: object) -> bytes:
    """An unnamed event with a JSON data line (the OpenAI chunk format)."""
    return f"data: {_compact(data)}\n\n".encode()
