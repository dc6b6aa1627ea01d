"""Pure pieces of the engine: placeholders, JSON pointers, the SSE reader, error mapping."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes import FakeResponse
from webchat_tui.config import ConfigError
from webchat_tui.engine.clients import classify_transport_error, shard_count
from webchat_tui.engine.flows.base import error_event_end
from webchat_tui.engine.outcomes import Outcome
from webchat_tui.engine.sse import Event, SSEProtocolError, iter_events
from webchat_tui.engine.templating import (
    PointerError, compile_body, compile_path, compile_pointer, expand_headers,
)


def test_path_values_are_url_quoted():
    render = compile_path("/s/{session_id}/m/{n}?q={prompt}")
    assert render("a/b c", "hi there?", 7) == "/s/a%2Fb%20c/m/7?q=hi%20there%3F"
    assert compile_path("/plain")("x", "y", 1) == "/plain"


def test_body_placeholders_recurse_and_keep_other_braces():
    render = compile_body({"text": "{prompt}", "meta": {"n": "{n}", "tags": ["{session_id}", 3]},
                           "raw": "{not_a_placeholder}", "k": 1})
    assert render("s1", "Hello", 5) == {"text": "Hello", "meta": {"n": "5", "tags": ["s1", 3]},
                                         "raw": "{not_a_placeholder}", "k": 1}
    # A prompt containing a placeholder-looking text is inserted as it is, not expanded again.
    assert render("s1", "{session_id}", 5)["text"] == "{session_id}"


def test_body_without_placeholders_is_shared_not_copied():
    template = {"a": [1, 2]}
    assert compile_body(template)("s", "p", 1) is template


def test_pointer():
    get = compile_pointer("/data/0/a~1b")
    assert get({"data": [{"a/b": "id-1"}]}) == "id-1"
    with pytest.raises(PointerError):
        get({"data": []})
    with pytest.raises(ConfigError):
        compile_pointer("session_id")


def test_headers_expand_from_environment(monkeypatch):
    monkeypatch.setenv("WEBCHAT_TEST_TOKEN", "s3cret")
    assert expand_headers((("Authorization", "Bearer ${WEBCHAT_TEST_TOKEN}"),)) == {
        "Authorization": "Bearer s3cret"}
    monkeypatch.delenv("WEBCHAT_TEST_TOKEN")
    with pytest.raises(ConfigError, match="WEBCHAT_TEST_TOKEN"):
        expand_headers((("Authorization", "Bearer ${WEBCHAT_TEST_TOKEN}"),))


async def events_of(chunks: list[bytes], **kw) -> list[Event]:
    return [ev async for ev in iter_events(FakeResponse(chunks), **kw)]


STREAM = (b": comment\n\nevent: ready\ndata: {}\n\n"
          b"event: token\r\ndata: {\"t\": 1}\r\n\r\n"
          b"data: line1\rdata: line2\r\r"
          b"\n\n\n"                                  # phantom empty events: dropped
          b"id: 4\nretry: 10\nevent: reply\ndata:no-space\n\n"
          b"event: tail\ndata: incomplete")          # no closing blank line: discarded
EXPECTED = [Event("ready", "{}"), Event("token", '{"t": 1}'), Event("message", "line1\nline2"),
            Event("reply", "no-space")]


async def test_sse_reader_handles_line_endings_comments_and_phantoms():
    assert await events_of([STREAM]) == EXPECTED


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=12))
async def test_sse_reader_is_independent_of_chunking(cuts):
    points = sorted(set(cuts))
    chunks = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)])]
    assert await events_of(chunks) == EXPECTED


async def test_sse_reader_rejects_invalid_utf8_and_huge_events():
    with pytest.raises(SSEProtocolError, match="UTF-8"):
        await events_of([b"event: reply\ndata: \xff\n\n"])
    with pytest.raises(SSEProtocolError, match="over"):
        await events_of([b"data: " + b"x" * 100 + b"\n\n"], max_event_bytes=50)
    with pytest.raises(SSEProtocolError, match="over"):
        await events_of([b"data: " + b"x" * 30] * 5, max_event_bytes=50)  # a line never ending


def test_error_events():
    assert error_event_end('{"code": "rate_limited"}').outcome is Outcome.RATE_LIMITED
    assert error_event_end('{"error": {"type": "rate_limit_error"}}').outcome is Outcome.RATE_LIMITED
    end = error_event_end('{"code": "db_pool_timeout"}')
    assert end.outcome is Outcome.HTTP_ERROR and "db_pool_timeout" in end.detail
    assert error_event_end("oops").outcome is Outcome.PROTOCOL_ERROR


@pytest.mark.parametrize(("exc", "got_response", "outcome"), [
    (httpx.PoolTimeout("p"), False, Outcome.POOL_TIMEOUT),
    (httpx.ConnectError("c"), False, Outcome.CONNECT_ERROR),
    (httpx.ConnectTimeout("c"), False, Outcome.CONNECT_ERROR),
    (httpx.ReadTimeout("r"), True, Outcome.TIMEOUT),
    (httpx.RemoteProtocolError("r"), False, Outcome.CONNECT_ERROR),
    (httpx.RemoteProtocolError("r"), True, Outcome.STREAM_CLOSED),
    (httpx.ReadError("r"), True, Outcome.STREAM_CLOSED),
    (httpx.DecodingError("d"), True, Outcome.PROTOCOL_ERROR),
])
def test_transport_errors(exc, got_response, outcome):
    assert classify_transport_error(exc, got_response) is outcome


def test_shard_count_scales_with_the_cap():
    assert shard_count(1) == 1
    assert shard_count(1000) == 8
    assert shard_count(10_000) == 32
