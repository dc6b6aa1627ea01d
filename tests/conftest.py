"""Shared fixtures that start servers (127.0.0.1, free ports, always stopped).

    def test_x(make_demo_server):
        demo = make_demo_server(ai_latency_ms=50, provider_rpm=60)   # any demo-server flag
        demo.url, demo.log_file, demo.pid

Flags are keyword arguments: `name_with_underscores=value` becomes `--name-with-underscores value`,
`True` becomes a bare flag (`mock_ai=True` -> `--mock-ai`), `None`/`False` are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from webchat_tui.demo import DemoServer


def demo_flags(**flags: object) -> list[str]:
    args: list[str] = []
    for name, value in flags.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is not None and value is not False:
            args += [flag, str(value)]
    return args


MakeDemoServer = Callable[..., DemoServer]


@pytest.fixture
def make_demo_server() -> Iterator[MakeDemoServer]:
    """Factory: start a demo server with the given flags; every one is stopped after the test."""
    servers: list[DemoServer] = []

    def make(*, log_file: str | None = None, env: dict[str, str] | None = None,
             timeout_s: float = 20.0, **flags: object) -> DemoServer:
        mock_ai = bool(flags.pop("mock_ai", False))
        server = DemoServer(mock_ai=mock_ai, log_file=log_file, extra_args=demo_flags(**flags),
                            env=env)
        servers.append(server)
        server.start(timeout_s=timeout_s)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def demo_server(make_demo_server: MakeDemoServer) -> DemoServer:
    """A fresh demo server with fast replies: 50 ms median latency, 5 tokens, seeded."""
    return make_demo_server(ai_latency_ms=50, tokens_per_reply=5, seed=1)


@pytest.fixture(scope="session")
def fast_demo_server() -> Iterator[DemoServer]:
    """One --mock-ai server shared by the whole run. Other tests use it too: assert on counter
    deltas or on your own sessions, never on absolute counters."""
    with DemoServer(mock_ai=True) as server:
        yield server
