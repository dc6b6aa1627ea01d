"""Dashboard cost: start_lag p99 and CPU at 100 sessions/s, headless vs with the dashboard.

Both runs use the same engine link against one embedded demo server (--mock-ai, 127.0.0.1):
`--link process` (the default, what the dashboard uses: engine in a child process) or `--link
thread` (engine in a thread of the UI's process, for comparison). CPU is this process's: with the
process link that is the UI alone; with the thread link it is UI + engine, so the UI's share is the
difference between the two runs.
The dashboard run drives DashboardApp through App.run_test (headless driver, full rendering of
every refresh), so the numbers include layout, plotext builds and screen composition.

    .venv/bin/python bench/bench_dashboard.py [--rate 100] [--seconds 10] [--link process|thread]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time

from webchat_tui.config import RunConfig
from webchat_tui.demo import DemoServer
from webchat_tui.engine.metrics import MetricsSnapshot
from webchat_tui.engine.runner import EngineThread
from webchat_tui.engine.worker import EngineProcess
from webchat_tui.tui.app import DashboardApp


LINKS = {"process": EngineProcess, "thread": EngineThread}


def run_headless(link_cls, config: RunConfig, seconds: float) -> tuple[MetricsSnapshot, float]:
    link = link_cls(config)
    link.start(timeout_s=30)
    cpu0 = time.process_time()
    time.sleep(seconds)
    cpu = time.process_time() - cpu0
    return link.stop(drain_s=1.0), cpu


async def _dashboard(link_cls, config: RunConfig, seconds: float, size: tuple[int, int]):
    link = link_cls(config)
    link.start(timeout_s=30)
    with tempfile.TemporaryDirectory() as runs:
        app = DashboardApp(link, config, snapshot_dir=runs)
        async with app.run_test(size=size) as pilot:
            cpu0 = time.process_time()
            await pilot.pause(seconds)
            cpu = time.process_time() - cpu0
            builds = app.throughput.build_count + app.latency.build_count
        return link.stop(drain_s=1.0), cpu, builds


def describe(name: str, snap: MetricsSnapshot, cpu: float, seconds: float) -> str:
    lag = snap.phases["start_lag"]
    return (f"{name:<10} start_lag p99 {lag.p99:7.2f} ms  max {lag.max:7.2f} ms  "
            f"started {snap.started:6d}  achieved {snap.started / max(snap.elapsed_s, 1e-9):7.1f}/s"
            f"  CPU {100 * cpu / seconds:5.1f}% of a core")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--link", choices=sorted(LINKS), default="process")
    args = parser.parse_args()
    link_cls = LINKS[args.link]
    os.environ.setdefault("XDG_CONFIG_HOME", tempfile.mkdtemp())   # no user themes in a bench
    with DemoServer(mock_ai=True) as demo:
        config = RunConfig(target=demo.url, rate=args.rate, duration_s=None, demo=True,
                           preset="capacity")
        headless, cpu_h = run_headless(link_cls, config, args.seconds)
        print(describe("headless", headless, cpu_h, args.seconds))
        dash, cpu_d, builds = asyncio.run(_dashboard(link_cls, config, args.seconds,
                                                         (120, 40)))
        print(describe("dashboard", dash, cpu_d, args.seconds))
    lag_h = headless.phases["start_lag"].p99
    lag_d = dash.phases["start_lag"].p99
    print(f"plot builds in {args.seconds:g} s: {builds}")
    print(f"start_lag p99 ratio dashboard/headless: {lag_d / max(lag_h, 1e-3):.2f}x "
          f"(targets: <= 5 ms headless, <= 15 ms with the dashboard)")
    ui_cpu = cpu_d if args.link == "process" else cpu_d - cpu_h
    print(f"link {args.link}: UI CPU cost: {100 * ui_cpu / args.seconds:.1f}% of one core "
          f"(target <= 10%)")


if __name__ == "__main__":
    main()
