"""DemoSettings: every knob of the demo server, validated in one place.

The CLI flags of `webchat-tui demo-server` map one to one onto these fields (`--ai-latency-ms` ->
`ai_latency_ms`). Validation raises ValueError naming the flag, so argparse can print it as its
one-line error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Bucket capacity when --provider-burst is not given: this many seconds of the RPM budget.
# 10 s at 400/min = 66 requests; the seed's 100/s x 2 s burst then gets ~40% through (its 39%).
DEFAULT_BURST_SECONDS = 10.0


@dataclass(frozen=True)
class DemoSettings:
    host: str = "127.0.0.1"
    port: int = 8765                     # 0 = a free port, printed on stdout
    provider_rpm: float = 400.0          # AI provider budget, requests per minute
    provider_burst: float | None = None  # token-bucket capacity; None = DEFAULT_BURST_SECONDS of rpm
    ai_latency_ms: float = 3000.0        # median AI reply time (lognormal)
    ai_latency_sigma: float = 0.4        # lognormal sigma; 0 = always the median
    tokens_per_reply: int = 20
    db_pool: int = 20                    # DB connection pool slots
    db_timeout_s: float = 5.0            # wait for a slot before db_pool_timeout
    db_write_ms: float = 2.0             # how long an insert holds a slot
    stream_register_delay_ms: float = 0.0  # SSE headers sent -> stream registered (the race window)
    stream_register_jitter_ms: float = 8.0  # plus a uniform 0..jitter: some races are won, some lost
    heartbeat_s: float = 15.0            # ": ping" comment on an idle stream
    session_ttl_s: float = 120.0         # idle sessions (no stream, no reply) are evicted after this
    max_body_bytes: int = 64 * 1024      # larger request bodies get 413
    mock_ai: bool = False                # instant replies, no latency, no provider budget
    log_file: str | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        _check(0 <= self.port <= 65535, "--port must be between 0 and 65535")
        _check(_finite(self.provider_rpm) and self.provider_rpm > 0, "--provider-rpm must be > 0")
        _check(self.provider_burst is None
               or (_finite(self.provider_burst) and self.provider_burst >= 1),
               "--provider-burst must be >= 1")
        _check(_finite(self.ai_latency_ms) and 0 <= self.ai_latency_ms <= 600_000,
               "--ai-latency-ms must be between 0 and 600000")
        _check(_finite(self.ai_latency_sigma) and 0 <= self.ai_latency_sigma <= 3,
               "--ai-latency-sigma must be between 0 and 3")
        _check(1 <= self.tokens_per_reply <= 10_000, "--tokens-per-reply must be between 1 and 10000")
        _check(1 <= self.db_pool <= 100_000, "--db-pool must be between 1 and 100000")
        _check(_finite(self.db_timeout_s) and 0 < self.db_timeout_s <= 3600,
               "--db-timeout-s must be > 0 and <= 3600")
        _check(_finite(self.db_write_ms) and 0 <= self.db_write_ms <= 60_000,
               "--db-write-ms must be between 0 and 60000")
        _check(_finite(self.stream_register_delay_ms) and 0 <= self.stream_register_delay_ms <= 60_000,
               "--stream-register-delay-ms must be between 0 and 60000")
        _check(_finite(self.stream_register_jitter_ms)
               and 0 <= self.stream_register_jitter_ms <= 60_000,
               "--stream-register-jitter-ms must be between 0 and 60000")
        _check(_finite(self.heartbeat_s) and 0 < self.heartbeat_s <= 3600,
               "--heartbeat-s must be > 0 and <= 3600")
        _check(_finite(self.session_ttl_s) and 0 < self.session_ttl_s <= 86_400,
               "--session-ttl-s must be > 0 and <= 86400")
        _check(1024 <= self.max_body_bytes <= 64 * 1024 * 1024,
               "--max-body-bytes must be between 1024 and 67108864")

    @property
    def bucket_capacity(self) -> float:
        if self.provider_burst is not None:
            return self.provider_burst
        return max(1.0, self.provider_rpm / 60.0 * DEFAULT_BURST_SECONDS)


def _finite(value: float) -> bool:
    return math.isfinite(value)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)
