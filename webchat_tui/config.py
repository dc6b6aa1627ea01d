"""Run configuration: RunConfig, presets, and the TOML target profile.

Everything the engine needs to run is in one frozen RunConfig built by cli.py. Validation errors
raise ConfigError with a message that names the offending flag or profile key; the CLI prints that
one line and exits 2.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from typing import Literal
from urllib.parse import urlsplit

SendMode = Literal["wait", "burst"]
Arrivals = Literal["constant", "poisson"]
Flow = Literal["webchat", "openai"]


# sessions/s: a typo guard, far above what one engine drives. An absurd rate (1e308) would make
# the scheduler spin on arrivals it can never start; every way to set a rate checks this.
MAX_RATE = 100_000.0


class ConfigError(ValueError):
    """Bad user input: one clear line naming the field. CLI exit code 2."""


class ExitCode(IntEnum):
    """Process exit codes of the CLI (headless runs are meant for CI)."""
    OK = 0             # the run passed
    FAILED = 1         # success rate under --fail-under
    USAGE = 2          # bad flag, value, profile or snapshot file
    UNREACHABLE = 3    # the target (or the demo server) could not be reached at start
    INTERNAL = 4       # an unexpected error inside webchat-tui
    INTERRUPTED = 130  # Ctrl-C / SIGINT (the shell convention 128 + 2)


@dataclass(frozen=True)
class Preset:
    name: str
    rate: float            # sessions per second
    duration_s: float      # headless run length (the dashboard runs until quit unless asked)
    threshold_ms: float    # success threshold
    mock_ai: bool = False  # demo server only: instant AI replies, no provider budget
    send_mode: SendMode = "wait"  # burst: the seed's failing run posted before its stream was up


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("realistic", rate=5, duration_s=12, threshold_ms=30_000),
        Preset("capacity", rate=50, duration_s=2, threshold_ms=30_000, mock_ai=True),
        Preset("sustained", rate=5, duration_s=60, threshold_ms=30_000),
        Preset("burst", rate=100, duration_s=2, threshold_ms=30_000, send_mode="burst"),
    )
}


@dataclass(frozen=True)
class Stage:
    """Ramp linearly from the previous rate to `rate` over `duration_s` (k6 style)."""
    duration_s: float
    rate: float


@dataclass(frozen=True)
class RequestSpec:
    method: str
    path: str                       # may hold {session_id}, {prompt}, {n}
    json: object | None = None      # body template; placeholders in string values


@dataclass(frozen=True)
class TargetProfile:
    """How to talk to a web-chat API. Defaults are the embedded demo server's API."""
    name: str = "demo"
    base_url: str | None = None
    # Header templates as written in the profile (may hold ${VAR}); expanded at run time only.
    headers: tuple[tuple[str, str], ...] = ()
    secret_headers: frozenset[str] = frozenset()   # extra header names the profile marks secret
    create: RequestSpec = RequestSpec("POST", "/api/sessions")
    session_id_pointer: str = "/session_id"        # RFC 6901 JSON pointer into the create response
    stream: RequestSpec = RequestSpec("GET", "/api/sessions/{session_id}/events")
    ready_events: tuple[str, ...] = ("ready",)
    token_events: tuple[str, ...] = ("token",)
    reply_events: tuple[str, ...] = ("reply",)
    error_events: tuple[str, ...] = ("error",)
    send: RequestSpec = RequestSpec("POST", "/api/sessions/{session_id}/messages",
                                    json={"text": "{prompt}"})
    prompts: tuple[str, ...] = ("Hello!", "What are your opening hours?",
                                "Can I change my delivery address?", "Do you ship abroad?")


@dataclass(frozen=True)
class RunConfig:
    target: str                              # base URL actually used
    preset: str = "realistic"
    flow: Flow = "webchat"
    profile: TargetProfile = field(default_factory=TargetProfile)
    rate: float = 5.0                        # initial target rate, sessions/s
    duration_s: float | None = 12.0          # None = until stopped (dashboard default)
    stages: tuple[Stage, ...] = ()           # if given, the run follows them and lasts their sum
    arrivals: Arrivals = "constant"
    seed: int | None = None
    send_mode: SendMode = "wait"
    threshold_ms: float = 30_000.0
    grace_ms: float = 5_000.0                # after threshold, before a session becomes timeout
    max_inflight: int = 10_000               # arrivals over the cap are dropped and counted
    fail_under: float = 95.0                 # headless: success rate % below which exit 1
    snapshot_dir: str | None = None
    server_log: str | None = None            # follow this log file for SSE-miss lines
    miss_pattern: str | None = None          # --miss-pattern (None: logpatterns' default)
    log_patterns: tuple[tuple[str, str], ...] = ()  # --log-pattern (name, regex): lines to count
    demo: bool = False                       # target is the embedded demo server
    model: str = "demo-model"                # openai flow: model name
    autosave_s: float = 10.0                 # refresh the run's snapshot every N s (0 = off)
    record_path: str | None = None           # --record: one JSON line per finished session
    transport: Literal["httpx", "aiohttp"] = "httpx"  # --transport: the engine's HTTP transport

    def redacted(self) -> dict:
        """Plain dict safe for snapshots/logs: header values are never included.

        Only header NAMES are kept: any header may carry a credential, and the templates are
        not worth the risk (a literal token written straight into the profile file)."""
        data = asdict(self)
        profile = data["profile"]
        profile["headers"] = sorted({name for name, _ in self.profile.headers})
        profile["secret_headers"] = sorted(self.profile.secret_headers)
        data["stages"] = list(data["stages"])
        data["log_patterns"] = [list(pair) for pair in self.log_patterns]
        # asdict keeps tuples; JSON writes them as lists anyway, make it explicit for equality.
        for key in ("ready_events", "token_events", "reply_events", "error_events", "prompts"):
            profile[key] = list(profile[key])
        return data


# --- value parsers shared by the CLI and the profile loader ------------------------------------

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str, *, field: str) -> float:
    """'30' / '30s' / '500ms' / '1m' / '1h' -> seconds (> 0)."""
    m = _DURATION_RE.match(text)
    if not m:
        raise ConfigError(f"{field}: expected a duration like 30, 30s, 500ms or 1m, got {text!r}")
    seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
    if seconds <= 0:
        raise ConfigError(f"{field}: must be > 0, got {text!r}")
    return seconds


def parse_stages(text: str, *, field: str = "--stages") -> tuple[Stage, ...]:
    """'5s:10,10s:50' -> (Stage(5, 10), Stage(10, 50)): DURATION:RATE pairs, rate >= 0."""
    stages = []
    for part in text.split(","):
        duration, sep, rate = part.strip().partition(":")
        if not sep:
            raise ConfigError(f"{field}: expected DURATION:RATE pairs like 5s:10,1m:50, "
                              f"got {part.strip()!r}")
        try:
            rate_value = float(rate)
        except ValueError:
            raise ConfigError(f"{field}: rate in {part.strip()!r} is not a number") from None
        if not rate_value >= 0 or rate_value == float("inf"):
            raise ConfigError(f"{field}: rate in {part.strip()!r} must be >= 0")
        stages.append(Stage(parse_duration(duration, field=field), rate_value))
    return tuple(stages)


def validate_target_url(url: str, *, field: str) -> str:
    """An http(s) URL with a host; returned without a trailing slash (paths start with '/')."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(f"{field}: not a valid URL: {url!r} ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{field}: expected an http:// or https:// URL with a host, got {url!r}")
    return url.rstrip("/")
