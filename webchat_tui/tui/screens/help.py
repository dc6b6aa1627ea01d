"""HelpScreen: every dashboard key with what it does."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

NOTES = ("Rates never go below 0.1/s with - and [; use space to pause arrivals.\n"
         "Rate changes are marked on the throughput chart.")


def escape(text: str) -> str:
    """Escape every '[' (textual.markup.escape leaves a lone '[' as is, and it may vanish)."""
    return text.replace("[", r"\[")


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        background: $surface;
        border: thick $primary;
        padding: 1 2;
    }
    HelpScreen #help-keys { height: auto; }
    HelpScreen #help-notes { color: $foreground-muted; margin-top: 1; }
    """
    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss_help", "Close", id="help.close",
                tooltip="Close the help screen"),
    ]

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.rows = rows   # (key display, description, tooltip)

    def compose(self) -> ComposeResult:
        lines = ["[b]Keys[/b]"]
        for key, description, tooltip in self.rows:
            lines.append(f"[b $accent]{escape(key.rjust(7))}[/]  {escape(description):<16} "
                         f"[dim]{escape(tooltip)}[/]")
        with Vertical():
            yield Static("\n".join(lines), id="help-keys", markup=True)
            yield Static(NOTES + "\nPress Esc or ? to close.", id="help-notes")

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
