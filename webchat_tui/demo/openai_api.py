"""OpenAI-compatible `POST /v1/chat/completions`, on the same mock provider budget and latency."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from webchat_tui.demo.backend import ChatBackend
from webchat_tui.demo.bodies import BodyError, read_json
from webchat_tui.demo.provider import deltas, token_offsets
from webchat_tui.demo.sse import DONE, EVENT_STREAM_HEADERS, data_frame


@dataclass(frozen=True)
class CompletionRequest:
    model: str
    prompt_tokens: int      # words in the messages: a stand-in for a tokenizer
    stream: bool
    include_usage: bool
    max_tokens: int | None


def _content_words(content: object) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return len(content.split())
    if isinstance(content, list):  # content parts: [{"type": "text", "text": "..."}, ...]
        words = 0
        for part in content:
            if not isinstance(part, dict):
                raise ValueError("'messages[].content' parts must be objects")
            text = part.get("text")
            if isinstance(text, str):
                words += len(text.split())
        return words
    raise ValueError("'messages[].content' must be a string, a list of parts or null")


def _optional_bool(body: dict, key: str) -> bool:
    value = body.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError(f"'{key}' must be a boolean")
    return value


def parse_completion_request(body: object) -> CompletionRequest:
    """Validate a chat.completions body; ValueError names the offending field."""
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ValueError("'model' must be a non-empty string")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty array")
    prompt_tokens = 0
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ValueError("each of 'messages' must be an object with a string 'role'")
        prompt_tokens += _content_words(message.get("content"))
    stream = _optional_bool(body, "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise ValueError("'stream_options' must be an object")
    include_usage = _optional_bool(options or {}, "include_usage")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)
                                   or max_tokens < 1):
        raise ValueError("'max_tokens' must be a positive integer")
    return CompletionRequest(model, prompt_tokens, stream, include_usage, max_tokens)


def openai_error(status: int, message: str, kind: str, code: str | None = None,
                 headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}},
                        status_code=status, headers=headers)


class _Completion:
    """One generated completion, rendered either as chunks or as one JSON object."""

    def __init__(self, backend: ChatBackend, request: CompletionRequest) -> None:
        count = backend.settings.tokens_per_reply
        if request.max_tokens is not None:
            count = min(count, request.max_tokens)
        self.request = request
        self.words = deltas(backend.provider.words(count))
        self.latency_s = 0.0 if backend.settings.mock_ai else backend.provider.latency_s()
        self.id = "chatcmpl-" + backend.new_id(12)
        self.created = int(time.time())
        self.usage = {"prompt_tokens": request.prompt_tokens, "completion_tokens": count,
                      "total_tokens": request.prompt_tokens + count}

    def _chunk(self, delta: dict, finish_reason: str | None = None) -> bytes:
        chunk: dict[str, object] = {
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.request.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None,
                         "finish_reason": finish_reason}],
        }
        if self.request.include_usage:
            chunk["usage"] = None  # as OpenAI does: only the final usage chunk carries a value
        return data_frame(chunk)

    def _tail(self) -> list[bytes]:
        frames = [self._chunk({}, "stop")]
        if self.request.include_usage:
            frames.append(data_frame({
                "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.request.model, "choices": [], "usage": self.usage}))
        frames.append(DONE)
        return frames

    async def chunks(self) -> AsyncIterator[bytes]:
        role = self._chunk({"role": "assistant", "content": ""})
        contents = [self._chunk({"content": word}) for word in self.words]
        if not self.latency_s:
            yield b"".join([role, *contents, *self._tail()])
            return
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i, (offset, frame) in enumerate(zip(token_offsets(self.latency_s, len(contents)),
                                                contents)):
            delay = start + offset - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            yield role + frame if i == 0 else frame  # the role arrives with the first token
        yield b"".join(self._tail())

    async def as_json(self) -> dict:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        return {
            "id": self.id, "object": "chat.completion", "created": self.created,
            "model": self.request.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(self.words)},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": self.usage,
        }


async def chat_completions(request: Request) -> Response:
    backend: ChatBackend = request.app.state.backend
    try:
        parsed = parse_completion_request(await read_json(request, backend.settings.max_body_bytes))
    except BodyError as exc:
        backend.stats.bad_requests += 1
        return openai_error(exc.status, exc.message, "invalid_request_error")
    except ValueError as exc:
        backend.stats.bad_requests += 1
        return openai_error(400, str(exc), "invalid_request_error")
    if not backend.settings.mock_ai and not backend.provider.allow():
        backend.stats.rate_limited += 1
        backend.stats.provider_rate_limited += 1
        retry_after = max(1, math.ceil(backend.provider.bucket.seconds_until_token()))
        return openai_error(429, "Rate limit reached for requests", "rate_limit_error",
                            "rate_limit_exceeded", headers={"Retry-After": str(retry_after)})
    backend.stats.completions += 1
    completion = _Completion(backend, parsed)
    if parsed.stream:
        return StreamingResponse(completion.chunks(), media_type="text/event-stream",
                                 headers=EVENT_STREAM_HEADERS)
    return JSONResponse(await completion.as_json())


routes = [Route("/v1/chat/completions", chat_completions, methods=["POST"])]
