"""A fault-injecting web-chat server: one behaviour per URL prefix, the demo API below it.

Point the engine at `{url}/{behaviour}` with the default (demo) profile: httpx joins the base
path, so the engine calls `/{behaviour}/api/sessions`, `/{behaviour}/api/sessions/{id}/events`
and `/{behaviour}/api/sessions/{id}/messages`. Behaviours (BEHAVIOURS below) each break one
thing; "ok" breaks nothing. `stats[behaviour]` counts requests per phase for assertions.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter, defaultdict

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

STALL_START_S, STALL_LEN_S = 0.5, 1.5  # "stall": every handler waits through this window

BEHAVIOURS = (
    "ok", "crlf", "create500", "create429", "send500", "send429", "bad_json", "no_id",
    "stream404", "wrong_ctype", "stream_close", "silent", "error_rate", "error_db", "bad_utf8",
    "huge", "stall",
)


class FaultState:
    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.stats: defaultdict[str, Counter] = defaultdict(Counter)
        self.first_seen: dict[str, float] = {}
        # Per session: set when its message arrived, so the reply follows the send.
        self.messages: dict[str, asyncio.Event] = {}

    async def stall(self, behaviour: str) -> None:
        if behaviour != "stall":
            return
        t0 = self.first_seen.setdefault(behaviour, time.monotonic())
        since = time.monotonic() - t0
        if STALL_START_S <= since < STALL_START_S + STALL_LEN_S:
            await asyncio.sleep(STALL_START_S + STALL_LEN_S - since)


def sse(name: str, data: str, eol: str = "\n") -> bytes:
    return f"event: {name}{eol}data: {data}{eol}{eol}".encode()


def build_app(state: FaultState) -> Starlette:
    async def create(request: Request) -> Response:
        b = request.path_params["b"]
        state.stats[b]["create"] += 1
        await state.stall(b)
        if b == "create500":
            return PlainTextResponse("boom", status_code=500)
        if b == "create429":
            return JSONResponse({"error": "slow down"}, status_code=429, headers={"Retry-After": "3"})
        if b == "bad_json":
            return Response(b'{"session_id": ', media_type="application/json")
        if b == "no_id":
            return JSONResponse({"id_is_elsewhere": 1})
        sid = f"{b}-{next(state.ids)}"
        state.messages[sid] = asyncio.Event()
        return JSONResponse({"session_id": sid})

    async def events(request: Request) -> Response:
        b, sid = request.path_params["b"], request.path_params["sid"]
        state.stats[b]["stream"] += 1
        await state.stall(b)
        if b == "stream404":
            return JSONResponse({"detail": "no such session"}, status_code=404)
        if b == "wrong_ctype":
            return JSONResponse({"not": "a stream"})
        got_message = state.messages.get(sid) or asyncio.Event()
        eol = "\r\n" if b == "crlf" else "\n"

        async def gen():
            yield b": keep-alive comment\n\n"
            yield sse("ready", "{}", eol)
            if b == "stream_close":
                return
            await got_message.wait()
            if b == "silent":
                await asyncio.sleep(3600)
            if b == "error_rate":
                yield sse("error", json.dumps({"code": "rate_limit_exceeded"}))
                return
            if b == "error_db":
                yield sse("error", json.dumps({"code": "db_pool_timeout"}))
                return
            if b == "bad_utf8":
                yield b"event: reply\ndata: \xff\xfe broken\n\n"
                return
            if b == "huge":
                yield b"event: token\ndata: " + b"x" * (1 << 20) + b"x\n\n"
                return
            yield sse("token", '{"t": "Hel"}', eol)
            yield sse("token", '{"t": "lo"}', eol)
            yield sse("reply", '{"text": "Hello"}', eol)
            await asyncio.sleep(3600)  # a real server keeps the stream open; the client closes

        return StreamingResponse(gen(), media_type="text/event-stream")

    async def message(request: Request) -> Response:
        b, sid = request.path_params["b"], request.path_params["sid"]
        state.stats[b]["send"] += 1
        await state.stall(b)
        if b == "send500":
            return PlainTextResponse("boom", status_code=500)
        if b == "send429":
            return JSONResponse({"error": "rate"}, status_code=429, headers={"Retry-After": "1"})
        ev = state.messages.pop(sid, None)
        if ev is None:
            return JSONResponse({"detail": "unknown session"}, status_code=404)
        ev.set()
        return JSONResponse({"accepted": True}, status_code=202)

    async def root(request: Request) -> Response:
        return PlainTextResponse("fault server")

    return Starlette(routes=[
        Route("/{b}/api/sessions", create, methods=["POST"]),
        Route("/{b}/api/sessions/{sid}/events", events, methods=["GET"]),
        Route("/{b}/api/sessions/{sid}/messages", message, methods=["POST"]),
        Route("/{b}/", root), Route("/", root),
    ])
