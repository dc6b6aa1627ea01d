"""Headless runs end to end through the CLI against the real demo server (127.0.0.1 only)."""

from __future__ import annotations

import io
import json
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cli_helpers import REPO, make_snapshot, run_cli

from webchat_tui import headless
from webchat_tui.config import ExitCode, RunConfig, TargetProfile
from webchat_tui.demo.process import DemoServer
from webchat_tui.engine.outcomes import Outcome
from webchat_tui.snapshot import SNAPSHOT_FILE, load_snapshot

PROGRESS_RE = re.compile(r"^\[ *\d+s\] target \d+\.\d/s achieved \d+\.\d/s in-flight \d+ "
                         r"ok \d+ failed \d+ p50 \S+ p99 \S+$", re.M)
TOKEN = "tok-HEADLESS-8d41f0a7c3"
FAST_DEMO = ["--ai-latency-ms", "40", "--ai-latency-sigma", "0.1"]


@pytest.fixture(scope="module")
def demo():
    with DemoServer(extra_args=FAST_DEMO) as server:
        yield server.url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def snapshot_folders(base: Path) -> list[Path]:
    return sorted(p for p in base.iterdir() if p.is_dir())


def test_json_summary_progress_and_snapshot(demo, tmp_path):
    result = run_cli("--target", demo, "--headless", "--duration", "2", "--rate", "10",
                     "--json", "--snapshot-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert 1 <= len(PROGRESS_RE.findall(result.stderr)) <= 4, result.stderr

    stdout_lines = result.stdout.strip().splitlines()
    assert len(stdout_lines) == 1  # ONE JSON object, nothing else on stdout
    summary = json.loads(stdout_lines[0])
    assert set(summary["sessions"]) >= {"started", "finished", "ok"}
    assert 15 <= summary["sessions"]["started"] <= 25
    assert summary["sessions"]["ok"] == summary["sessions"]["finished"] > 0
    assert set(summary["outcomes"]) == {o.value for o in Outcome}
    assert summary["success_rate"] == 100.0
    assert summary["rate"]["target"] == 10.0 and 8 <= summary["rate"]["achieved"] <= 12
    for phase in ("create", "connect", "send", "first_reply", "reply", "total"):
        stats = summary["latency_ms"][phase]
        assert set(stats) >= {"p50", "p90", "p99", "max"}
        assert 0 < stats["p50"] <= stats["p90"] <= stats["p99"] <= stats["max"]
    assert set(summary["start_lag_ms"]) == {"p50", "p99"}
    assert summary["sse_miss"] == {"race": 0, "lost": 0, "server_confirmed": 0}

    # The readable table went to stderr, the snapshot to its folder.
    for row in ("success rate", "outcomes", "latency", "start lag", "sse miss"):
        assert row in result.stderr
    [folder] = snapshot_folders(tmp_path)
    assert f"snapshot saved: {folder}" in result.stderr
    meta, snap = load_snapshot(folder)
    assert snap.started == summary["sessions"]["started"]
    assert meta["summary"]["sessions"] == summary["sessions"]
    report = run_cli("report", str(folder))
    assert report.returncode == 0 and "success rate  100.0%  PASS" in report.stdout


def test_success_rate_under_fail_under_exits_1(demo):
    # Replies take >= 40 ms: a 20 ms threshold makes every session slow (or a timeout, as the
    # engine also bounds its POSTs by the threshold): success rate 0 %.
    result = run_cli("--target", demo, "--headless", "--duration", "1", "--rate", "5",
                     "--threshold-ms", "20", "--grace-ms", "2000", "--json")
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    outcomes = summary["outcomes"]
    assert summary["success_rate"] == 0.0
    assert outcomes["slow"] + outcomes["timeout"] == summary["sessions"]["finished"] > 0
    assert "FAIL" in result.stderr


def test_fail_under_zero_passes_the_same_run(demo):
    result = run_cli("--target", demo, "--headless", "--duration", "1", "--rate", "5",
                     "--threshold-ms", "20", "--fail-under", "0")
    assert result.returncode == 0, result.stderr


def test_unreachable_target_exits_3():
    url = f"http://127.0.0.1:{free_port()}"
    result = run_cli("--target", url, "--headless", "--duration", "1")
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"webchat-tui: target unreachable: {url}: ")
    assert "Traceback" not in result.stderr


def test_sigint_prints_summary_saves_and_exits_130(demo, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "webchat_tui", "--target", demo, "--headless", "--duration", "60",
         "--rate", "5", "--snapshot-dir", str(tmp_path)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()  # blocks until the first progress line (~1 s)
        assert PROGRESS_RE.match(first.rstrip("\n")), first
        proc.send_signal(signal.SIGINT)
        stdout, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = first + rest
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert "interrupted" in stderr and "success rate" in stderr
    [folder] = snapshot_folders(tmp_path)
    _, snap = load_snapshot(folder)
    assert snap.started >= 1
    assert snap.started < 60 * 5  # it really stopped early


def test_secret_token_appears_nowhere(demo, tmp_path):
    profile = tmp_path / "secret.toml"
    profile.write_text(
        '[headers]\nAuthorization = "Bearer ${HEADLESS_TOKEN}"\nX-Api-Token = "${HEADLESS_TOKEN}"\n'
        '[secrets]\nheaders = ["X-Other"]\n')
    runs = tmp_path / "runs"
    result = run_cli("--target", demo, "--profile", str(profile), "--headless", "--duration", "1",
                     "--rate", "5", "--json", "--snapshot-dir", str(runs), "--fail-under", "0",
                     env={"HEADLESS_TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr  # about secrets, not success: fail-under 0
    assert TOKEN not in result.stdout and TOKEN not in result.stderr
    [folder] = snapshot_folders(runs)
    text = (folder / SNAPSHOT_FILE).read_text()
    assert TOKEN not in text
    assert '"Authorization"' in text  # the header NAME is kept


def test_missing_env_variable_is_a_config_error(tmp_path):
    profile = tmp_path / "p.toml"
    profile.write_text('[headers]\nAuthorization = "Bearer ${SURELY_UNSET_VAR_X}"\n')
    result = run_cli("--target", "http://127.0.0.1:9", "--profile", str(profile), "--headless")
    assert result.returncode == 2
    assert "[headers].Authorization: environment variable SURELY_UNSET_VAR_X is not set" in \
        result.stderr


def test_default_demo_mode_runs_and_stops_its_server():
    # No --target: the real embedded demo server (default ~3 s AI replies), a short run.
    result = run_cli("--headless", "--duration", "1", "--json", timeout=90)
    assert result.returncode in (0, 1), result.stderr
    summary = json.loads(result.stdout)
    assert summary["target"].startswith("http://127.0.0.1:")
    assert summary["sessions"]["started"] >= 3 and summary["sessions"]["finished"] >= 1
    url = urlsplit(summary["target"])
    with pytest.raises(OSError):  # the demo server was stopped with the run
        socket.create_connection((url.hostname, url.port), timeout=2).close()


# --- in-process: printing and exit code with a stand-in engine ----------------------------------

class FakeEngine:
    """Just enough of the LoadEngine contract for run_headless: a run that ends at once."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.stopped_with: float | None = None

    async def start(self) -> None:
        pass

    async def wait_finished(self) -> None:
        pass

    async def stop(self, drain_s: float = 2.0) -> None:
        self.stopped_with = drain_s

    def snapshot(self):
        return make_snapshot(ok=5, slow=5, warning=f"401 from server: bad token {TOKEN}")


async def test_run_headless_redacts_warnings_and_fails_under_threshold(monkeypatch):
    monkeypatch.setenv("FAKE_TOKEN", TOKEN)
    monkeypatch.setattr(headless, "LoadEngine", FakeEngine)
    config = RunConfig(target="http://127.0.0.1:9", duration_s=2.0,
                       profile=TargetProfile(headers=(("X-Api-Key", "${FAKE_TOKEN}"),)))
    err, out = io.StringIO(), io.StringIO()
    code = await headless.run_headless(config, json_out=True, stream=err, stdout=out)
    assert code == ExitCode.FAILED  # 50 % < 95 %
    assert "warning" in err.getvalue() and "bad token ***" in err.getvalue()
    assert TOKEN not in err.getvalue() + out.getvalue()
    assert json.loads(out.getvalue())["success_rate"] == 50.0


def test_progress_line_format():
    line = headless.progress_line(make_snapshot(ok=8, slow=2))
    assert PROGRESS_RE.match(line), line
    assert "ok 8 failed 2" in line
