"""RateScreen: type an exact target rate. Returns the rate, or None on Esc."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from ..controls import parse_rate


class RateScreen(ModalScreen[float | None]):
    DEFAULT_CSS = """
    RateScreen { align: center middle; }
    RateScreen > Vertical {
        width: 52; height: auto; background: $surface;
        border: thick $primary; padding: 1 2;
    }
    RateScreen .error { color: $error; height: auto; }
    RateScreen .hint { color: $foreground-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="rate.cancel",
                        tooltip="Close without changing the rate")]

    def __init__(self, current: float) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Set target rate (now {self.current:g}/s)")
            yield Input(placeholder="sessions per second, e.g. 12.5", id="rate")
            yield Static("", classes="error", id="rate-error")
            yield Static("Enter applies · Esc cancels", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            rate = parse_rate(event.value)
        except ValueError as exc:
            self.query_one("#rate-error", Static).update(str(exc))
            return
        self.dismiss(rate)

    def action_cancel(self) -> None:
        self.dismiss(None)
