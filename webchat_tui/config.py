"""Run configuration: RunConfig, presets, and the TOML target profile.

Everything the engine needs to run is in one frozen RunConfig built by cli.py. Validation errors
raise ConfigError with a message that names the offending flag or profile key; the CLI prints that
one line and exits 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SendMode = Literal["wait", "burst"]
Arrivals = Literal["constant", "poisson"]
Flow = Literal["webchat", "openai"]


class ConfigError(ValueError):
    """Bad user input: one clear line naming the field. CLI exit code 2."""


@dataclass(frozen=True)
class Preset:
    name: str
    rate: float            # sessions per second
    duration_s: float      # headless run length (the dashboard runs until quit unless asked)
    threshold_ms: float    # success threshold
    mock_ai: bool = False  # demo server only: instant AI replies, no provider budget


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("realistic", rate=5, duration_s=12, threshold_ms=30_000),
        Preset("capacity", rate=50, duration_s=2, threshold_ms=30_000, mock_ai=True),
        Preset("sustained", rate=5, duration_s=60, threshold_ms=30_000),
        Preset("burst", rate=100, duration_s=2, threshold_ms=30_000),
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
    demo: bool = False                       # target is the embedded demo server
    model: str = "demo-model"                # openai flow: model name

    def redacted(self) -> dict:
        """Plain dict safe for snapshots/logs: header values are never included."""
        raise NotImplementedError  # implemented with the profile loader
