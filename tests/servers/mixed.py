"""A raw-asyncio web-chat server (the demo API) that misbehaves PER SESSION, in a weighted mix.

Each POST /api/sessions picks the session's fault mode: `{"mode": NAME}` in the create body if
given, else the next one of a smooth weighted round robin over `mix` (deterministic: with
mix {"ok": 3, "bad_json": 1} every 4 consecutive creates hold 3 ok and 1 bad_json). The mode is
kept per session id, so the stream and the send of that session misbehave the same way.
`stats()` (also `GET /stats` as JSON) counts sessions per mode and what the server did
(`resets`, `replies`, ...), so a test compares the client's outcome counts with the server's.

MODES maps each mode to the outcome the engine must give it (DESIGN.md section 5). The mapping
is deterministic for every mode; "slow_headers" needs threshold < slow_s < threshold + grace.
Raw sockets because frameworks will not send a reset, a 1 MiB SSE line or broken framing.

    with ThreadedRawServer(MixedFaultServer({"ok": 2, "create_reset": 1}).handle) as srv: ...
    python -m tests.servers.mixed --port 8900 --mix ok=3,huge_event=1,redirect=1
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import socket
import struct
from collections import Counter, defaultdict

from tests.servers.raw import read_request

MODES: dict[str, str] = {
    "ok": "ok",
    "create_reset": "connect_error",      # RST after reading the create request (no response)
    "stream_reset": "connect_error",      # RST after reading the stream request (no headers)
    "reset_mid_stream": "stream_closed",  # headers, ready, a token, then RST
    "storm_5xx": "http_error",            # create answers 500 / 502 / 503 / 504 in turn
    "create_429": "rate_limited",         # 429 with Retry-After on create
    "send_429": "rate_limited",           # 429 with Retry-After on the message POST
    "slow_headers": "slow",               # stream headers only after slow_s
    "never_sends": "timeout",             # stream headers, then silence (no ready, nothing)
    "stream_close": "stream_closed",      # ready, then a clean end of the stream before the reply
    "no_blank_lines": "protocol_error",   # events never terminated by a blank line, then the end
    "mixed_eol": "ok",                    # LF, CRLF and lone CR mixed, CR and LF in split chunks
    "huge_event": "protocol_error",       # one event over 1 MiB
    "bad_utf8": "protocol_error",         # invalid UTF-8 in a data line
    "no_colon": "ok",                     # field lines without a colon (valid SSE: empty value)
    "bad_json": "protocol_error",         # create answers 200 with a truncated JSON body
    "no_id": "protocol_error",            # create answers JSON without the session id
    "wrong_ctype": "protocol_error",      # the stream answers 200 application/json
    "redirect": "http_error",             # create answers 302 (the engine follows no redirects)
}
STORM_STATUSES = ("500 Internal Server Error", "502 Bad Gateway", "503 Service Unavailable",
                  "504 Gateway Timeout")
HUGE_BYTES = (1 << 20) + 1024  # data bytes of the huge event: over the engine's 1 MiB bound
SERVER_WAIT_S = 60.0           # no server-side wait lasts longer: nothing outlives a test


def weighted_cycle(mix: dict[str, int]):
    """Smooth weighted round robin (nginx): spreads each mode evenly, deterministic."""
    current = dict.fromkeys(mix, 0)
    total = sum(mix.values())
    while True:
        for mode, weight in mix.items():
            current[mode] += weight
        pick = max(current, key=current.__getitem__)
        current[pick] -= total
        yield pick


def parse_mix(text: str) -> dict[str, int]:
    """'ok=3,huge_event=1' -> {"ok": 3, "huge_event": 1}."""
    mix = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name.strip() not in MODES:
            raise ValueError(f"unknown mode {name.strip()!r} (known: {', '.join(MODES)})")
        mix[name.strip()] = int(weight or 1)
    return mix


def sse(name: str, data: str, eol: str = "\n") -> bytes:
    return f"event: {name}{eol}data: {data}{eol}{eol}".encode()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def response(status: str, ctype: str, body: bytes, extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {len(body)}\r\n"
            f"{extra}\r\n").encode() + body


def json_response(doc: object, status: str = "200 OK", extra: str = "") -> bytes:
    return response(status, "application/json", json.dumps(doc).encode(), extra)


STREAM_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-store\r\n"
               b"transfer-encoding: chunked\r\n\r\n")
READY = sse("ready", "{}")
REPLY = sse("token", '{"t": "Hel"}') + sse("token", '{"t": "lo"}') + sse("reply", '{"text": "Hello"}')


class Reset(Exception):
    """Raised by a handler: the connection ends with a TCP reset."""


class MixedFaultServer:
    def __init__(self, mix: dict[str, int], *, slow_s: float = 1.5) -> None:
        for mode in mix:
            if mode not in MODES:
                raise ValueError(f"unknown mode {mode!r}")
        self.mix = dict(mix)
        self.slow_s = slow_s
        self._next_mode = weighted_cycle(self.mix).__next__
        self._ids = itertools.count(1)
        self._storm = itertools.count()
        self.sessions: Counter[str] = Counter()          # sessions created per mode
        self.did: defaultdict[str, Counter] = defaultdict(Counter)  # per mode: what we did
        self.open_connections = 0
        # Per open session: set when its message arrived (popped when its stream ends).
        self._message: dict[str, asyncio.Event] = {}

    def stats(self) -> dict:
        return {"sessions": dict(self.sessions), "did": {m: dict(c) for m, c in self.did.items()},
                "open_connections": self.open_connections,
                "expected": {m: MODES[m] for m in self.sessions}}

    def expected_outcomes(self) -> Counter[str]:
        """The outcome counts a correct client must report for what this server did."""
        expected: Counter[str] = Counter()
        for mode, n in self.sessions.items():
            expected[MODES[mode]] += n
        return expected

    # -- connection loop ---------------------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        try:
            while True:
                method, path, body = await read_request(reader, SERVER_WAIT_S)
                keep_open = await self._dispatch(method, path, body, reader, writer)
                await writer.drain()
                if not keep_open:
                    return
        except Reset:
            _reset(writer)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, TimeoutError):
            pass  # the client went away, or sent something we do not parse: close
        finally:
            self.open_connections -= 1
            writer.close()

    async def _dispatch(self, method: str, path: str, body: bytes,
                        reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        parts = path.split("?", 1)[0].strip("/").split("/")
        if method == "POST" and parts == ["api", "sessions"]:
            writer.write(await self._create(body))
            return True
        if len(parts) == 4 and parts[:2] == ["api", "sessions"]:
            sid, what = parts[2], parts[3]
            if method == "GET" and what == "events":
                await self._stream(sid, reader, writer)
                return False
            if method == "POST" and what == "messages":
                writer.write(self._send(sid))
                return True
        if method == "GET" and parts == ["stats"]:
            writer.write(json_response(self.stats()))
            return True
        if method == "GET":
            writer.write(response("200 OK", "text/plain", b"mixed fault server"))
            return True
        writer.write(json_response({"detail": "not found"}, "404 Not Found"))
        return True

    # -- the three phases --------------------------------------------------------------------

    async def _create(self, body: bytes) -> bytes:
        mode = _mode_in_body(body) or self._next_mode()
        self.sessions[mode] += 1
        did = self.did[mode]
        if mode == "create_reset":
            did["resets"] += 1
            raise Reset
        if mode == "storm_5xx":
            status = STORM_STATUSES[next(self._storm) % len(STORM_STATUSES)]
            did[status[:3]] += 1
            return response(status, "text/plain", b"upstream trouble")
        if mode == "create_429":
            did["429"] += 1
            return json_response({"error": "slow down"}, "429 Too Many Requests",
                                 "retry-after: 2\r\n")
        if mode == "bad_json":
            did["bad_json"] += 1
            return response("200 OK", "application/json", b'{"session_id": ')
        if mode == "no_id":
            did["no_id"] += 1
            return json_response({"id_is_elsewhere": 1})
        if mode == "redirect":
            did["302"] += 1
            return response("302 Found", "text/plain", b"", "location: /api/v2/sessions\r\n")
        sid = f"{mode}.{next(self._ids)}"  # the id carries the mode: no per-session table
        self._message[sid] = asyncio.Event()
        return json_response({"session_id": sid})

    def _send(self, sid: str) -> bytes:
        # Accepted even after the session's stream ended: a 404 here would race the stream's
        # end (stream_closed) and make the outcome depend on timing.
        mode = _mode_of(sid)
        if mode is None:
            return json_response({"detail": "unknown session"}, "404 Not Found")
        if mode == "send_429":
            self.did[mode]["429"] += 1
            return json_response({"error": "rate"}, "429 Too Many Requests", "retry-after: 1\r\n")
        event = self._message.get(sid)
        if event is not None:
            event.set()
        return json_response({"accepted": True}, "202 Accepted")

    async def _stream(self, sid: str, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        mode = _mode_of(sid)
        if mode is None:
            writer.write(json_response({"detail": "no such session"}, "404 Not Found"))
            return
        did = self.did[mode]
        try:
            if mode == "stream_reset":
                did["resets"] += 1
                raise Reset
            if mode == "wrong_ctype":
                did["json_stream"] += 1
                writer.write(json_response({"not": "a stream"}))
                return
            if mode == "slow_headers":
                await asyncio.sleep(self.slow_s)
            writer.write(STREAM_HEAD)
            if mode == "never_sends":
                did["silent"] += 1
                await _until_closed(reader)
                return
            if mode == "mixed_eol":
                writer.write(chunk(b"event: ready\r\ndata: {}\r\n\r\n"))
            else:
                writer.write(chunk(b": keep-alive\n\n") + chunk(READY))
            await writer.drain()
            if mode == "stream_close":
                did["closed"] += 1
                writer.write(b"0\r\n\r\n")
                return
            if not await self._wait_message(sid, reader):
                return
            await self._reply(mode, reader, writer)
        finally:
            self._message.pop(sid, None)

    async def _wait_message(self, sid: str, reader: asyncio.StreamReader) -> bool:
        """True when the session's message arrived; False if the client left first."""
        event = self._message.get(sid) or asyncio.Event()
        got = asyncio.ensure_future(event.wait())
        gone = asyncio.ensure_future(_until_closed(reader))
        try:
            done, _ = await asyncio.wait({got, gone}, timeout=SERVER_WAIT_S,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            got.cancel()
            gone.cancel()
            # Let the cancelled read finish: the reply below reads the same stream.
            await asyncio.gather(got, gone, return_exceptions=True)
        return got in done

    async def _reply(self, mode: str, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        did = self.did[mode]
        if mode == "reset_mid_stream":
            writer.write(chunk(sse("token", '{"t": "Hel"}')))
            await writer.drain()
            await asyncio.sleep(0.02)
            did["resets"] += 1
            raise Reset
        if mode == "no_blank_lines":
            did["unterminated"] += 1
            writer.write(chunk(b'event: token\ndata: {"t": "a"}\nevent: reply\ndata: {}\n'))
            writer.write(b"0\r\n\r\n")
            return
        if mode == "huge_event":
            did["huge"] += 1
            writer.write(chunk(b"event: token\ndata: "))
            piece = b"x" * (64 * 1024)
            for _ in range(HUGE_BYTES // len(piece) + 1):
                writer.write(chunk(piece))
                await writer.drain()
            writer.write(chunk(b"\n\n" + REPLY))
        elif mode == "bad_utf8":
            did["bad_utf8"] += 1
            writer.write(chunk(b"event: reply\ndata: \xff\xfe broken\n\n"))
        elif mode == "mixed_eol":
            did["replies"] += 1
            # CRLF, lone CR, LF, and a CR / LF pair split across chunks.
            for piece in (b'event: token\rdata: {"t": "Hel"}\r\r',
                          b'event: token\ndata: {"t": "lo"}\r\n\n', b"event: reply\r",
                          b'\ndata: {"text": "Hello"}\r', b"\n\r\n"):
                writer.write(chunk(piece))
                await writer.drain()
        elif mode == "no_colon":
            did["replies"] += 1
            writer.write(chunk(b'event: token\ndata: {"t": "a"}\nnonsense\n\n'
                               b"event: reply\ndata\n\n"))
        else:
            did["replies"] += 1
            writer.write(chunk(REPLY))
        await writer.drain()
        await _until_closed(reader)  # a real server keeps the stream open; the client closes


# -- helpers ---------------------------------------------------------------------------------

async def _until_closed(reader: asyncio.StreamReader) -> None:
    """Wait for the client to close its side (bounded)."""
    try:
        async with asyncio.timeout(SERVER_WAIT_S):
            while await reader.read(65536):
                pass
    except (TimeoutError, ConnectionError):
        pass


def _mode_of(sid: str) -> str | None:
    mode = sid.rpartition(".")[0]
    return mode if mode in MODES else None


def _mode_in_body(body: bytes) -> str | None:
    if not body:
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    mode = doc.get("mode") if isinstance(doc, dict) else None
    return mode if mode in MODES else None


def _reset(writer: asyncio.StreamWriter) -> None:
    """SO_LINGER 0, then abort: the kernel sends RST instead of a clean FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def main() -> None:  # pragma: no cover - manual use
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--mix", default=",".join(f"{m}=1" for m in MODES))
    p.add_argument("--slow-s", type=float, default=1.5)
    args = p.parse_args()
    server = MixedFaultServer(parse_mix(args.mix), slow_s=args.slow_s)

    async def serve() -> None:
        srv = await asyncio.start_server(server.handle, "127.0.0.1", args.port)
        print(f"mixed fault server on http://127.0.0.1:{srv.sockets[0].getsockname()[1]}",
              flush=True)
        async with srv:
            await srv.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":  # pragma: no cover
    main()
