"""build_app(settings): the demo server's Starlette application."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from webchat_tui.demo import chat_api, openai_api
from webchat_tui.demo.backend import ChatBackend
from webchat_tui.demo.settings import DemoSettings


async def _http_error(request: Request, exc: Exception) -> Response:
    # Unknown paths and wrong methods answer JSON like every other error of this API.
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def build_app(settings: DemoSettings, backend: ChatBackend | None = None) -> Starlette:
    backend = backend or ChatBackend(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(backend.sweep_forever())
        try:
            yield
        finally:
            sweeper.cancel()
            await backend.aclose()

    app = Starlette(routes=[*chat_api.routes, *openai_api.routes],
                    exception_handlers={HTTPException: _http_error}, lifespan=lifespan)
    app.state.backend = backend
    return app
