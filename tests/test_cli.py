"""CLI: flags -> RunConfig, one-line errors with exit 2, --help, fast start without Textual."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cli_helpers import REPO, run_cli

from webchat_tui.cli import build_config, run_parser
from webchat_tui.config import PRESETS, Stage


def config_for(*argv: str):
    return build_config(run_parser().parse_args(list(argv)))


def test_help_lists_commands_and_flags():
    result = run_cli("--help")
    assert result.returncode == 0
    for word in ("demo-server", "report", "compare", "--target", "--profile", "--preset",
                 "--rate", "--stages", "--headless", "--json", "--fail-under", "exit codes"):
        assert word in result.stdout, word


H = "--headless"  # so a check that wrongly passes can never open a dashboard in the test


@pytest.mark.parametrize("args, fragment", [
    ([H, "--rate", "-3"], "--rate: must be > 0, got -3"),
    ([H, "--rate", "0"], "--rate: must be > 0"),
    ([H, "--rate", "nan"], "--rate: must be > 0"),
    ([H, "--rate", "abc"], "--rate: invalid float value"),
    ([H, "--duration", "0"], "--duration: must be > 0"),
    ([H, "--duration", "soon"], "--duration: expected a duration"),
    ([H, "--stages", "5s"], "--stages: expected DURATION:RATE"),
    ([H, "--stages", "5s:10", "--duration", "3"], "--duration, --stages: give one of them"),
    ([H, "--threshold-ms", "0"], "--threshold-ms: must be > 0"),
    ([H, "--grace-ms", "-1"], "--grace-ms: must be >= 0"),
    ([H, "--fail-under", "101"], "--fail-under: must be between 0 and 100"),
    ([H, "--max-inflight", "0"], "--max-inflight: must be >= 1"),
    ([H, "--seed", "1.5"], "--seed: invalid int value"),
    ([H, "--target", "localhost:8080"], "--target: expected an http:// or https:// URL"),
    ([H, "--preset", "huge"], "--preset: invalid choice"),
    ([H, "--arrivals", "bursty"], "--arrivals: invalid choice"),
    (["--json"], "--json: only with --headless"),
    ([H, "--no-such-flag"], "unrecognized arguments"),
    ([H, "--profile", "/nonexistent/p.toml"], "profile /nonexistent/p.toml: file not found"),
    (["report"], "the following arguments are required"),
    (["report", "/nonexistent/run"], "snapshot /nonexistent/run: not found"),
    (["compare", "a"], "the following arguments are required"),
])
def test_bad_input_is_one_line_and_exit_2(args, fragment):
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("webchat-tui: error: ")
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_profile_error_names_the_key(tmp_path):
    profile = tmp_path / "bad.toml"
    profile.write_text('[stream]\nready_events = "ready"\n')
    result = run_cli("--profile", str(profile), "--headless")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"webchat-tui: error: profile {profile}: "
                                     "[stream].ready_events: expected a list of strings")


def test_headless_start_does_not_import_textual():
    code = ("import sys, webchat_tui.cli, webchat_tui.headless, webchat_tui.snapshot; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'plotext')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# --- flags -> RunConfig -------------------------------------------------------------------------

def test_presets_give_defaults_and_flags_win():
    c = config_for("--preset", "burst", "--headless")
    assert (c.rate, c.duration_s, c.threshold_ms, c.preset) == (100, 2, 30_000, "burst")
    c = config_for("--preset", "burst", "--rate", "7", "--threshold-ms", "500", "--headless")
    assert (c.rate, c.duration_s, c.threshold_ms) == (7, 2, 500)
    c = config_for("--headless")
    assert c.preset == "realistic" and c.rate == PRESETS["realistic"].rate


def test_dashboard_runs_until_quit_unless_a_length_is_given():
    assert config_for().duration_s is None
    assert config_for("--duration", "1m").duration_s == 60
    c = config_for("--stages", "5s:10,500ms:50")
    assert c.stages == (Stage(5, 10), Stage(0.5, 50)) and c.duration_s == 5.5


def test_demo_mode_only_without_target_or_base_url(tmp_path):
    assert config_for().demo is True
    c = config_for("--target", "http://127.0.0.1:8080/")
    assert (c.demo, c.target) == (False, "http://127.0.0.1:8080")
    profile = tmp_path / "p.toml"
    profile.write_text('base_url = "http://127.0.0.1:9000"\nflow = "openai"\nmodel = "m1"\n')
    c = config_for("--profile", str(profile))
    assert (c.demo, c.target, c.flow, c.model) == (False, "http://127.0.0.1:9000", "openai", "m1")
    c = config_for("--profile", str(profile), "--target", "http://127.0.0.1:1", "--flow", "webchat")
    assert (c.target, c.flow) == ("http://127.0.0.1:1", "webchat")


def test_other_flags_reach_the_config():
    c = config_for("--arrivals", "poisson", "--seed", "7", "--send-mode", "burst",
                   "--grace-ms", "0", "--fail-under", "50", "--max-inflight", "3",
                   "--snapshot-dir", "runs", "--server-log", "s.log", "--headless", "--json")
    assert (c.arrivals, c.seed, c.send_mode, c.grace_ms, c.fail_under, c.max_inflight,
            c.snapshot_dir, c.server_log) == ("poisson", 7, "burst", 0, 50, 3, "runs", "s.log")


@pytest.mark.parametrize("demo_args, problem", [
    ("--db-pool 0", "--demo-args: --db-pool must be between 1 and 100000"),
    ("--db-pool", "--demo-args: expected one argument"),
    ("'--db-pool", "--demo-args: No closing quotation"),
])
def test_bad_demo_args_are_one_line_and_exit_2(demo_args, problem):
    result = run_cli("--headless", "--demo-args", demo_args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"webchat-tui: error: {problem}"]


def test_demo_args_need_the_demo_server():
    result = run_cli("--headless", "--target", "http://127.0.0.1:9", "--demo-args", "--db-pool 3")
    assert result.returncode == 2
    assert "--demo-args: only for the embedded demo server" in result.stderr
