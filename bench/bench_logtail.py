"""LogTail cost: CPU per 10k log lines, direct reads vs a read thread, prefilter vs none.

    .venv/bin/python bench/bench_logtail.py [--lines 200000]

Prints ratios measured in this one run (CPU = time.process_time, so the read thread counts too):
  1. catch-up over a pre-written file (pure tail cost per 10k lines),
  2. a live flood of 10k lines/s from a separate writer process (CPU share, loop max gap),
  3. idle polling cost (no new lines).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from webchat_tui.engine.logtail import DEFAULT_MISS_PATTERN, LogTail

STAMP = "2026-12-04 16:31:02,123"
EXTRA = {"db_pool": r"QueuePool limit of size \d+",
         "closed": r"stream closed for (?P<session_id>\w+)"}
NO_PREFIX = {"error": r"(ERROR|CRITICAL) "}  # no literal prefix: tested against every line


def log_lines(n: int) -> str:
    """A realistic mix: 10% miss lines, the rest access-log style INFO lines (~90 bytes each)."""
    return "".join(
        f"{STAMP} WARNING SSE connection not found for session_id: {i:032x}\n" if i % 10 == 0
        else f"{STAMP} INFO 127.0.0.1 - \"POST /api/sessions/{i:032x}/messages\" 202\n"
        for i in range(n))


def classify(_session_id: str) -> str:
    return "foreign"


async def catch_up(path: Path, lines: int, **kwargs: object) -> float:
    """CPU ms per 10k lines to process a pre-written file from its start."""
    tail = LogTail(path, on_miss=classify, from_end=False, **kwargs)  # type: ignore[arg-type]
    stop = asyncio.Event()
    cpu0 = time.process_time()
    task = asyncio.create_task(tail.run(stop))
    while tail.stats.lines < lines:
        await asyncio.sleep(0.001)
    cpu = time.process_time() - cpu0
    stop.set()
    await task
    return cpu * 1000 / (lines / 10_000)


def naive_cost(text: str, lines: int) -> float:
    """Baseline: split into lines and run every regex on every line (no prefilter)."""
    regexes = [re.compile(DEFAULT_MISS_PATTERN), *(re.compile(p) for p in EXTRA.values())]
    cpu0 = time.process_time()
    for line in text.split("\n"):
        for regex in regexes:
            regex.search(line)
    return (time.process_time() - cpu0) * 1000 / (lines / 10_000)


WRITER = """
import sys, time
path, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
line = "{stamp} INFO 127.0.0.1 - \\"POST /api/sessions/x/messages\\" 202\\n"
miss = "{stamp} WARNING SSE connection not found for session_id: %d\\n"
t0 = time.monotonic(); n = 0
with open(path, "a") as f:
    while (now := time.monotonic() - t0) < seconds:
        due = int(now * rate)
        f.write("".join(miss % i if i % 10 == 0 else line for i in range(n, due))); f.flush()
        n = due
        time.sleep(0.005)
print(n)
""".replace("{stamp}", STAMP)


async def live_flood(path: Path, read_in_thread: bool, with_ticker: bool, rate: int = 10_000,
                     seconds: float = 3.0) -> tuple[float, float, int, int]:
    """(CPU % of one core, loop max gap ms, lines written, lines seen) at `rate` lines/s.

    The ticker that measures the loop's max gap costs CPU itself: measure CPU without it.
    """
    path.write_bytes(b"")
    tail = LogTail(path, on_miss=classify, patterns=EXTRA, read_in_thread=read_in_thread)
    tail.start()
    max_gap = 0.0
    done = False

    async def ticker() -> None:
        nonlocal max_gap
        while with_ticker and not done:
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            max_gap = max(max_gap, time.perf_counter() - t - 0.001)

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.2)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, str(path), str(rate), str(seconds),
        stdout=subprocess.PIPE)
    out, _ = await writer.communicate()
    written = int(out)
    deadline = time.monotonic() + 10
    while tail.stats.lines < written and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    done = True
    await tick
    await tail.stop()
    return 100 * cpu / wall, max_gap * 1000, written, tail.stats.lines


async def idle_cost(path: Path, seconds: float = 2.0) -> float:
    """CPU ms per second of following a file that does not change (poll_s = 0.1)."""
    tail = LogTail(path, on_miss=classify)
    tail.start()
    await asyncio.sleep(0.2)
    cpu0 = time.process_time()
    await asyncio.sleep(seconds)
    cpu = time.process_time() - cpu0
    await tail.stop()
    return cpu * 1000 / seconds


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "server.log"
        text = log_lines(args.lines)
        path.write_text(text)
        print(f"catch-up over {args.lines} lines ({path.stat().st_size / 1e6:.1f} MB), "
              "CPU ms per 10k lines (best of 3):")
        rows = {
            "direct reads, miss pattern only": {},
            "direct reads, + 2 prefixed patterns": {"patterns": EXTRA},
            "direct reads, + 1 pattern without prefix": {"patterns": NO_PREFIX},
            "read thread,  + 2 prefixed patterns": {"patterns": EXTRA, "read_in_thread": True},
        }
        results = {}
        for name, kwargs in rows.items():
            results[name] = min([await catch_up(path, args.lines, **kwargs) for _ in range(3)])
            print(f"  {name:42s} {results[name]:6.2f} ms")
        naive = min(naive_cost(text, args.lines) for _ in range(3))
        print(f"  {'naive: 3 regexes on every line':42s} {naive:6.2f} ms")
        direct = results["direct reads, + 2 prefixed patterns"]
        thread = results["read thread,  + 2 prefixed patterns"]
        print(f"  ratio thread / direct = {thread / direct:.2f}; "
              f"naive / prefiltered = {naive / direct:.1f}")

        print("live flood, 10k lines/s for 3 s from a writer process:")
        for read_in_thread in (False, True):
            flood = Path(tmp) / "flood.log"
            cpu, _, written, seen = await live_flood(flood, read_in_thread, with_ticker=False)
            _, gap, written2, seen2 = await live_flood(flood, read_in_thread, with_ticker=True)
            mode = "read thread" if read_in_thread else "direct reads"
            print(f"  {mode:12s} CPU {cpu:5.1f}% of a core, loop max gap {gap:5.1f} ms, "
                  f"lines {seen}/{written} and {seen2}/{written2}")
        print(f"idle following: {await idle_cost(path):.2f} ms CPU per second")


if __name__ == "__main__":
    asyncio.run(main())
