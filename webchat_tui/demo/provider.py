"""The mock AI provider: an RPM budget (token bucket), lognormal latency and canned words."""

from __future__ import annotations

import math
import random
import time

from webchat_tui.demo.settings import DemoSettings
from webchat_tui.demo.state import Clock

# Share of the latency before the first token (time to first token); the other tokens follow
# evenly until the whole latency has passed.
FIRST_TOKEN_SHARE = 0.2

_WORDS = (
    "Thanks", "for", "your", "message", "our", "team", "is", "happy", "to", "help", "with",
    "orders", "delivery", "returns", "and", "opening", "hours", "we", "ship", "to", "most",
    "countries", "you", "can", "change", "the", "address", "in", "account", "settings", "any",
    "time", "before", "dispatch", "please", "let", "us", "know", "if", "there", "is", "anything",
    "else",
)


class TokenBucket:
    """Refills `rate_per_s` tokens per second up to `capacity`; starts full."""

    def __init__(self, rate_per_s: float, capacity: float, clock: Clock = time.monotonic) -> None:
        self._rate = rate_per_s
        self._capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def try_take(self) -> bool:
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def seconds_until_token(self) -> float:
        self._refill()
        return max(0.0, (1.0 - self._tokens) / self._rate)


class MockProvider:
    def __init__(self, settings: DemoSettings, rng: random.Random,
                 clock: Clock = time.monotonic) -> None:
        self.bucket = TokenBucket(settings.provider_rpm / 60.0, settings.bucket_capacity, clock)
        self._rng = rng
        self._median_s = settings.ai_latency_ms / 1000.0
        self._sigma = settings.ai_latency_sigma

    def allow(self) -> bool:
        """One provider request: False means the provider answered 429."""
        return self.bucket.try_take()

    def latency_s(self) -> float:
        if self._median_s <= 0:
            return 0.0
        if self._sigma == 0:
            return self._median_s
        return self._rng.lognormvariate(math.log(self._median_s), self._sigma)

    def words(self, count: int) -> list[str]:
        return [self._rng.choice(_WORDS) for _ in range(count)]


def deltas(words: list[str]) -> list[str]:
    """Token texts as streamed: words with a leading space after the first one."""
    return [word if i == 0 else " " + word for i, word in enumerate(words)]


def token_offsets(latency_s: float, count: int) -> list[float]:
    """Seconds after the request at which each of `count` tokens is emitted (last one at latency)."""
    if count == 1:
        return [latency_s]
    first = latency_s * FIRST_TOKEN_SHARE
    step = (latency_s - first) / (count - 1)
    return [first + step * i for i in range(count)]
