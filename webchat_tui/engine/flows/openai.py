"""OpenAI-compatible streaming chat completions: one POST, the reply streamed as SSE chunks.

POST {base}/v1/chat/completions with {"model", "messages": [{"role": "user", "content": prompt}],
"stream": true, "stream_options": {"include_usage": true}}; headers come from the profile (e.g.
Authorization: Bearer ${OPENAI_API_KEY}), set on the clients.

Phases: send (request start -> response headers), first_reply (TTFT: request start -> first
content delta), reply (request start -> `[DONE]`), total (intended start -> `[DONE]`, by the
recorder); `itl` = gaps between consecutive content chunks. Output size: `usage.completion_tokens`
when the server sends usage ("tokens"), else the number of content chunks ("chunks"), over the
generation time first content -> [DONE].

Outcomes: as the webchat flow (flows/webchat.py) where they apply: 429 -> rate_limited; other
non-2xx -> http_error "send <status>"; a chunk that is not JSON -> protocol_error; an `error`
object in a chunk -> rate_limited if its code/type contains "rate", else http_error; the stream
ending without [DONE] -> stream_closed; nothing by threshold + grace -> timeout.
"""

from __future__ import annotations

import json

from webchat_tui.config import RunConfig
from webchat_tui.engine.flows.base import (
    SSE_HEADERS, FlowContext, Session, SessionEnd, error_event_end, now_ns, status_end,
)
from webchat_tui.engine.outcomes import Outcome
from webchat_tui.engine.sse import is_event_stream, iter_events

PATH = "/v1/chat/completions"


class OpenAIFlow:
    def __init__(self, config: RunConfig) -> None:
        self.model = config.model

    def _body(self, prompt: str) -> dict:
        return {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                "stream": True, "stream_options": {"include_usage": True}}

    async def body(self, ctx: FlowContext, sess: Session) -> int:
        rec = ctx.rec
        sess.phase = "send"
        sess.send_start_ns = t0 = now_ns()
        async with ctx.clients.stream.get().stream(
                "POST", PATH, json=self._body(sess.prompt), headers=SSE_HEADERS) as resp:
            if (end := status_end(resp, "send")) is not None:
                raise end
            if not is_event_stream(resp):
                ctype = resp.headers.get("content-type", "none")[:60]
                raise SessionEnd(Outcome.PROTOCOL_ERROR, f"send: content type {ctype}")
            rec.phase("send", now_ns() - t0)
            sess.phase = "reply"
            first: int | None = None
            last = 0
            chunks = 0
            tokens: int | None = None
            async for ev in iter_events(resp, strict_end=True):
                data = ev.data
                if data == "[DONE]":
                    t = now_ns()
                    rec.phase("reply", t - t0)
                    if first is not None:
                        count, unit = (tokens, "tokens") if tokens is not None else (chunks, "chunks")
                        rec.output_tokens(count, (t - first) / 1e9, unit)
                    return t
                try:
                    chunk = json.loads(data)
                except ValueError:
                    raise SessionEnd(Outcome.PROTOCOL_ERROR, "reply: chunk is not JSON") from None
                if not isinstance(chunk, dict):
                    raise SessionEnd(Outcome.PROTOCOL_ERROR, "reply: chunk is not a JSON object")
                if "error" in chunk:
                    raise error_event_end(data)
                usage = chunk.get("usage")
                if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
                    tokens = usage["completion_tokens"]
                choices = chunk.get("choices")
                for choice in choices if isinstance(choices, list) else ():
                    delta = choice.get("delta") if isinstance(choice, dict) else None
                    if isinstance(delta, dict) and delta.get("content"):
                        t = now_ns()
                        sess.saw_event = True
                        if first is None:
                            first = t
                            rec.phase("first_reply", t - t0)
                        else:
                            rec.phase("itl", t - last)
                        last = t
                        chunks += 1
                        break  # one content chunk per SSE event, whatever the choice count
            raise SessionEnd(Outcome.STREAM_CLOSED, "stream ended before [DONE]")

    def on_deadline(self, sess: Session) -> SessionEnd:
        return SessionEnd(Outcome.TIMEOUT, f"no [DONE] by the deadline ({sess.phase})")
