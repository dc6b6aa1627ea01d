"""Command line: `webchat-tui [run flags]`, `demo-server`, `report`, `compare`.

Every bad flag, value or profile gives ONE line on stderr (`webchat-tui: error: --rate: must be
> 0, got -3`) and exit 2, never a traceback. Textual and the dashboard are imported only when the
dashboard is launched, so headless runs and reports start fast.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
from typing import Sequence

from webchat_tui import __version__
from webchat_tui.config import (
    MAX_RATE,
    PRESETS,
    ConfigError,
    ExitCode,
    RunConfig,
    TargetProfile,
    parse_duration,
    parse_stages,
    validate_target_url,
)

PROG = "webchat-tui"
DEBUG_ENV = "WEBCHAT_TUI_DEBUG"  # set to 1 to see the traceback of an unexpected error

COMMANDS_HELP = """\
commands:
  (none)                run a load test: the dashboard, or --headless
  demo-server [...]     run the embedded demo server alone (see demo-server --help)
  report SNAPSHOT       print the summary of a saved snapshot (folder or snapshot.json)
  compare A B           two saved snapshots side by side (--fail-on-regression PCT)
  open SNAPSHOT         reopen a saved snapshot in the dashboard, read-only (replay)

With no --target and no profile base_url the embedded demo server is started on a free
loopback port and stopped afterwards.

exit codes (headless): 0 pass, 1 success rate under --fail-under, 2 bad usage or config,
3 target unreachable, 4 internal error, 130 interrupted"""


class UsageError(Exception):
    """A command-line problem: printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line (no usage block) through UsageError."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message.removeprefix("argument "))


# --- the run command ----------------------------------------------------------------------------

def run_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG, usage=f"{PROG} [run options]\n       {PROG} {{demo-server,report,compare,open}} ...",
        description="Live load testing for web-chat backends (HTTP sessions, SSE replies).",
        epilog=COMMANDS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    p.add_argument("--target", metavar="URL", help="base URL of the server under test")
    p.add_argument("--profile", metavar="FILE", help="TOML profile describing the target's API")
    p.add_argument("--flow", choices=("webchat", "openai"),
                   help="protocol: webchat (profile-driven) or openai chat completions")
    p.add_argument("--preset", choices=tuple(PRESETS), help="defaults for rate, duration and "
                   "threshold (default realistic)")
    p.add_argument("--rate", type=float, metavar="R", help="sessions per second")
    p.add_argument("--duration", metavar="S", help="run length: 30, 30s, 500ms, 2m "
                   "(dashboard: until quit unless given)")
    p.add_argument("--stages", metavar="LIST",
                   help="rate ramps, DURATION:RATE pairs, e.g. 5s:10,10s:50")
    p.add_argument("--arrivals", choices=("constant", "poisson"), default="constant",
                   help="arrival process (default constant)")
    p.add_argument("--seed", type=int, metavar="N", help="random seed (poisson arrivals, prompts)")
    p.add_argument("--send-mode", choices=("wait", "burst"),
                   help="wait: send after the stream is ready; burst: send at once (default "
                   "wait; the burst preset: burst)")
    p.add_argument("--threshold-ms", type=float, metavar="MS",
                   help="success threshold: a reply later than this is slow")
    p.add_argument("--grace-ms", type=float, metavar="MS", default=5000.0,
                   help="extra wait after the threshold before a session times out (default 5000)")
    p.add_argument("--fail-under", type=float, metavar="PCT", default=95.0,
                   help="headless: exit 1 when the success rate is below this (default 95)")
    p.add_argument("--transport", choices=("httpx", "aiohttp"), default="httpx",
                   help="HTTP transport of the load engine (default: %(default)s)")
    p.add_argument("--max-inflight", type=int, metavar="N", default=10_000,
                   help="cap on sessions in flight; arrivals over it are dropped (default 10000)")
    p.add_argument("--json", action="store_true",
                   help="headless: print the summary as JSON on stdout")
    p.add_argument("--snapshot-dir", metavar="DIR", help="write snapshots under DIR (headless: "
                   "only when given; dashboard default ./runs)")
    p.add_argument("--autosave-s", type=float, metavar="N", default=10.0,
                   help="refresh the run's snapshot every N seconds, so a killed run loses at "
                   "most N s (default 10; 0 = off; headless: with --snapshot-dir)")
    p.add_argument("--record", metavar="FILE.jsonl",
                   help="write one JSON line per finished session to FILE (truncated at start)")
    p.add_argument("--demo-args", metavar="FLAGS", default="",
                   help="flags for the embedded demo server, e.g. \"--stream-register-delay-ms 50 "
                   "--provider-rpm 60\" (see demo-server --help)")
    p.add_argument("--server-log", metavar="PATH", help="follow this server log for SSE-miss lines")
    p.add_argument("--miss-pattern", metavar="REGEX", help="the server's SSE-miss line, with a "
                   "(?P<session_id>...) group (default: 'SSE connection not found for "
                   "session_id: <id>')")
    p.add_argument("--log-pattern", metavar="NAME=REGEX", action="append", default=[],
                   help="more server-log lines to count and show, e.g. db_pool=QueuePool limit "
                   "(repeatable)")
    p.add_argument("--theme", metavar="NAME", help="dashboard theme")
    p.add_argument("--headless", action="store_true", help="no dashboard: progress lines, summary, "
                   "exit code")
    return p




def _check(ok: bool, flag: str, rule: str, value: object) -> None:
    if not ok:
        raise ConfigError(f"{flag}: {rule}, got {value:g}" if isinstance(value, float)
                          else f"{flag}: {rule}, got {value}")


def build_config(args: argparse.Namespace) -> RunConfig:
    """Flags + preset + profile -> RunConfig. Explicit flags win over the profile and the preset.
    In demo mode `target` is left empty: the caller fills it once the demo server runs."""
    preset = PRESETS[args.preset or "realistic"]
    loaded = None
    if args.profile:
        from webchat_tui.profile import load_profile
        loaded = load_profile(args.profile)
    profile = loaded.profile if loaded else TargetProfile()

    if args.target is not None:
        target = validate_target_url(args.target, field="--target")
    else:
        target = profile.base_url or ""

    rate = preset.rate if args.rate is None else args.rate
    _check(rate > 0 and rate != float("inf"), "--rate", "must be > 0", float(rate))
    # Far past what one engine can drive; beyond it the pacer's gaps vanish below 1 ns.
    _check(rate <= MAX_RATE, "--rate", f"must be <= {MAX_RATE:g}", float(rate))
    if args.duration is not None and args.stages is not None:
        raise ConfigError("--duration, --stages: give one of them (stages set the run length)")
    stages = parse_stages(args.stages) if args.stages is not None else ()
    for stage in stages:
        _check(stage.rate <= MAX_RATE, "--stages", f"rate must be <= {MAX_RATE:g}", stage.rate)
    if stages:
        duration: float | None = sum(s.duration_s for s in stages)
    elif args.duration is not None:
        duration = parse_duration(args.duration, field="--duration")
    else:
        # The dashboard runs until quit (DESIGN.md section 6); headless uses the preset's length.
        duration = preset.duration_s if args.headless else None
    threshold = preset.threshold_ms if args.threshold_ms is None else args.threshold_ms
    _check(0 < threshold < float("inf"), "--threshold-ms", "must be > 0 and finite",
           float(threshold))
    _check(0 <= args.grace_ms < float("inf"), "--grace-ms", "must be >= 0 and finite",
           float(args.grace_ms))
    _check(0 <= args.fail_under <= 100, "--fail-under", "must be between 0 and 100",
           float(args.fail_under))
    _check(args.max_inflight >= 1, "--max-inflight", "must be >= 1", args.max_inflight)
    if args.json and not args.headless:
        raise ConfigError("--json: only with --headless")
    if args.snapshot_dir is not None and os.path.exists(args.snapshot_dir) \
            and not os.path.isdir(args.snapshot_dir):
        raise ConfigError(f"--snapshot-dir: {args.snapshot_dir}: exists and is not a folder")
    miss_pattern, log_patterns = _log_patterns(args, demo=not target)
    _check(args.autosave_s >= 0 and args.autosave_s != float("inf"), "--autosave-s",
           "must be >= 0 (0 = off)", float(args.autosave_s))
    if args.record is not None:
        _check_record_path(args.record)

    return RunConfig(
        target=target,
        preset=preset.name,
        flow=args.flow or (loaded.flow if loaded else None) or "webchat",
        profile=profile,
        rate=float(rate),
        duration_s=duration,
        stages=stages,
        arrivals=args.arrivals,
        seed=args.seed,
        send_mode=args.send_mode or preset.send_mode,
        threshold_ms=float(threshold),
        grace_ms=float(args.grace_ms),
        max_inflight=args.max_inflight,
        fail_under=float(args.fail_under),
        snapshot_dir=args.snapshot_dir,
        server_log=args.server_log,
        miss_pattern=miss_pattern,
        log_patterns=log_patterns,
        demo=not target,
        model=loaded.model if loaded and loaded.model else RunConfig.model,
        autosave_s=float(args.autosave_s),
        record_path=args.record,
        transport=args.transport,
    )


def _check_record_path(path: str) -> None:
    """--record must name a file in an existing folder (the engine opens it at start)."""
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path) or not os.path.isdir(parent):
        raise ConfigError(f"--record: {path}: expected a file in an existing folder")
    if not os.access(parent, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise ConfigError(f"--record: {path}: not writable")


def _log_patterns(args: argparse.Namespace, *, demo: bool
                  ) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """--miss-pattern / --log-pattern, validated (LogPatternError -> one line, exit 2)."""
    from webchat_tui.engine.logpatterns import (
        LogPatternError, compile_miss_pattern, parse_log_patterns,
    )

    if (args.miss_pattern is not None or args.log_pattern) and not (args.server_log or demo):
        flag = "--miss-pattern" if args.miss_pattern is not None else "--log-pattern"
        raise ConfigError(f"{flag}: needs --server-log PATH (the log to match it in)")
    try:
        if args.miss_pattern is not None:
            compile_miss_pattern(args.miss_pattern)
        patterns = parse_log_patterns(args.log_pattern)
    except LogPatternError as exc:
        raise ConfigError(str(exc)) from None
    return args.miss_pattern, tuple((name, regex.pattern) for name, regex in patterns.items())


def _demo_args(text: str) -> list[str]:
    """--demo-args split like a shell would, and checked by the demo server's own parser first,
    so a bad flag is one line and exit 2 here, not a demo server that dies at start."""
    import shlex

    from webchat_tui.demo.server import build_parser, settings_from_args

    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise ConfigError(f"--demo-args: {exc}") from None
    parser = build_parser(prog=f"{PROG} --demo-args")
    parser.exit_on_error = False
    try:
        settings_from_args(parser.parse_args(argv))
    except (argparse.ArgumentError, ValueError) as exc:
        raise ConfigError(f"--demo-args: {exc}") from None
    return argv


def _run(config: RunConfig, args: argparse.Namespace) -> int:
    if args.demo_args and not config.demo:
        raise ConfigError("--demo-args: only for the embedded demo server (no --target)")
    demo = None
    try:
        if config.demo:
            from webchat_tui.demo.process import DemoServer

            demo = DemoServer(mock_ai=PRESETS[config.preset].mock_ai,
                              extra_args=_demo_args(args.demo_args))
            try:
                url = demo.start()
            except Exception as exc:  # any start failure: one line, exit 3
                print(f"{PROG}: error: demo server failed to start: {exc}", file=sys.stderr)
                return ExitCode.UNREACHABLE
            log = config.server_log or (str(demo.log_file) if demo.log_file else None)
            config = dataclasses.replace(config, target=url.rstrip("/"), server_log=log)
        if args.headless:
            from webchat_tui.headless import run_headless

            return asyncio.run(run_headless(config, json_out=args.json))
        from webchat_tui.tui.app import run_dashboard  # Textual loads only here

        return run_dashboard(config, demo=demo, theme=args.theme)
    finally:
        if demo is not None:
            demo.stop()


# --- sub-commands -------------------------------------------------------------------------------

def _load_summary(path: str) -> dict:
    """The summary of a saved snapshot; an unreadable one is a usage error (exit 2)."""
    from webchat_tui.snapshot import SnapshotError, load_snapshot
    from webchat_tui.summary import summarize

    try:
        meta, metrics = load_snapshot(path)
    except SnapshotError as exc:
        raise UsageError(str(exc)) from None
    return summarize(metrics, meta["config"])


def _report(argv: Sequence[str]) -> int:
    p = _Parser(prog=f"{PROG} report", description="Summary of a saved snapshot.")
    p.add_argument("snapshot", metavar="SNAPSHOT", help="snapshot folder or its snapshot.json")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = p.parse_args(argv)
    from webchat_tui.summary import format_summary

    summary = _load_summary(args.snapshot)
    print(json.dumps(summary) if args.json else format_summary(summary))
    return ExitCode.OK


def _compare(argv: Sequence[str]) -> int:
    p = _Parser(prog=f"{PROG} compare", description="Two saved snapshots side by side.")
    p.add_argument("a", metavar="A", help="first snapshot (folder or snapshot.json)")
    p.add_argument("b", metavar="B", help="second snapshot")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.add_argument("--fail-on-regression", type=float, metavar="PCT",
                   help="exit 1 when B's p99 (total) or success rate is worse than A's by more "
                   "than PCT percent")
    args = p.parse_args(argv)
    if args.fail_on_regression is not None and not 0 <= args.fail_on_regression < float("inf"):
        raise UsageError(f"--fail-on-regression: must be >= 0, got {args.fail_on_regression:g}")
    from webchat_tui.summary import compare_summaries, format_compare

    a, b = _load_summary(args.a), _load_summary(args.b)
    result = compare_summaries(a, b, fail_on_regression=args.fail_on_regression)
    if args.json:
        print(json.dumps({"a": args.a, "b": args.b, **result}))
    else:
        print(format_compare(a, b, names=(args.a, args.b), color=sys.stdout.isatty(),
                             fail_on_regression=args.fail_on_regression))
    return ExitCode.FAILED if result["failed"] else ExitCode.OK


def _open(argv: Sequence[str]) -> int:
    p = _Parser(prog=f"{PROG} open", description="Reopen a saved snapshot in the dashboard, "
                "read-only: step through its timeline with the arrow keys.")
    p.add_argument("snapshot", metavar="SNAPSHOT", help="snapshot folder or its snapshot.json")
    p.add_argument("--theme", metavar="NAME", help="dashboard theme")
    args = p.parse_args(argv)
    from webchat_tui.snapshot import SnapshotError, read_snapshot

    try:
        saved = read_snapshot(args.snapshot)   # before Textual starts: errors stay one line
    except SnapshotError as exc:
        raise UsageError(str(exc)) from None
    from webchat_tui.tui.replay import run_replay

    return run_replay(saved, theme=args.theme)


def _demo_server(argv: Sequence[str]) -> int:
    from webchat_tui.demo.server import main as demo_main

    return demo_main(list(argv))


SUBCOMMANDS = {"demo-server": _demo_server, "report": _report, "compare": _compare,
               "open": _open}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in SUBCOMMANDS:
            return SUBCOMMANDS[argv[0]](argv[1:])
        args = run_parser().parse_args(argv)
        return _run(build_config(args), args)
    except (UsageError, ConfigError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # `webchat-tui report X | head`: the reader left, which is not an error. Point stdout at
        # /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK
    except SystemExit as exc:  # --help / --version, or a sub-command's own parser
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        return ExitCode.USAGE
    except Exception as exc:
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        print(f"{PROG}: internal error: {type(exc).__name__}: {exc} "
              f"(set {DEBUG_ENV}=1 for the traceback)", file=sys.stderr)
        return ExitCode.INTERNAL
