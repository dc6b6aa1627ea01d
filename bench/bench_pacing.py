"""Pacing benchmark (DESIGN.md section 9): the real pacer + run_pacer, headless, no network.

For each rate it runs the scheduler for --seconds, starting a no-op task per arrival, and prints
from that same run: achieved/target arrival ratio and start_lag p50/p99 (actual - intended start,
recorded by the real Recorder), with PASS/FAIL against the targets (within 1%, p99 <= 5 ms).

    .venv/bin/python bench/bench_pacing.py [--seconds 10] [--rates 10,100,200] [--poisson]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from webchat_tui.engine.metrics import START_LAG, Recorder
from webchat_tui.engine.pacer import Pacer, run_pacer

RATIO_TOLERANCE = 0.01
LAG_P99_MAX_MS = 5.0


async def _noop() -> None:
    return None


async def measure(rate: float, seconds: float, arrivals: str) -> tuple[float, float, float]:
    """(achieved/target ratio, start_lag p50 ms, p99 ms) for one run at `rate`."""
    t0 = time.perf_counter_ns()
    rec = Recorder(t0, max_inflight=1_000_000, target_rate=rate, send_mode="wait")
    pacer = Pacer(rate, arrivals=arrivals, seed=1, start_ns=t0)  # type: ignore[arg-type]
    tasks: set[asyncio.Task] = set()

    def start_session(intended_ns: int) -> None:
        rec.session_started(intended_ns, time.perf_counter_ns())
        task = asyncio.create_task(_noop())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    end_ns = t0 + int(seconds * 1e9)
    started = await run_pacer(pacer, start_session, asyncio.Event(), end_ns=end_ns)
    await asyncio.gather(*tasks)
    lag = rec.snapshot().phases[START_LAG]
    return started / (rate * seconds), lag.p50, lag.p99


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="run length per rate")
    parser.add_argument("--rates", default="10,100,200", help="comma-separated sessions/s")
    parser.add_argument("--poisson", action="store_true", help="Poisson arrivals (ratio is "
                        "then statistical: expect a few %% at low rates)")
    args = parser.parse_args(argv)
    try:
        rates = [float(r) for r in args.rates.split(",")]
    except ValueError:
        print(f"--rates: expected numbers like 10,100,200, got {args.rates!r}", file=sys.stderr)
        return 2
    arrivals = "poisson" if args.poisson else "constant"
    print(f"pacing, {arrivals} arrivals, {args.seconds:g} s per rate "
          f"(targets: ratio within {RATIO_TOLERANCE:.0%}, start_lag p99 <= {LAG_P99_MAX_MS} ms)")
    print(f"{'rate/s':>8} {'achieved/target':>16} {'lag p50 ms':>11} {'lag p99 ms':>11}  result")
    all_ok = True
    for rate in rates:
        ratio, p50, p99 = asyncio.run(measure(rate, args.seconds, arrivals))
        ok = abs(ratio - 1) <= RATIO_TOLERANCE and p99 <= LAG_P99_MAX_MS
        all_ok &= ok
        print(f"{rate:>8g} {ratio:>16.4f} {p50:>11.3f} {p99:>11.3f}  {'PASS' if ok else 'FAIL'}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
