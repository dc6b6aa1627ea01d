"""LatencyHistogram: log-spaced bins of the `total` phase with p50/p90/p99 marked."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .plot_view import PlotView


@dataclass(frozen=True)
class HistogramData:
    edges_ms: tuple[float, ...]    # lower edge of each bin
    counts: tuple[int, ...]
    p50: float
    p90: float
    p99: float
    view: str = "whole run"        # or "last 10 s"


def format_ms(ms: float) -> str:
    if ms >= 10_000:
        return f"{ms / 1000:.0f}s"
    if ms >= 1000:
        return f"{ms / 1000:.1f}s"
    if ms >= 10:
        return f"{ms:.0f}ms"
    return f"{ms:.1f}ms"


def bin_position(edges: tuple[float, ...], value: float) -> float:
    """Fractional bin index of `value` on the log-spaced axis (for percentile markers)."""
    if not edges or value <= edges[0]:
        return 0.0
    for i in range(len(edges) - 1):
        low, high = edges[i], edges[i + 1]
        if value < high:
            return i + (math.log(value / low) / math.log(high / low) if low > 0 else 0.0)
    last = len(edges) - 1
    if last > 0 and edges[last - 1] > 0:
        ratio = edges[last] / edges[last - 1]
        return last + min(1.0, math.log(value / edges[last]) / math.log(ratio))
    return float(last)


class LatencyHistogram(PlotView):
    def on_mount(self) -> None:
        self.set_view_title("whole run")

    def set_view_title(self, view: str) -> None:
        self.border_title = f"Latency total · {view}  [$accent]│ p50/p90/p99[/]"

    def draw(self, figure, data: object, width: int, height: int) -> bool:
        if not isinstance(data, HistogramData) or not data.counts or sum(data.counts) == 0:
            return False
        xs = list(range(len(data.counts)))
        bars = figure.bar(xs, list(data.counts),
                          marker=self.marker(self.theme_rgb("chart-started", "primary"), "full"))
        figure.draw(bars)
        step = max(1, math.ceil(len(xs) * 7 / max(width - 8, 8)))   # ~7 columns per label
        ticks = xs[::step]
        figure.ruler("x").ticks(ticks, [format_ms(data.edges_ms[i]) for i in ticks])
        marker_rgb = self.theme_rgb("chart-marker", "accent")
        top = max(data.counts)
        for name, value in (("p50", data.p50), ("p90", data.p90), ("p99", data.p99)):
            if value > 0:
                x = bin_position(data.edges_ms, value) - 0.5   # bars are centred on indices
                figure.line(x, orientation="vertical", pixel=self.pixel(marker_rgb))
                figure.draw(figure.text(x, top, name))
        figure.ruler("x").lim(-0.6, len(xs) - 0.4)
        figure.ruler("y").lim(0, top * 1.2)
        return True
