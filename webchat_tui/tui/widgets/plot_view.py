"""PlotView: a widget that draws a cached plotext figure as Rich Text.

Why our own widget (not textual-plotext): a plotext build costs ~5-20 ms, so we rebuild only
when the data, the size or the theme changed, at most once per MIN_INTERVAL_S, and never while
hidden; every paint in between reuses the cached Text.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import plotext
from rich.text import Text
from textual.color import Color, ColorParseError
from textual.widget import Widget

RGB = tuple[int, int, int]


class PlotView(Widget):
    DEFAULT_CSS = """
    PlotView {
        height: 1fr;
        min-height: 5;
        border: round $primary 60%;
        border-title-color: $foreground;
        padding: 0 1;
    }
    """
    MIN_INTERVAL_S = 1.0

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._clock = clock
        self._data: object = None
        self._data_changed = False
        self._built_key: tuple[int, int, str] | None = None
        self._last_build = -math.inf
        self._text = Text("")
        self.build_count = 0   # how many plotext builds ran (tests and bench read it)

    def set_data(self, data: object) -> None:
        """Store new plain data (hashable/comparable); the plot rebuilds on the next tick."""
        if data != self._data:
            self._data = data
            self._data_changed = True

    def maybe_rebuild(self) -> bool:
        """Rebuild if needed and allowed now; returns True when a build ran."""
        if not self.display or self.region.area == 0:
            return False   # hidden (responsive layout) or not laid out yet: skip the work
        width, height = self.content_size.width, self.content_size.height
        if width < 10 or height < 3:
            return False
        key = (width, height, self.app.theme)
        resized = key != self._built_key
        if not resized and not self._data_changed:
            return False
        if not resized and self._clock() - self._last_build < self.MIN_INTERVAL_S:
            return False
        self._text = self._build(width, height)
        self._built_key = key
        self._data_changed = False
        self._last_build = self._clock()
        self.build_count += 1
        self.refresh()
        return True

    def on_resize(self) -> None:
        self.call_after_refresh(self.maybe_rebuild)

    def render(self) -> Text:
        return self._text

    def _build(self, width: int, height: int) -> Text:
        figure = plotext.figure
        figure.clear()
        figure.theme("colorless")   # no canvas colour: the widget's themed background shows
        figure.canvas("default")
        figure.plot_size(width, height)
        if not self.draw(figure, self._data, width, height):
            return Text("waiting for data…", style="dim")
        return Text.from_ansi(str(figure.build()), no_wrap=True, end="")

    def draw(self, figure, data: object, width: int, height: int) -> bool:
        """Subclasses add signals to `figure`; return False when there is nothing to draw."""
        raise NotImplementedError

    def theme_rgb(self, variable: str, fallback: str) -> RGB:
        """An app theme colour as an RGB tuple for plotext (so plots follow light/dark themes)."""
        variables = self.app.theme_variables
        for value in (variables.get(variable), variables.get(fallback)):
            if value:
                try:
                    return Color.parse(value).rgb
                except ColorParseError:
                    continue
        return (128, 128, 128)

    def marker(self, rgb: RGB, symbol: str = "braille") -> "plotext.marker":
        return plotext.marker(symbol, pixel=plotext.pixel(foreground=rgb))

    def pixel(self, rgb: RGB) -> "plotext.pixel":
        return plotext.pixel(foreground=rgb)
