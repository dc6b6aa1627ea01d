"""Autosave: keep the run's snapshot folder fresh so a killed process loses at most N seconds.

`RunSaver` owns one run's folder: the first save creates `<UTC time>-<preset>/`, every later save
(autosave or the final one) rewrites snapshot.json in it atomically. It is thread-safe: saves run
in worker threads (the JSON encoding and the file write must stay off the engine's event loop
and off the UI thread). Two rules keep the folder right when saves overlap:
- once the final snapshot is written, a late autosave is dropped (it holds older numbers);
- `new_run()` starts a new folder; an autosave of the previous run that finishes after it is
  dropped (it belongs to the old run).

`autosave_loop` is the headless side: it takes the snapshot on the loop and saves it in a thread.
"""

from __future__ import annotations

import asyncio
import os
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from webchat_tui.config import RunConfig
from webchat_tui.engine.metrics import MetricsSnapshot
from webchat_tui.snapshot import save_snapshot


class RunSaver:
    def __init__(self, config: RunConfig, base_dir: str | os.PathLike) -> None:
        self.config = config
        self.base_dir = Path(base_dir)
        self.folder: Path | None = None
        self._lock = threading.Lock()
        self._generation = 0
        self._final_written = False
        self._started_at: datetime | None = None   # stable across the run's saves
        self.saves = 0                              # files written (tests, reports)

    @property
    def generation(self) -> int:
        """Take this with the snapshot; pass it to save() so a stale save can be told apart."""
        return self._generation

    def new_run(self) -> None:
        with self._lock:
            self._generation += 1
            self.folder, self._final_written, self._started_at = None, False, None

    def save(self, snapshot: MetricsSnapshot, *, final: bool = False, svg: str | None = None,
             generation: int | None = None) -> Path | None:
        """Write the snapshot into the run's folder; None when it was dropped as stale.
        OSError propagates (the caller shows one line)."""
        with self._lock:
            if generation is not None and generation != self._generation:
                return None
            if self._final_written and not final:
                return None
            if self._started_at is None:
                self._started_at = (datetime.now(timezone.utc)
                                    - timedelta(seconds=snapshot.elapsed_s))
            self.folder = save_snapshot(snapshot, self.config, self.base_dir, svg=svg,
                                        folder=self.folder, final=final,
                                        started_at=self._started_at)
            self._final_written = self._final_written or final
            self.saves += 1
            return self.folder


async def autosave_loop(saver: RunSaver, take: Callable[[], MetricsSnapshot], every_s: float,
                        on_error: Callable[[str], None]) -> None:
    """Every `every_s` seconds: `take()` on the loop (cheap), encode + write in a thread.
    Cancel it to stop; a failed write is reported once per distinct message and retried."""
    last_error = ""
    while True:
        await asyncio.sleep(every_s)
        snapshot = take()
        try:
            await asyncio.to_thread(saver.save, snapshot)
        except OSError as exc:
            message = f"autosave failed: {exc}"
            if message != last_error:
                on_error(message)
            last_error = message
        else:
            last_error = ""
