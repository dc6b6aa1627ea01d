"""A web-chat API that is not the demo server's: other paths, JSON shapes, event names, a query
string for the stream and an API key. webchat-tui can only drive it through a profile."""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

REPLY_DELAY_S = 0.05


@dataclass
class ForeignState:
    api_key: str
    streams: dict[str, asyncio.Queue] = field(default_factory=dict)
    turns: int = 0
    rejected: int = 0


PROFILE = """
name = "foreign-chat"
[headers]
X-Api-Key = "${FOREIGN_KEY}"
[create]
path = "/v2/conversations"
json = { channel = "load-test", user = "u-{n}" }
session_id = "/data/conversation/id"
[stream]
path = "/v2/stream?cid={session_id}"
ready_events = ["hello"]
token_events = ["chunk"]
reply_events = ["done"]
error_events = ["problem"]
[send]
path = "/v2/conversations/{session_id}/turns"
json = { input = { content = "{prompt}" }, seq = "{n}" }
[prompts]
items = ["Where is my order?", "Can I pay by invoice?"]
"""


def build_foreign_app(state: ForeignState) -> Starlette:
    def authorized(request: Request) -> bool:
        ok = request.headers.get("x-api-key") == state.api_key
        state.rejected += not ok
        return ok

    async def create(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "bad key"}, status_code=401)
        body = await request.json()
        if body.get("channel") != "load-test" or not str(body.get("user", "")).startswith("u-"):
            return JSONResponse({"error": "bad body"}, status_code=400)
        cid = secrets.token_hex(8)
        state.streams[cid] = asyncio.Queue()
        return JSONResponse({"data": {"conversation": {"id": cid}}}, status_code=201)

    async def stream(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "bad key"}, status_code=401)
        queue = state.streams.get(request.query_params.get("cid", ""))
        if queue is None:
            return JSONResponse({"error": "unknown"}, status_code=404)

        async def events():
            yield b"event: hello\ndata: {}\n\n"
            while (frame := await queue.get()) is not None:
                yield frame

        return StreamingResponse(events(), media_type="text/event-stream")

    async def turn(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "bad key"}, status_code=401)
        cid = request.path_params["cid"]
        queue = state.streams.get(cid)
        body = await request.json()
        content = body.get("input", {}).get("content")
        if queue is None or not content or not str(body.get("seq", "")).isdigit():
            return JSONResponse({"error": "bad turn"}, status_code=400)
        state.turns += 1

        async def answer():
            await asyncio.sleep(REPLY_DELAY_S)
            for word in ("We", " can", " help."):
                queue.put_nowait(f"event: chunk\ndata: {json.dumps({'t': word})}\n\n".encode())
            queue.put_nowait(b"event: done\ndata: {\"ok\": true}\n\n")
            queue.put_nowait(None)
            state.streams.pop(cid, None)

        asyncio.get_running_loop().create_task(answer())
        return JSONResponse({"accepted": True}, status_code=200)

    return Starlette(routes=[
        Route("/v2/conversations", create, methods=["POST"]),
        Route("/v2/stream", stream, methods=["GET"]),
        Route("/v2/conversations/{cid}/turns", turn, methods=["POST"]),
    ])
