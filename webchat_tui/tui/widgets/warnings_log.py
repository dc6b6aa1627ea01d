"""WarningsLog: recent engine warnings (SSE misses, rate limits, pool timeouts, ...).

Appends only warnings it has not shown yet: the whole-run total (sum of counts per kind) tells
how many are new, the snapshot's bounded ring holds the newest of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Log, Static

MAX_LINES = 500


class WarningLine(Protocol):
    """Any plain value with these fields (the engine's Warning dataclass fits)."""
    t: float
    kind: str
    message: str
    session_id: str | None


def format_warning(warning: WarningLine) -> str:
    session = f" [session {warning.session_id}]" if warning.session_id else ""
    return f"{warning.t:7.1f}s {warning.kind:<13} {warning.message}{session}"


class WarningsLog(Vertical):
    DEFAULT_CSS = """
    WarningsLog {
        border: round $warning 60%;
        border-title-color: $foreground;
    }
    WarningsLog #warning-counts {
        height: auto;
        color: $warning;
        padding: 0 1;
    }
    WarningsLog Log {
        height: 1fr;
        background: $surface;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.shown_total = 0
        self._counts: tuple[tuple[str, int], ...] = ()

    def compose(self) -> ComposeResult:
        yield Static("no warnings", id="warning-counts")
        yield Log(max_lines=MAX_LINES, auto_scroll=True)

    def on_mount(self) -> None:
        self.border_title = "Warnings"

    def show(self, recent: Sequence[WarningLine], counts: Mapping[str, int]) -> int:
        """Append the new warnings; returns how many lines were added."""
        total = sum(counts.values())
        if total < self.shown_total:   # a new run started: counts went back down
            self.reset()
        new = min(total - self.shown_total, len(recent))
        if new > 0:
            self.query_one(Log).write_lines(format_warning(w) for w in recent[-new:])
        self.shown_total = total
        count_items = tuple(sorted(counts.items()))
        if count_items != self._counts:
            self._counts = count_items
            label = "  ".join(f"{kind} {n:,}" for kind, n in count_items if n) or "no warnings"
            self.query_one("#warning-counts", Static).update(label)
        return max(new, 0)

    def reset(self) -> None:
        self.query_one(Log).clear()
        self.shown_total = 0
