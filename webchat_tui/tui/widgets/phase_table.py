"""PhaseTable: p50/p90/p99/max and count for every phase, start_lag included.

A Static holding pre-formatted text rather than a DataTable: at 4 Hz a DataTable re-measured its
column widths and re-rendered every cell, which was most of the dashboard's CPU (profiled with
bench/bench_dashboard.py). The grid here has fixed column widths, so an update never needs a
layout pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

ROWS = ("create", "connect", "send", "first_reply", "reply", "total", "itl", "start_lag")
COLUMNS = ("count", "p50", "p90", "p99", "max")
NAME_WIDTH = 11
CELL_WIDTH = 7   # 11 + 5 x 7 + padding and border = the 50 columns app.tcss gives it


@dataclass(frozen=True)
class PhaseRow:
    count: int
    p50: float
    p90: float
    p99: float
    max: float


def format_cell_ms(ms: float, count: int) -> str:
    if count == 0:
        return "-"
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.1f}"


def render_rows(rows: Mapping[str, PhaseRow]) -> Text:
    """The table as text: a header line and one line per phase present (itl only when used)."""
    text = Text(no_wrap=True, overflow="crop")
    text.append(f"{'phase':<{NAME_WIDTH}}" + "".join(f"{c:>{CELL_WIDTH}}" for c in COLUMNS),
                style="bold")
    for name in ROWS:
        row = rows.get(name)
        if row is None or (name == "itl" and row.count == 0):
            continue   # itl only for the openai flow
        cells = (f"{row.count:,}", *(format_cell_ms(v, row.count)
                                    for v in (row.p50, row.p90, row.p99, row.max)))
        text.append("\n")
        text.append(f"{name:<{NAME_WIDTH}}", style="bold" if name == "total" else "")
        text.append("".join(f"{cell:>{CELL_WIDTH}}" for cell in cells))
    return text


class PhaseTable(Static):
    DEFAULT_CSS = """
    PhaseTable {
        height: 100%;
        border: round $primary 60%;
        border-title-color: $foreground;
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._shown: tuple[Mapping[str, PhaseRow], str] | None = None

    def on_mount(self) -> None:
        self.border_title = "Phases (ms)"

    def show(self, rows: Mapping[str, PhaseRow], view: str) -> None:
        if self._shown == (rows, view):
            return   # unchanged: no work
        self._shown = (dict(rows), view)
        self.border_title = f"Phases (ms) · {view}"
        self.update(render_rows(rows), layout=False)

    def reset(self) -> None:
        self._shown = None
        self.update("", layout=False)
