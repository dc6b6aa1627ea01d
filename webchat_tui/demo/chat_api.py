"""HTTP routes of the web-chat API: sessions, their SSE stream, messages, stats."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from webchat_tui.demo.backend import ChatBackend
from webchat_tui.demo.bodies import BodyError, read_json
from webchat_tui.demo.sse import EVENT_STREAM_HEADERS


def _backend(request: Request) -> ChatBackend:
    return request.app.state.backend


def error_response(status: int, code: str, message: str | None = None) -> JSONResponse:
    body: dict[str, str] = {"error": code}
    if message:
        body["message"] = message
    return JSONResponse(body, status_code=status)


def _session_not_found() -> JSONResponse:
    return error_response(404, "session_not_found")


def _db_pool_timeout() -> JSONResponse:
    return error_response(503, "db_pool_timeout")


async def create_session(request: Request) -> Response:
    session_id = await _backend(request).create_session()
    if session_id is None:
        return _db_pool_timeout()
    return JSONResponse({"session_id": session_id}, status_code=201)


async def session_events(request: Request) -> Response:
    backend = _backend(request)
    session = backend.session(request.path_params["session_id"])
    if session is None:
        return _session_not_found()
    return StreamingResponse(backend.events(session), media_type="text/event-stream",
                             headers=EVENT_STREAM_HEADERS)


def _validate_message(body: object) -> None:
    """ValueError saying what is wrong with a message body. (The demo's replies are canned.)"""
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    text = body.get("text")
    if not isinstance(text, str):
        raise ValueError('"text" must be a string')
    if not text.strip():
        raise ValueError('"text" must not be empty')


async def post_message(request: Request) -> Response:
    backend = _backend(request)
    session = backend.session(request.path_params["session_id"])
    if session is None:
        return _session_not_found()
    try:
        _validate_message(await read_json(request, backend.settings.max_body_bytes))
    except BodyError as exc:
        backend.stats.bad_requests += 1
        status = 413 if exc.status == 413 else 422
        return error_response(status, "body_too_large" if status == 413 else "invalid_body",
                              exc.message)
    except ValueError as exc:
        backend.stats.bad_requests += 1
        return error_response(422, "invalid_body", str(exc))
    if not await backend.accept_message(session):
        return _db_pool_timeout()
    return JSONResponse({"accepted": True}, status_code=202)


async def stats(request: Request) -> Response:
    return JSONResponse(_backend(request).stats_dict())


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


routes = [
    Route("/api/sessions", create_session, methods=["POST"]),
    Route("/api/sessions/{session_id}/events", session_events, methods=["GET"]),
    Route("/api/sessions/{session_id}/messages", post_message, methods=["POST"]),
    Route("/api/stats", stats, methods=["GET"]),
    Route("/healthz", health, methods=["GET"]),
]
