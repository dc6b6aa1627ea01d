"""DemoServer: the demo server as a child process (what the dashboard and the tests start).

    with DemoServer(mock_ai=True) as demo:    # or demo = DemoServer(); demo.start()
        demo.url        # "http://127.0.0.1:43125"
        demo.log_file   # the server log the dashboard follows

The child's stdout and stderr go to files, never to pipes: a pipe nobody reads fills up under
load and hangs the server. Its own session keeps a terminal Ctrl-C meant for the dashboard
away from it; `--parent-pid` makes it exit if this process dies without stopping it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

_POLL_S = 0.02
_TAIL_CHARS = 2000
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding webchat_tui/


class DemoServer:
    def __init__(self, mock_ai: bool = False, log_file: str | os.PathLike[str] | None = None,
                 extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None) -> None:
        """`extra_args`: more demo-server flags (they win over ours); `env`: extra environment
        variables for the child, on top of this process's environment."""
        self._mock_ai = mock_ai
        self._extra_args = tuple(extra_args)
        self._env = dict(env or {})
        self._workdir = Path(tempfile.mkdtemp(prefix="webchat-demo-"))
        # A temp log lives in the workdir and goes with it on stop(); a given path is kept.
        self.log_file = str(self._workdir / "server.log") if log_file is None else os.fspath(log_file)
        self.url: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stdout: IO[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._stopped = False
        atexit.register(self.stop)  # also removes the workdir of a server never started

    # ---- lifecycle -------------------------------------------------------------------------

    def command(self) -> list[str]:
        args = [sys.executable, "-m", "webchat_tui.demo.server", "--host", "127.0.0.1",
                "--port", "0", "--log-file", self.log_file, "--parent-pid", str(os.getpid())]
        if self._mock_ai:
            args.append("--mock-ai")
        return args + list(self._extra_args)

    def start(self, timeout_s: float = 20) -> str:
        """Start the child and wait for its URL; RuntimeError (with its stderr) if it fails."""
        if self._proc is not None:
            raise RuntimeError("DemoServer.start() called twice")
        if self._stopped:
            raise RuntimeError("DemoServer cannot be restarted after stop(); make a new one")
        self._stdout = open(self._workdir / "stdout.txt", "w+b")
        self._stderr = open(self._workdir / "stderr.txt", "w+b")
        env = {**os.environ, **self._env}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                      stdout=self._stdout, stderr=self._stderr, env=env,
                                      start_new_session=True)
        try:
            self.url = self._wait_for_url(timeout_s)
        except RuntimeError:
            self.stop()
            raise
        return self.url

    def _wait_for_url(self, timeout_s: float) -> str:
        assert self._proc is not None
        path = self._workdir / "stdout.txt"
        deadline = time.monotonic() + timeout_s
        while True:
            first, newline, _ = path.read_bytes().partition(b"\n")
            if newline:
                url = first.decode(errors="replace").strip()
                if url.startswith("http://"):
                    return url
                raise RuntimeError(f"demo server printed {url!r} instead of its URL"
                                   f"{self._stderr_tail_note()}")
            code = self._proc.poll()
            if code is not None:
                raise RuntimeError(f"demo server exited with code {code} before it was ready"
                                   f"{self._stderr_tail_note()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"demo server did not report its URL within {timeout_s:g} s"
                                   f"{self._stderr_tail_note()}")
            time.sleep(_POLL_S)

    def stop(self, timeout_s: float = 5.0) -> int | None:
        """SIGTERM, wait, then SIGKILL. Idempotent. Returns the child's exit code."""
        self._stopped = True
        atexit.unregister(self.stop)
        proc = self._proc
        code = None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            code = proc.returncode
        for stream in (self._stdout, self._stderr):
            if stream is not None and not stream.closed:
                stream.close()
        shutil.rmtree(self._workdir, ignore_errors=True)
        return code

    def __enter__(self) -> DemoServer:
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- state -----------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def stderr_tail(self, chars: int = _TAIL_CHARS) -> str:
        """The end of the child's stderr so far (for error messages and tests)."""
        path = self._workdir / "stderr.txt"
        try:
            data = path.read_bytes()
        except OSError:
            return ""
        return data[-chars:].decode(errors="replace")

    def _stderr_tail_note(self) -> str:
        tail = self.stderr_tail().strip()
        return f"; its stderr ends with:\n{tail}" if tail else " (no stderr output)"
