"""LiveText: a Static for text that changes every tick but rarely changes height.

Static.update() asks for a layout pass of the whole screen by default; at 4 Hz those passes were
most of the dashboard's CPU (bench/bench_dashboard.py). LiveText asks for one only when the number
of rows the text occupies at the widget's width changes (a new outcome line, a wrapped header).
"""

from __future__ import annotations

from rich.cells import cell_len
from textual.content import Content
from textual.widgets import Static


def display_rows(markup: str, width: int) -> int:
    """Rows `markup` takes when wrapped at `width` cells (0 or less: unknown yet, count lines)."""
    lines = Content.from_markup(markup).plain.split("\n")
    if width <= 0:
        return len(lines)
    return sum(max(1, -(-cell_len(line) // width)) for line in lines)


class LiveText(Static):
    def __init__(self, content: str = "", **kwargs) -> None:
        super().__init__(content, **kwargs)
        self._rows: tuple[int, int] | None = None  # (width, rows) of the text shown

    def set_text(self, markup: str) -> None:
        width = self.content_region.width
        rows = (width, display_rows(markup, width))
        self.update(markup, layout=rows != self._rows)
        self._rows = rows
