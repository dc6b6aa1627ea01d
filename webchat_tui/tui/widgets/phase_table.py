"""PhaseTable: p50/p90/p99/max and count for every phase, start_lag included."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from textual.widgets import DataTable

ROWS = ("create", "connect", "send", "first_reply", "reply", "total", "itl", "start_lag")
COLUMNS = ("count", "p50", "p90", "p99", "max")


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


class PhaseTable(DataTable):
    DEFAULT_CSS = """
    PhaseTable {
        height: auto;
        max-height: 100%;
        border: round $primary 60%;
        border-title-color: $foreground;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=True, show_cursor=False)
        self._shown: dict[str, tuple[str, ...]] = {}

    def on_mount(self) -> None:
        self.border_title = "Phases (ms)"
        self.add_column("phase", key="phase")
        for column in COLUMNS:
            self.add_column(column, key=column)

    def show(self, rows: Mapping[str, PhaseRow], view: str) -> None:
        self.border_title = f"Phases (ms) · {view}"
        for name in ROWS:
            row = rows.get(name)
            if row is None or (name == "itl" and row.count == 0):
                continue   # itl only for the openai flow
            cells = (f"{row.count:,}", *(format_cell_ms(v, row.count)
                                        for v in (row.p50, row.p90, row.p99, row.max)))
            if self._shown.get(name) == cells:
                continue   # unchanged row: no work
            if name not in self._shown:
                self.add_row(name, *cells, key=name)
            else:
                for column, value in zip(COLUMNS, cells):
                    self.update_cell(name, column, value, update_width=True)
            self._shown[name] = cells

    def reset(self) -> None:
        self.clear()
        self._shown.clear()
