"""The demo server, started for real as a subprocess, and its parts in-process."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from httpx_sse import EventSource, aconnect_sse
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from webchat_tui.demo import DemoServer
from webchat_tui.demo.openai_api import parse_completion_request
from webchat_tui.demo.provider import FIRST_TOKEN_SHARE, TokenBucket, token_offsets
from webchat_tui.demo.server import main as server_main
from webchat_tui.demo.settings import DemoSettings
from webchat_tui.demo.state import SessionStore

TIMEOUT = httpx.Timeout(10.0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---- in-process units ----------------------------------------------------------------------

def test_token_bucket_refills_at_its_rate_up_to_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=2.0, capacity=3, clock=clock)
    assert [bucket.try_take() for _ in range(4)] == [True, True, True, False]
    assert bucket.seconds_until_token() == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.try_take() and not bucket.try_take()
    clock.now += 100  # a long idle time refills only up to the capacity
    assert sum(bucket.try_take() for _ in range(10)) == 3


def test_default_bucket_holds_ten_seconds_of_budget() -> None:
    assert DemoSettings().bucket_capacity == pytest.approx(400 / 6)
    assert DemoSettings(provider_rpm=1).bucket_capacity == 1.0
    assert DemoSettings(provider_burst=5).bucket_capacity == 5


@pytest.mark.parametrize("field, value, flag", [
    ("provider_rpm", 0, "--provider-rpm"), ("provider_rpm", float("nan"), "--provider-rpm"),
    ("db_pool", 0, "--db-pool"), ("db_timeout_s", 0, "--db-timeout-s"),
    ("tokens_per_reply", 0, "--tokens-per-reply"), ("ai_latency_ms", -1, "--ai-latency-ms"),
    ("port", 70000, "--port"), ("heartbeat_s", 0, "--heartbeat-s"),
    ("provider_burst", 0.5, "--provider-burst"),
])
def test_settings_reject_out_of_range_values(field: str, value: float, flag: str) -> None:
    with pytest.raises(ValueError, match=flag):
        DemoSettings(**{field: value})


def test_token_offsets_start_after_ttft_share_and_end_at_latency() -> None:
    offsets = token_offsets(2.0, 5)
    assert offsets[0] == pytest.approx(2.0 * FIRST_TOKEN_SHARE)
    assert offsets[-1] == pytest.approx(2.0)
    assert offsets == sorted(offsets) and len(offsets) == 5
    assert token_offsets(1.5, 1) == [1.5]


def test_session_store_evicts_idle_sessions_but_not_busy_or_recent_ones() -> None:
    clock = FakeClock()
    store = SessionStore(ttl_s=10, clock=clock)
    idle, busy, recent = store.add("idle"), store.add("busy"), store.add("recent")
    busy.busy = 1
    clock.now += 8
    store.touch(recent)
    clock.now += 3
    assert store.evict_idle() == 1
    assert store.get("idle") is None and store.get("busy") is busy and store.get("recent") is recent
    busy.busy = 0
    clock.now += 11
    assert store.evict_idle() == 2 and len(store) == 0


@pytest.mark.parametrize("body, field", [
    ([], "body"), ({"messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "m", "messages": []}, "messages"), ({"model": "m", "messages": ["x"]}, "role"),
    ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "content"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}, "stream"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream_options": []},
     "stream_options"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": True},
     "max_tokens"),
])
def test_completion_request_validation_names_the_field(body: object, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        parse_completion_request(body)


# ---- helpers against a running server ------------------------------------------------------

@asynccontextmanager
async def client(url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT) as c:
        yield c


async def new_session(c: httpx.AsyncClient) -> str:
    response = await c.post("/api/sessions")
    assert response.status_code == 201, response.text
    return response.json()["session_id"]


@asynccontextmanager
async def open_stream(c: httpx.AsyncClient, session_id: str,
                      wait_ready: bool = True) -> AsyncIterator[AsyncIterator]:
    async with aconnect_sse(c, "GET", f"/api/sessions/{session_id}/events") as source:
        assert source.response.status_code == 200
        assert source.response.headers["content-type"].startswith("text/event-stream")
        events = source.aiter_sse()
        if wait_ready:
            ready = await anext(events)
            assert ready.event == "ready" and ready.json() == {"session_id": session_id}
        yield events


async def until_final(events: AsyncIterator, timeout_s: float = 10.0) -> list:
    """Events up to and including the first `reply` or `error`."""
    seen = []
    async with asyncio.timeout(timeout_s):
        async for event in events:
            seen.append(event)
            if event.event in ("reply", "error"):
                return seen
    raise AssertionError(f"stream ended without reply or error: {seen}")


async def stats(c: httpx.AsyncClient) -> dict:
    response = await c.get("/api/stats")
    assert response.status_code == 200
    return response.json()


async def eventually(c: httpx.AsyncClient, key: str, expected: int, timeout_s: float = 10) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        current = await stats(c)
        if current[key] == expected or time.monotonic() > deadline:
            assert current[key] == expected, current
            return current
        await asyncio.sleep(0.05)


# ---- the web-chat flow ---------------------------------------------------------------------

async def test_full_session_streams_tokens_then_reply_and_releases_the_stream(demo_server) -> None:
    async with client(demo_server.url) as c:
        session_id = await new_session(c)
        assert re.fullmatch(r"[0-9a-f]{32}", session_id)
        async with open_stream(c, session_id) as events:
            assert (await stats(c))["open_streams"] == 1
            response = await c.post(f"/api/sessions/{session_id}/messages", json={"text": "Hi"})
            assert response.status_code == 202 and response.json() == {"accepted": True}
            seen = await until_final(events)
        tokens = [e.json()["delta"] for e in seen if e.event == "token"]
        reply = seen[-1]
        assert reply.event == "reply" and len(tokens) == 5
        assert reply.json() == {"text": "".join(tokens), "tokens": 5}
        after = await eventually(c, "open_streams", 0)  # the disconnect unregistered the stream
        assert after["registered_streams"] == 0
        assert (after["sessions"], after["messages"], after["replies"]) == (1, 1, 1)
        assert after["sse_not_found"] == after["rate_limited"] == after["db_pool_timeouts"] == 0


async def test_unknown_session_and_route_get_404_json(fast_demo_server) -> None:
    async with client(fast_demo_server.url) as c:
        events = await c.get("/api/sessions/nope/events")
        message = await c.post("/api/sessions/nope/messages", json={"text": "x"})
        route = await c.get("/no/such/path")
    for response in (events, message):
        assert response.status_code == 404 and response.json() == {"error": "session_not_found"}
    assert route.status_code == 404 and "error" in route.json()


async def test_idle_stream_gets_heartbeat_comments(make_demo_server) -> None:
    demo = make_demo_server(heartbeat_s=0.1)
    async with client(demo.url) as c:
        session_id = await new_session(c)
        pings = 0
        async with c.stream("GET", f"/api/sessions/{session_id}/events") as response:
            async with asyncio.timeout(10):
                async for line in response.aiter_lines():
                    pings += line == ": ping"
                    if pings == 2:
                        break
    assert pings == 2


async def test_mock_ai_replies_at_once(fast_demo_server) -> None:
    async with client(fast_demo_server.url) as c:
        session_id = await new_session(c)
        async with open_stream(c, session_id) as events:
            await c.post(f"/api/sessions/{session_id}/messages", json={"text": "Hi"})
            seen = await until_final(events)
    assert [e.event for e in seen] == ["token"] * 20 + ["reply"]


# ---- failure modes -------------------------------------------------------------------------

async def test_over_budget_reply_is_a_rate_limited_error_event(make_demo_server) -> None:
    demo = make_demo_server(provider_rpm=1, provider_burst=1, ai_latency_ms=20,
                            tokens_per_reply=2)
    async with client(demo.url) as c:
        outcomes = []
        for _ in range(2):
            session_id = await new_session(c)
            async with open_stream(c, session_id) as events:
                await c.post(f"/api/sessions/{session_id}/messages", json={"text": "Hi"})
                outcomes.append((await until_final(events))[-1])
        assert outcomes[0].event == "reply"
        assert outcomes[1].event == "error" and outcomes[1].json()["code"] == "rate_limited"
        current = await stats(c)
    assert (current["replies"], current["rate_limited"]) == (1, 1)


def _miss_lines(log_file: str) -> list[str]:
    with open(log_file, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if "SSE connection not found" in line]


async def test_message_before_stream_logs_the_sse_miss_and_drops_the_reply(
        make_demo_server) -> None:
    demo = make_demo_server(mock_ai=True)
    async with client(demo.url) as c:
        session_id = await new_session(c)
        response = await c.post(f"/api/sessions/{session_id}/messages", json={"text": "Hi"})
        assert response.status_code == 202  # accepted: the loss happens server-side
        current = await eventually(c, "sse_not_found", 1)
        assert current["replies"] == 0
    lines = _miss_lines(demo.log_file)
    assert len(lines) == 1
    assert lines[0].endswith(f" WARNING SSE connection not found for session_id: {session_id}")
    assert session_id in demo.stderr_tail()


async def test_message_inside_the_registration_window_is_the_race(make_demo_server) -> None:
    # Headers arrive before the stream is registered: a client that sends as soon as it sees
    # them (burst mode) loses its reply. One miss per reply, not one per token.
    demo = make_demo_server(mock_ai=True, stream_register_delay_ms=300)
    async with client(demo.url) as c:
        session_id = await new_session(c)
        async with open_stream(c, session_id, wait_ready=False) as events:
            await c.post(f"/api/sessions/{session_id}/messages", json={"text": "Hi"})
            await eventually(c, "sse_not_found", 1)
            ready = await anext(events)
            assert ready.event == "ready"
            await c.post(f"/api/sessions/{session_id}/messages", json={"text": "again"})
            assert (await until_final(events))[-1].event == "reply"
        current = await stats(c)
    assert (current["sse_not_found"], current["replies"], current["messages"]) == (1, 1, 2)
    assert len(_miss_lines(demo.log_file)) == 1


async def test_saturated_db_pool_answers_503(make_demo_server) -> None:
    demo = make_demo_server(db_pool=1, db_timeout_s=0.3, ai_latency_ms=5000, ai_latency_sigma=0)
    async with client(demo.url) as c:
        first, second = await new_session(c), await new_session(c)
        async with open_stream(c, first):
            await c.post(f"/api/sessions/{first}/messages", json={"text": "Hi"})
            await eventually(c, "db_in_use", 1)  # the reply holds the only slot for 5 s
            blocked = await c.post(f"/api/sessions/{second}/messages", json={"text": "Hi"})
            create = await c.post("/api/sessions")
            current = await stats(c)
    for response in (blocked, create):
        assert response.status_code == 503 and response.json() == {"error": "db_pool_timeout"}
    assert current["db_pool_timeouts"] == 2 and current["messages"] == 1


async def test_reply_waiting_too_long_for_a_db_slot_gets_an_error_event(make_demo_server) -> None:
    # Two messages at once on a 1-slot pool: both inserts pass in turn (200 ms each, 1 s
    # timeout), then one reply holds the slot for 5 s and the other reply times out.
    demo = make_demo_server(db_pool=1, db_write_ms=200, db_timeout_s=1, ai_latency_ms=5000,
                            ai_latency_sigma=0)
    async with client(demo.url) as c:
        a, b = await new_session(c), await new_session(c)
        async with open_stream(c, a) as events_a, open_stream(c, b) as events_b:
            posts = await asyncio.gather(
                *(c.post(f"/api/sessions/{s}/messages", json={"text": "Hi"}) for s in (a, b)))
            assert [p.status_code for p in posts] == [202, 202]
            finals = [asyncio.create_task(until_final(e)) for e in (events_a, events_b)]
            done, pending = await asyncio.wait(finals, timeout=10,
                                               return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            assert len(done) == 1
            final = done.pop().result()[-1]
            assert final.event == "error" and final.json()["code"] == "db_pool_timeout"
            assert (await stats(c))["db_pool_timeouts"] == 1


async def test_idle_sessions_are_evicted_but_streaming_ones_are_kept(make_demo_server) -> None:
    demo = make_demo_server(mock_ai=True, session_ttl_s=0.2)
    async with client(demo.url) as c:
        idle, streaming = await new_session(c), await new_session(c)
        async with open_stream(c, streaming) as events:
            await eventually(c, "evicted_sessions", 1)
            await asyncio.sleep(0.5)  # more sweeps: the streaming session must survive them
            gone = await c.post(f"/api/sessions/{idle}/messages", json={"text": "Hi"})
            kept = await c.post(f"/api/sessions/{streaming}/messages", json={"text": "Hi"})
            assert (await until_final(events))[-1].event == "reply"
    assert gone.status_code == 404 and kept.status_code == 202


# ---- bad input never gives a 500 -----------------------------------------------------------

BAD_MESSAGE_BODIES = [
    (b"not json", 422), (b"[1, 2]", 422), (b'"text"', 422), (b"{}", 422),
    (b'{"text": 5}', 422), (b'{"text": null}', 422), (b'{"text": ""}', 422),
    (b'{"text": "   "}', 422), (b'{"text": "\xff\xfe"}', 422), (b"[" * 50_000, 422),
    (b'{"text": "' + b"x" * 70_000 + b'"}', 413),
]


@pytest.mark.parametrize("body, status", BAD_MESSAGE_BODIES)
async def test_bad_message_bodies_get_4xx(fast_demo_server, body: bytes, status: int) -> None:
    async with client(fast_demo_server.url) as c:
        session_id = await new_session(c)
        response = await c.post(f"/api/sessions/{session_id}/messages", content=body,
                                headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert response.json()["error"] in ("invalid_body", "body_too_large")


async def test_chunked_oversized_body_gets_413(fast_demo_server) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(20):
            yield b"x" * 8192

    async with client(fast_demo_server.url) as c:
        session_id = await new_session(c)
        response = await c.post(f"/api/sessions/{session_id}/messages", content=chunks())
        completion = await c.post("/v1/chat/completions", content=chunks())
    assert response.status_code == 413 and completion.status_code == 413


@pytest.mark.parametrize("body", [
    b"{", b"[]", b'{"model": "m"}', b'{"model": "m", "messages": [{"role": 1}]}',
    b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": 1}',
])
async def test_bad_completion_bodies_get_openai_style_400(fast_demo_server, body: bytes) -> None:
    async with client(fast_demo_server.url) as c:
        response = await c.post("/v1/chat/completions", content=body)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.sampled_from(["text", "model", "messages", "role",
                                                        "content", "stream", "stream_options",
                                                        "include_usage", "max_tokens"]), inner,
                                       max_size=5),
                     max_leaves=12)
_bodies = st.binary(max_size=200) | _json.map(lambda v: json.dumps(v).encode())


@hsettings(max_examples=60, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies)
def test_fuzzed_bodies_never_get_a_server_error(fast_demo_server, body: bytes) -> None:
    with httpx.Client(base_url=fast_demo_server.url, timeout=TIMEOUT) as c:
        session_id = c.post("/api/sessions").json()["session_id"]
        message = c.post(f"/api/sessions/{session_id}/messages", content=body)
        completion = c.post("/v1/chat/completions", content=body)
    assert message.status_code in (202, 413, 422)
    assert completion.status_code in (200, 400, 413)


# ---- the OpenAI-compatible endpoint --------------------------------------------------------

def _completion_body(**extra: object) -> dict:
    return {"model": "demo-model", "messages": [{"role": "user", "content": "Hello there"}],
            **extra}


async def test_streamed_completion_sends_role_content_stop_usage_and_done(demo_server) -> None:
    async with client(demo_server.url) as c:
        async with c.stream("POST", "/v1/chat/completions", json=_completion_body(
                stream=True, stream_options={"include_usage": True})) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            data = [event.data async for event in EventSource(response).aiter_sse()]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    contents = [c["choices"][0]["delta"]["content"] for c in chunks[1:-2]]
    assert len(contents) == 5 and all(contents)
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7}


async def test_streamed_completion_without_usage_has_no_usage_chunk(fast_demo_server) -> None:
    async with client(fast_demo_server.url) as c:
        response = await c.post("/v1/chat/completions",
                                json=_completion_body(stream=True, max_tokens=3))
    data = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    chunks = [json.loads(d) for d in data[:-1]]
    assert data[-1] == "[DONE]" and all(c["choices"] and "usage" not in c for c in chunks)
    assert sum("content" in c["choices"][0]["delta"] for c in chunks) == 4  # role chunk + 3


async def test_non_streamed_completion_is_one_json_object(demo_server) -> None:
    async with client(demo_server.url) as c:
        response = await c.post("/v1/chat/completions", json=_completion_body())
    body = response.json()
    assert response.status_code == 200 and body["object"] == "chat.completion"
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "stop"
    assert len(choice["message"]["content"].split()) == 5
    assert body["usage"]["completion_tokens"] == 5


async def test_completion_over_budget_is_429_with_openai_error(make_demo_server) -> None:
    demo = make_demo_server(provider_rpm=1, provider_burst=1, ai_latency_ms=0)
    async with client(demo.url) as c:
        first = await c.post("/v1/chat/completions", json=_completion_body())
        second = await c.post("/v1/chat/completions", json=_completion_body(stream=True))
        current = await stats(c)
    assert first.status_code == 200 and second.status_code == 429
    error = second.json()["error"]
    assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
    assert error["message"] and int(second.headers["retry-after"]) >= 1
    assert (current["completions"], current["rate_limited"]) == (1, 1)


# ---- the command and the process wrapper ---------------------------------------------------

def _server_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "webchat_tui.demo.server", *args]


def test_port_zero_prints_the_url_first_and_sigterm_exits_cleanly() -> None:
    proc = subprocess.Popen(_server_cmd("--port", "0", "--mock-ai"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first_line = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", first_line)
        assert httpx.get(first_line + "/healthz", timeout=TIMEOUT).json() == {"ok": True}
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0 and "Traceback" not in stderr


def test_sigint_ends_open_streams_and_exits_cleanly(make_demo_server) -> None:
    demo = make_demo_server(mock_ai=True)
    with httpx.Client(base_url=demo.url, timeout=TIMEOUT) as c:
        session_id = c.post("/api/sessions").json()["session_id"]
        with c.stream("GET", f"/api/sessions/{session_id}/events") as response:
            lines = response.iter_lines()
            assert next(lines) == "event: ready"
            os.kill(demo.pid, signal.SIGINT)
            for _ in lines:  # returns once the server ends the stream (else a read timeout)
                pass
    deadline = time.monotonic() + 10
    while demo.alive and time.monotonic() < deadline:
        time.sleep(0.05)
    assert demo.returncode == 0 and "Traceback" not in demo.stderr_tail()


@pytest.mark.parametrize("argv, needle", [
    (["--bogus"], "unrecognized arguments"), (["--port", "abc"], "--port"),
    (["--provider-rpm", "0"], "--provider-rpm"), (["--db-pool", "0"], "--db-pool"),
    (["--db-timeout-s", "-1"], "--db-timeout-s"), (["--tokens-per-reply", "x"], "--tokens"),
])
def test_bad_flag_is_one_line_and_exit_2(capsys, argv: list[str], needle: str) -> None:
    with pytest.raises(SystemExit) as exc:
        server_main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and needle in err and err.count("\n") == 1


def test_bad_flag_in_a_real_process_has_no_traceback() -> None:
    result = subprocess.run(_server_cmd("--provider-rpm", "-5"), capture_output=True, text=True,
                            timeout=20)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "--provider-rpm must be > 0" in result.stderr


def test_unwritable_log_file_is_one_line_and_exit_2(tmp_path, capsys) -> None:
    assert server_main(["--log-file", str(tmp_path / "missing" / "x.log")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--log-file" in err


def test_stop_leaves_no_process_and_is_idempotent() -> None:
    demo = DemoServer(mock_ai=True)
    url = demo.start()
    pid, log_file = demo.pid, demo.log_file
    assert demo.alive and demo.url == url and os.path.exists(log_file)
    assert demo.stop() == 0
    assert demo.stop() == 0 and not demo.alive
    with pytest.raises(ProcessLookupError):  # reaped too: not even a zombie is left
        os.kill(pid, 0)
    assert not os.path.exists(log_file)  # our own temp log goes with the server


def test_given_log_file_is_kept_and_context_manager_stops(tmp_path) -> None:
    log_file = tmp_path / "demo.log"
    with DemoServer(log_file=log_file) as demo:
        assert demo.log_file == str(log_file) and demo.alive
        pid = demo.pid
    assert not demo.alive and log_file.exists() and "listening on" in log_file.read_text()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_failed_start_raises_with_the_servers_stderr() -> None:
    demo = DemoServer(extra_args=["--db-pool", "0"])
    with pytest.raises(RuntimeError, match=r"exited with code 2[\s\S]*--db-pool"):
        demo.start()
    assert not demo.alive


def test_server_exits_when_its_parent_is_gone() -> None:
    # A parent pid that is not ours: the server sees "its" parent gone and shuts itself down.
    not_parent = os.getpid() + 1_000_000
    proc = subprocess.Popen(_server_cmd("--port", "0", "--parent-pid", str(not_parent)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = proc.communicate(timeout=15)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0 and "parent process" in stderr and "Traceback" not in stderr
