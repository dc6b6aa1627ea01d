"""`webchat-tui demo-server` / `python -m webchat_tui.demo.server`: run the demo under uvicorn.

The first line on stdout is the base URL (e.g. `http://127.0.0.1:43125`), printed once the server
accepts connections; nothing else goes to stdout. Logs go to stderr and, with --log-file, to that
file. SIGINT/SIGTERM end open streams and exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import fields

import uvicorn

from webchat_tui.demo.app import build_app
from webchat_tui.demo.settings import DemoSettings

PROG = "webchat-tui demo-server"
LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
PARENT_POLL_S = 1.0

log = logging.getLogger("webchat_tui.demo")


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One clear line instead of argparse's usage block.
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    d = DemoSettings()
    p = _OneLineParser(prog=prog, description="The embedded demo web-chat server: sessions over "
                       "HTTP, replies over SSE, an OpenAI-compatible endpoint, and the seed's "
                       "failure modes (provider budget, SSE race, DB pool).")
    p.add_argument("--host", default=d.host, help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=d.port,
                   help="port; 0 = a free port (default %(default)s)")
    p.add_argument("--provider-rpm", type=float, default=d.provider_rpm, metavar="RPM",
                   help="AI provider budget in requests/minute (default %(default)g)")
    p.add_argument("--provider-burst", type=float, default=None, metavar="N",
                   help="provider token-bucket capacity (default: 10 s of budget, rpm/6)")
    p.add_argument("--ai-latency-ms", type=float, default=d.ai_latency_ms, metavar="MS",
                   help="median AI reply time, lognormal (default %(default)g)")
    p.add_argument("--ai-latency-sigma", type=float, default=d.ai_latency_sigma, metavar="S",
                   help="lognormal sigma of the AI latency; 0 = fixed (default %(default)g)")
    p.add_argument("--tokens-per-reply", type=int, default=d.tokens_per_reply, metavar="N",
                   help="token events per reply (default %(default)s)")
    p.add_argument("--db-pool", type=int, default=d.db_pool, metavar="N",
                   help="DB connection pool slots (default %(default)s)")
    p.add_argument("--db-timeout-s", type=float, default=d.db_timeout_s, metavar="S",
                   help="wait for a DB slot before db_pool_timeout (default %(default)g)")
    p.add_argument("--db-write-ms", type=float, default=d.db_write_ms, metavar="MS",
                   help="how long an insert holds a DB slot (default %(default)g)")
    p.add_argument("--stream-register-delay-ms", type=float, default=d.stream_register_delay_ms,
                   metavar="MS", help="SSE headers sent -> stream registered, the race window "
                   "(default %(default)g)")
    p.add_argument("--stream-register-jitter-ms", type=float,
                   default=d.stream_register_jitter_ms, metavar="MS",
                   help="plus a random 0..MS on each stream, so a burst wins some races and "
                   "loses others (default %(default)g; 0 = a fixed delay)")
    p.add_argument("--heartbeat-s", type=float, default=d.heartbeat_s, metavar="S",
                   help="': ping' comment on an idle stream every S seconds (default %(default)g)")
    p.add_argument("--session-ttl-s", type=float, default=d.session_ttl_s, metavar="S",
                   help="evict sessions idle this long (default %(default)g)")
    p.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes, metavar="N",
                   help="larger request bodies get 413 (default %(default)s)")
    p.add_argument("--mock-ai", action="store_true",
                   help="instant AI replies: no latency, no provider budget")
    p.add_argument("--log-file", default=None, metavar="PATH",
                   help="also append the log here (the dashboard follows it)")
    p.add_argument("--seed", type=int, default=None, help="random seed (ids, latency, replies)")
    # Set by DemoServer: exit when that process goes away, so a killed dashboard leaves no server.
    p.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    return p


def settings_from_args(args: argparse.Namespace) -> DemoSettings:
    """ValueError (naming the flag) for values out of range."""
    names = {f.name for f in fields(DemoSettings)}
    return DemoSettings(**{k: v for k, v in vars(args).items() if k in names})


def configure_logging(log_file: str | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    formatter = logging.Formatter(LOG_FORMAT)
    for handler in handlers:
        handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = handlers
    root.setLevel(logging.WARNING)  # uvicorn's own loggers stay at warning
    log.setLevel(logging.INFO)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # main() owns SIGINT/SIGTERM: uvicorn would re-raise them after shutdown (exit != 0).
        yield


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def _base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _watch_parent(parent_pid: int, stop: Callable[[], None]) -> None:
    while os.getppid() == parent_pid:
        await asyncio.sleep(PARENT_POLL_S)
    log.warning("parent process %d went away: shutting down", parent_pid)
    stop()


async def serve(settings: DemoSettings, parent_pid: int | None = None) -> int:
    """Serve until SIGINT/SIGTERM (or the parent's exit); the exit code."""
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        print(f"{PROG}: error: cannot listen on {settings.host}:{settings.port}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 1
    app = build_app(settings)
    server = _Server(uvicorn.Config(
        app, log_config=None, log_level="warning", access_log=False, lifespan="on", ws="none",
        # Streams are ended on shutdown; this bounds POSTs still waiting for a DB slot.
        timeout_graceful_shutdown=2))

    def stop() -> None:
        app.state.backend.end_streams()
        server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if not server.started:
        await serving
        print(f"{PROG}: error: the server did not start (see the log above)", file=sys.stderr)
        return 1
    url = _base_url(sock)
    log.info("demo server listening on %s (mock_ai=%s, provider_rpm=%g, db_pool=%d)",
             url, settings.mock_ai, settings.provider_rpm, settings.db_pool)
    print(url, flush=True)
    watcher = asyncio.create_task(_watch_parent(parent_pid, stop)) if parent_pid else None
    await serving
    if watcher:
        watcher.cancel()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        configure_logging(settings.log_file)
    except OSError as exc:
        print(f"{PROG}: error: cannot open --log-file {settings.log_file}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(serve(settings, args.parent_pid))
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were in place
        return 0


if __name__ == "__main__":
    sys.exit(main())
