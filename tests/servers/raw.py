"""Raw asyncio HTTP handlers for faults a framework will not produce (e.g. a reset)."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import struct

_ids = itertools.count(1)


async def read_request(reader: asyncio.StreamReader,
                       timeout_s: float | None = None) -> tuple[str, str, bytes]:
    """One HTTP/1.1 request off a raw connection: method, path, body (Content-Length only)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout_s)
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, path, _ = request_line.split(" ", 2)
    length = 0
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return method, path, body


def _response(status: str, ctype: str, body: bytes) -> bytes:
    return (f"HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {len(body)}\r\n"
            f"\r\n").encode() + body


async def reset_after_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Demo API; every SSE stream sends its headers and a ready event, then an RST."""
    try:
        while True:
            method, path, _ = await read_request(reader)
            if method == "POST" and path == "/api/sessions":
                body = json.dumps({"session_id": f"r{next(_ids)}"}).encode()
                writer.write(_response("200 OK", "application/json", body))
            elif path.endswith("/events"):
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                             b"transfer-encoding: chunked\r\n\r\n")
                ready = b"event: ready\ndata: {}\n\n"
                writer.write(f"{len(ready):x}\r\n".encode() + ready + b"\r\n")
                await writer.drain()
                await asyncio.sleep(0.05)
                # SO_LINGER 0: close() sends a TCP reset instead of a clean FIN.
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            else:
                writer.write(_response("202 Accepted", "application/json", b"{}"))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
