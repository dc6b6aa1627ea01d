"""RampScreen: ramp to a rate over N seconds. Returns (rate, seconds), or None on Esc."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from ..controls import parse_rate, parse_seconds


class RampScreen(ModalScreen[tuple[float, float] | None]):
    DEFAULT_CSS = """
    RampScreen { align: center middle; }
    RampScreen > Vertical {
        width: 52; height: auto; background: $surface;
        border: thick $primary; padding: 1 2;
    }
    RampScreen .error { color: $error; height: auto; }
    RampScreen .hint { color: $foreground-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="ramp.cancel",
                        tooltip="Close without starting a ramp")]

    def __init__(self, current: float) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Ramp from {self.current:g}/s to")
            yield Input(placeholder="target rate, sessions/s", id="ramp-rate")
            yield Static("over")
            yield Input(placeholder="seconds, e.g. 30", id="ramp-seconds")
            yield Static("", classes="error", id="ramp-error")
            yield Static("Enter applies · Tab next field · Esc cancels", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        rate_input = self.query_one("#ramp-rate", Input)
        seconds_input = self.query_one("#ramp-seconds", Input)
        error = self.query_one("#ramp-error", Static)
        if event.input is rate_input and not seconds_input.value.strip():
            seconds_input.focus()   # Enter in the first field moves on, like a form
            return
        try:
            rate = parse_rate(rate_input.value)
        except ValueError as exc:
            error.update(str(exc))
            rate_input.focus()
            return
        try:
            seconds = parse_seconds(seconds_input.value)
        except ValueError as exc:
            error.update(str(exc))
            seconds_input.focus()
            return
        self.dismiss((rate, seconds))

    def action_cancel(self) -> None:
        self.dismiss(None)
