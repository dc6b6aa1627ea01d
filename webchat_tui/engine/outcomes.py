"""The outcome taxonomy: every session ends in exactly one of these (DESIGN.md section 5)."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    OK = "ok"                          # reply within the success threshold
    SLOW = "slow"                      # reply, but after the threshold
    TIMEOUT = "timeout"                # no reply by threshold + grace
    SSE_MISS = "sse_miss"              # reply lost: server had no stream for the session
    RATE_LIMITED = "rate_limited"      # 429 or a rate-limit error event
    HTTP_ERROR = "http_error"          # non-2xx (status and phase kept)
    CONNECT_ERROR = "connect_error"    # refused, reset, DNS, TLS
    STREAM_CLOSED = "stream_closed"    # server closed the stream before the reply
    PROTOCOL_ERROR = "protocol_error"  # bad JSON, missing id, wrong content type, malformed SSE
    POOL_TIMEOUT = "pool_timeout"      # the *generator* ran out of connections: not server latency
    CANCELLED = "cancelled"            # the run was stopped before the session could finish


# Outcomes that count as "finished" for the success rate. CANCELLED sessions were cut off by the
# user stopping the run; they are reported but do not make the server look worse.
FINISHED = tuple(o for o in Outcome if o is not Outcome.CANCELLED)

FAILED = tuple(o for o in FINISHED if o is not Outcome.OK)


class SseMissKind(StrEnum):
    RACE = "race"  # message sent before the stream was ready
    LOST = "lost"  # stream was ready, message accepted, reply never came


def success_rate(ok: int, finished: int) -> float:
    """Success rate in percent: ok / finished. 0 finished -> 0.0 (nothing proven yet)."""
    return 100.0 * ok / finished if finished else 0.0
