"""ThroughputChart: started / ok / failed sessions per second, with rate-change markers."""

from __future__ import annotations

from dataclasses import dataclass

from .plot_view import PlotView

SHOW_LAST_S = 180   # the last three minutes


@dataclass(frozen=True)
class ThroughputData:
    t: tuple[int, ...]
    started: tuple[int, ...]
    ok: tuple[int, ...]
    failed: tuple[int, ...]
    events: tuple[tuple[float, str], ...] = ()   # (seconds since start, short label)


Y_AXIS_COLS = 8     # columns the y-axis labels and frame take from the widget's width


def labels_that_fit(events: list[tuple[float, str]], x_low: float, x_high: float,
                    columns: int) -> list[tuple[float, str]]:
    """The event labels that do not overlap on one text row, newest first kept: several rate
    changes close together get their marker lines but only the latest label."""
    if columns <= 0:
        return []
    per_col = (x_high - x_low) / columns
    kept: list[tuple[float, str]] = []
    next_free = float("inf")   # leftmost column taken by a label kept so far (to its right)
    for t, label in sorted(events, reverse=True):
        col = (t - x_low) / per_col if per_col else 0
        if col + len(label) + 1 <= next_free:  # one at the right edge is clipped, still kept
            kept.append((t, label))
            next_free = col
    return kept


class ThroughputChart(PlotView):
    def on_mount(self) -> None:
        self.border_title = ("Throughput /s  [$primary]━ started[/]  [$success]━ ok[/]  "
                             "[$error]━ failed[/]  [$accent]│ rate change[/]")

    def draw(self, figure, data: object, width: int, height: int) -> bool:
        if not isinstance(data, ThroughputData) or not data.t:
            return False
        start = max(0, data.t[-1] - SHOW_LAST_S)
        keep = [i for i, t in enumerate(data.t) if t >= start]
        xs = [data.t[i] for i in keep]
        series = (
            (data.started, self.theme_rgb("chart-started", "primary")),
            (data.ok, self.theme_rgb("chart-ok", "success")),
            (data.failed, self.theme_rgb("chart-failed", "error")),
        )
        top = 1
        for values, rgb in series:
            ys = [values[i] for i in keep]
            top = max(top, *ys) if ys else top
            signal = figure.signal(xs, ys, marker=self.marker(rgb))
            signal.lines()
            figure.draw(signal)
        marker_rgb = self.theme_rgb("chart-marker", "accent")
        x_low, x_high = xs[0], max(xs[-1], xs[0] + 1)
        shown = [(t, label) for t, label in data.events if x_low <= t <= x_high]
        for t, _ in shown:
            figure.line(t, orientation="vertical", pixel=self.pixel(marker_rgb))
        for t, label in labels_that_fit(shown, x_low, x_high, width - Y_AXIS_COLS):
            figure.draw(figure.text(t, top, label))
        figure.ruler("x").lim(x_low, x_high)
        figure.ruler("y").lim(0, top * 1.15)
        return True
