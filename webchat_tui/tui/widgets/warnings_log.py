"""WarningsLog: recent engine warnings (SSE misses, rate limits, pool timeouts, ...).

Appends only warnings it has not shown yet: the whole-run total (sum of counts per kind) tells
how many are new, the snapshot's bounded ring holds the newest of them. The counts line has one
entry per kind, so each --log-pattern NAME (its lines are warnings of kind NAME) shows its own
count; given the snapshot's sse_miss mapping it also says how many misses the server's log
confirmed and how many miss lines named other clients' sessions.
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


SHORT_ID = 8  # enough to find the session in a server log; the whole id is in the snapshot


def format_warning(warning: WarningLine) -> str:
    """`  12.3s sse_miss 0a2a9912… server confirmed (race)`: time, kind and session first, as
    the panel is narrow; the message without the `kind: ` prefix the engine gives it."""
    message = warning.message.removeprefix(f"{warning.kind}: ")
    session = warning.session_id or ""
    if len(session) > SHORT_ID:
        session = session[:SHORT_ID] + "…"
    return " ".join(part for part in (f"{warning.t:6.1f}s", warning.kind, session, message)
                    if part)


def format_counts(counts: Mapping[str, int], sse_miss: Mapping[str, int] | None = None) -> str:
    """`sse_miss 12 (10 confirmed)  db_pool 3  foreign misses 2`, or "no warnings"."""
    sse_miss = sse_miss or {}
    parts = []
    for kind, n in sorted(counts.items()):
        if not n:
            continue
        confirmed = sse_miss.get("server_confirmed", 0) if kind == "sse_miss" else 0
        parts.append(f"{kind} {n:,}" + (f" ({confirmed:,} confirmed)" if confirmed else ""))
    if sse_miss.get("foreign"):
        parts.append(f"foreign misses {sse_miss['foreign']:,}")
    return "  ".join(parts) or "no warnings"


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

    def show(self, recent: Sequence[WarningLine], counts: Mapping[str, int],
             sse_miss: Mapping[str, int] | None = None) -> int:
        """Append the new warnings; returns how many lines were added. `sse_miss` is the
        snapshot's mapping (server_confirmed, foreign) for the counts line."""
        total = sum(counts.values())
        if total < self.shown_total:   # a new run started: counts went back down
            self.reset()
        new = min(total - self.shown_total, len(recent))
        if new > 0:
            self.query_one(Log).write_lines(format_warning(w) for w in recent[-new:])
        self.shown_total = total
        count_items = tuple(sorted(counts.items())) + tuple(sorted((sse_miss or {}).items()))
        if count_items != self._counts:
            self._counts = count_items
            self.query_one("#warning-counts", Static).update(format_counts(counts, sse_miss))
        return max(new, 0)

    def reset(self) -> None:
        self.query_one(Log).clear()
        self.shown_total = 0
