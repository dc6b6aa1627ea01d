"""Messages the dashboard posts to itself from worker threads (thread-safe post_message)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.message import Message


@dataclass
class SnapshotSaved(Message):
    path: Path
    final: bool = False


@dataclass
class SnapshotFailed(Message):
    reason: str   # one line for the user
