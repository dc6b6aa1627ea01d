"""The httpx-aiohttp transport (--transport aiohttp): same exceptions, same outcomes as httpx.

Low level: every transport failure the engine classifies comes out of both transports as an
httpx exception that classify_transport_error maps to the same outcome, and SSE bodies stream
incrementally. High level: the real engine on aiohttp gives the same outcomes as on httpx against
the demo server and the per-session fault server, with nothing left in flight, no leaked tasks
or sockets.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import struct
import time

import httpx
import pytest

from tests.servers.harness import check_invariants, config, nonzero, run_timed
from tests.servers.mixed import MODES, MixedFaultServer
from tests.servers.run import ThreadedRawServer, closed_port
from tests.test_reliability import (  # noqa: F401 (mixed: the shared fault-server fixture)
    GRACE_MS, MIX, THRESHOLD_MS, mixed, open_fds, other_tasks, settled_fds,
)
from webchat_tui.cli import UsageError, build_config, run_parser
from webchat_tui.config import RequestSpec, TargetProfile
from webchat_tui.engine.clients import Clients, classify_transport_error
from webchat_tui.engine.outcomes import Outcome

pytestmark = pytest.mark.timeout(60)

TRANSPORTS = ("httpx", "aiohttp")


# -- a raw server with one fault per path -------------------------------------------------------

async def _read_head(reader: asyncio.StreamReader) -> tuple[str, str]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    return head.split(" ", 2)[1], head


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


SSE_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n")


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def faults(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        path, head = await _read_head(reader)
        if path == "/auth":                  # echo the Authorization header
            auth = [ln.split(":", 1)[1].strip() for ln in head.split("\r\n")
                    if ln.lower().startswith("authorization:")]
            body = (auth[0] if auth else "none").encode()
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        elif path == "/reset":                 # RST before any response
            _reset(writer)
            return
        if path == "/close":                 # clean FIN before any response
            writer.close()
            return
        if path == "/garbage":               # not HTTP at all
            writer.write(b"SPAM SPAM SPAM\r\n\r\n")
        elif path == "/silent":              # headers never come
            await asyncio.sleep(3)
        elif path == "/stall":               # headers, then silence
            writer.write(SSE_HEAD)
            await writer.drain()
            await asyncio.sleep(3)
        elif path == "/reset_mid":           # headers, one event, then RST
            writer.write(SSE_HEAD + _chunk(b"data: 1\n\n"))
            await writer.drain()
            await asyncio.sleep(0.05)
            _reset(writer)
            return
        elif path == "/cut_mid":             # headers, one event, then FIN inside the body
            writer.write(SSE_HEAD + _chunk(b"data: 1\n\n"))
            await writer.drain()
            await asyncio.sleep(0.05)
        elif path == "/slow_events":         # one event now, one every 0.3 s, then the end
            writer.write(SSE_HEAD)
            for i in range(3):
                writer.write(_chunk(f"data: {i}\n\n".encode()))
                await writer.drain()
                await asyncio.sleep(0.3)
            writer.write(b"0\r\n\r\n")
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@pytest.fixture(scope="module")
def fault_server():
    with ThreadedRawServer(faults) as raw:
        yield raw


async def _outcome(clients: Clients, path: str, *, stream: bool) -> tuple[Outcome, type]:
    """Request `path`, read the whole body; the outcome the engine would give the failure."""
    got_response = False
    try:
        if stream:
            async with clients.stream.get().stream("GET", path) as resp:
                got_response = True
                async for _ in resp.aiter_bytes():
                    pass
        else:
            await clients.post.get().post(path, json={"x": 1})
    except httpx.HTTPError as exc:
        return classify_transport_error(exc, got_response), type(exc)
    raise AssertionError(f"{path}: no error")


CASES = [  # path, stream?, expected outcome (the same on both transports)
    ("/reset", False, Outcome.CONNECT_ERROR),
    ("/close", False, Outcome.CONNECT_ERROR),
    ("/garbage", False, Outcome.CONNECT_ERROR),
    ("/silent", False, Outcome.TIMEOUT),
    ("/stall", True, Outcome.TIMEOUT),
    ("/reset_mid", True, Outcome.STREAM_CLOSED),
    ("/cut_mid", True, Outcome.STREAM_CLOSED),
]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_failures_are_httpx_exceptions_with_the_same_outcomes(fault_server, transport):
    clients = Clients(fault_server.url, {}, 10, post_read_s=0.3, transport=transport)
    # The SSE client has no read timeout (None): give this one a short one for /stall.
    for c in clients.stream.clients:
        c.timeout = httpx.Timeout(connect=5, write=5, pool=1, read=0.3)
    try:
        results = await asyncio.gather(*(_outcome(clients, path, stream=stream)
                                          for path, stream, _ in CASES))
    finally:
        await clients.aclose()
    for (path, _, expected), (outcome, kind) in zip(CASES, results):
        assert outcome is expected, (transport, path, kind)
    kinds = {path: kind for (path, _, _), (_, kind) in zip(CASES, results)}
    assert issubclass(kinds["/silent"], httpx.ReadTimeout)
    assert issubclass(kinds["/stall"], httpx.ReadTimeout)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_refused_connection_is_a_connect_error(transport):
    clients = Clients(f"http://127.0.0.1:{closed_port()}", {}, 10, post_read_s=1,
                      transport=transport)
    try:
        with pytest.raises(httpx.ConnectError) as info:
            await clients.post.get().post("/api/sessions")
    finally:
        await clients.aclose()
    assert classify_transport_error(info.value, False) is Outcome.CONNECT_ERROR


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_url_credentials_become_basic_auth(fault_server, transport):
    """aiohttp refuses credentials in the URL next to the Authorization header httpx makes."""
    url = fault_server.url.replace("http://", "http://robot:s3cret@")
    clients = Clients(url, {}, 10, post_read_s=5, transport=transport)
    try:
        resp = await clients.post.get().get("/auth")
    finally:
        await clients.aclose()
    assert resp.text == "Basic " + base64.b64encode(b"robot:s3cret").decode()


async def test_aiohttp_streams_events_as_they_are_sent(fault_server):
    clients = Clients(fault_server.url, {}, 10, post_read_s=5, transport="aiohttp")
    arrivals = []
    try:
        t0 = time.perf_counter()
        async with clients.stream.get().stream("GET", "/slow_events") as resp:
            async for chunk in resp.aiter_bytes():
                arrivals.append((time.perf_counter() - t0, chunk))
    finally:
        await clients.aclose()
    assert b"".join(c for _, c in arrivals) == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    assert len(arrivals) == 3
    # Each event arrives when sent (0, 0.3, 0.6 s), not all at the end (0.9 s).
    assert arrivals[0][0] < 0.2 and 0.2 < arrivals[1][0] < 0.5 and arrivals[2][0] < 0.8, arrivals


async def test_aiohttp_has_no_connection_limit_and_no_pool_wait(fault_server):
    """httpx-aiohttp's own default would cap each client at aiohttp's 100 connections."""
    clients = Clients(fault_server.url, {}, 1, post_read_s=5, transport="aiohttp")
    client = clients.stream.get()
    try:
        opened = []
        for _ in range(150):  # 150 open streams through one client, none waits for a connection
            cm = client.stream("GET", "/stall")
            opened.append((cm, await asyncio.wait_for(cm.__aenter__(), 2)))
        for cm, _ in opened:
            await cm.__aexit__(None, None, None)
    finally:
        await clients.aclose()


# -- the real engine -----------------------------------------------------------------------------

async def test_engine_on_aiohttp_against_the_demo_server(fast_demo_server):
    tasks_before, fds_before = other_tasks(), open_fds()
    snaps = {}
    for transport in TRANSPORTS:
        _, snaps[transport] = await run_timed(config(fast_demo_server.url, rate=60, duration_s=1,
                                                     transport=transport))
    for transport, snap in snaps.items():
        assert snap.started >= 55, transport
        assert nonzero(snap) == {"ok": snap.started}, transport
        assert snap.phases["first_reply"].count == snap.started
    await asyncio.sleep(0)
    assert other_tasks() <= tasks_before
    assert await settled_fds(fds_before) <= fds_before


async def test_each_mode_alone_gives_its_outcome_on_aiohttp(mixed):
    async def run(mode: str):
        profile = TargetProfile(create=RequestSpec("POST", "/api/sessions", json={"mode": mode}))
        return mode, (await run_timed(config(mixed.url, profile=profile, rate=10, duration_s=0.4,
                                             threshold_ms=THRESHOLD_MS, grace_ms=GRACE_MS,
                                             transport="aiohttp")))[1]

    for mode, snap in await asyncio.gather(*(run(mode) for mode in MODES)):
        assert snap.started >= 3, mode
        assert nonzero(snap) == {MODES[mode]: snap.started}, mode
        # (19 engines share this loop, so a generator-limited warning may come; no exception may)
        assert not [w for w in snap.warnings if w.message.startswith("unexpected")], mode


async def test_a_mix_of_faults_on_aiohttp_matches_the_server_and_leaks_nothing(mixed):
    server: MixedFaultServer = mixed.state
    tasks_before, fds_before = other_tasks(), open_fds()
    engine, snap = await run_timed(config(mixed.url, rate=80, duration_s=1.5,
                                          threshold_ms=THRESHOLD_MS, grace_ms=GRACE_MS,
                                          transport="aiohttp"))
    del engine
    check_invariants(snap)
    assert snap.started >= 100
    assert sum(server.sessions.values()) == snap.started
    assert set(server.sessions) == set(MIX)
    assert nonzero(snap) == dict(server.expected_outcomes())
    engine_warnings = [w for w in snap.warnings if w.kind == "engine"]
    assert snap.warning_counts.get("engine", 0) == len(engine_warnings)  # all still in the ring
    assert all(w.message.startswith("generator-limited") for w in engine_warnings), engine_warnings
    await asyncio.sleep(0)
    assert other_tasks() <= tasks_before
    fds_after = await settled_fds(fds_before)
    assert fds_after <= fds_before, (fds_before, fds_after)
    assert server.open_connections == 0


def test_cli_flag_sets_the_transport():
    parser = run_parser()
    assert build_config(parser.parse_args(["--target", "http://127.0.0.1:1"])).transport == "httpx"
    cfg = build_config(parser.parse_args(["--target", "http://127.0.0.1:1",
                                          "--transport", "aiohttp"]))
    assert cfg.transport == "aiohttp"
    with pytest.raises(UsageError, match="--transport: invalid choice"):
        parser.parse_args(["--transport", "curl"])
