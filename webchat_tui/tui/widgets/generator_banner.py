"""GeneratorBanner: shown while the load generator itself is the bottleneck."""

from __future__ import annotations

from textual.widgets import Static

MESSAGE = "GENERATOR-LIMITED: results measure the tool, not the server"


class GeneratorBanner(Static):
    DEFAULT_CSS = """
    GeneratorBanner {
        height: 1;
        background: $error;
        color: $text;
        text-style: bold;
        content-align: center middle;
        display: none;
    }
    GeneratorBanner.-active {
        display: block;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(MESSAGE, id=id)

    def show(self, active: bool) -> None:
        self.set_class(active, "-active")
