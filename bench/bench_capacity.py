"""Client CPU per session: the full webchat flow against the demo server with --mock-ai.

    .venv/bin/python bench/bench_capacity.py [--rate 200] [--duration 5] [--flow webchat]
                                             [--transport httpx|aiohttp|both]

The demo server is a child process, so time.process_time() here is the engine's own CPU
(pacer, flows, httpx, recorder). Prints one line of ratios from this run; compare with the
reference points in DESIGN.md section 9 (goal <= 1.5 ms per session). `--transport both` runs
httpx then aiohttp against the same server in this one invocation (each after an untimed
warm-up run) and prints the CPU ms per session ratio aiohttp/httpx.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from webchat_tui.config import RunConfig
from webchat_tui.demo.process import DemoServer
from webchat_tui.engine.engine import LoadEngine


async def measure(url: str, rate: float, duration_s: float, flow: str,
                  transport: str = "httpx") -> dict[str, float]:
    engine = LoadEngine(RunConfig(target=url, rate=rate, duration_s=duration_s, flow=flow,
                                  threshold_ms=30_000, max_inflight=10_000, transport=transport))
    await engine.start()  # warm-up is outside the measurement
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await engine.wait_finished()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    snap = engine.snapshot()
    lag = snap.phases["start_lag"]
    return {"started": snap.started, "ok": snap.ok, "achieved": snap.started / duration_s,
            "cpu_ms_per_session": 1000 * cpu / max(1, snap.started), "cpu_share": cpu / wall,
            "lag_p99_ms": lag.p99, "total_p50_ms": snap.phases["total"].p50}


def line(args: argparse.Namespace, transport: str, r: dict[str, float]) -> str:
    return (f"{args.flow} on {transport} at {args.rate:g}/s for {args.duration:g} s: started "
            f"{r['started']} (achieved {r['achieved']:.1f}/s), ok {r['ok']}, client CPU "
            f"{r['cpu_ms_per_session']:.2f} ms/session ({100 * r['cpu_share']:.0f}% of a core), "
            f"start_lag p99 {r['lag_p99_ms']:.2f} ms, total p50 {r['total_p50_ms']:.1f} ms")


async def run_all(url: str, args: argparse.Namespace, transports: list[str]) -> dict[str, dict]:
    results = {}
    for transport in transports:
        if len(transports) > 1:  # same conditions for each: lazy imports, server caches warm
            await measure(url, args.rate, min(1.0, args.duration), args.flow, transport)
        results[transport] = await measure(url, args.rate, args.duration, args.flow, transport)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=200)
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--flow", choices=("webchat", "openai"), default="webchat")
    p.add_argument("--transport", choices=("httpx", "aiohttp", "both"), default="httpx")
    args = p.parse_args()
    transports = ["httpx", "aiohttp"] if args.transport == "both" else [args.transport]
    with DemoServer(mock_ai=True, extra_args=["--db-pool", "1000"]) as demo:
        results = asyncio.run(run_all(demo.url, args, transports))
    for transport, r in results.items():
        print(line(args, transport, r))
    if len(results) == 2:
        a, h = results["aiohttp"]["cpu_ms_per_session"], results["httpx"]["cpu_ms_per_session"]
        print(f"CPU ms per session aiohttp/httpx: {a / h:.2f} ({h / a:.2f}x less CPU on aiohttp)")


if __name__ == "__main__":
    main()
