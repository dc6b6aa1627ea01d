"""OutcomesPanel: count and share of each outcome, and the success rate against the threshold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical
from .live_text import LiveText


ALWAYS_SHOWN = frozenset({"ok", "slow", "timeout", "sse_miss", "rate_limited", "http_error"})


@dataclass(frozen=True)
class OutcomeSummary:
    counts: tuple[tuple[str, int], ...]   # outcome name -> count, display order
    finished: int
    success_rate: float                   # percent
    threshold_pct: float                  # pass when success_rate >= this
    threshold_ms: float                   # the "ok" latency threshold
    sse_miss: tuple[tuple[str, int], ...] = ()   # race / lost / server_confirmed

    @property
    def passing(self) -> bool:
        return self.finished > 0 and self.success_rate >= self.threshold_pct


def summarise(outcomes: Mapping[str, int], finished: int, success_rate: float,
              threshold_pct: float, threshold_ms: float,
              sse_miss: Mapping[str, int] | None = None) -> OutcomeSummary:
    return OutcomeSummary(tuple(outcomes.items()), finished, success_rate, threshold_pct,
                          threshold_ms, tuple((sse_miss or {}).items()))


class OutcomesPanel(Vertical):
    DEFAULT_CSS = """
    OutcomesPanel {
        height: auto;
        border: round $primary 60%;
        border-title-color: $foreground;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    OutcomesPanel #success { text-style: bold; }
    OutcomesPanel #success.-pass { color: $success; }
    OutcomesPanel #success.-fail { color: $error; }
    OutcomesPanel #success.-none { color: $foreground-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.summary: OutcomeSummary | None = None

    def compose(self) -> ComposeResult:
        yield LiveText("", id="success")
        yield LiveText("", id="counts")

    def on_mount(self) -> None:
        self.border_title = "Outcomes"

    def show(self, summary: OutcomeSummary) -> None:
        if summary == self.summary:
            return
        self.summary = summary
        success = self.query_one("#success", LiveText)
        if summary.finished == 0:
            success.set_text(f"success —  (need ≥ {summary.threshold_pct:g}%)")
        else:
            verdict = "PASS" if summary.passing else "FAIL"
            success.set_text(f"success {summary.success_rate:.1f}%  {verdict} "
                           f"(≥ {summary.threshold_pct:g}%)")
        success.set_class(summary.finished == 0, "-none")
        success.set_class(summary.finished > 0 and summary.passing, "-pass")
        success.set_class(summary.finished > 0 and not summary.passing, "-fail")
        self.query_one("#counts", LiveText).set_text(self.render_counts(summary))

    @staticmethod
    def render_counts(summary: OutcomeSummary) -> str:
        total = max(1, summary.finished)
        lines = [f"[dim]ok = reply within {summary.threshold_ms / 1000:g} s[/]"]
        for name, count in summary.counts:
            if count == 0 and name not in ALWAYS_SHOWN:
                continue   # zero rows are noise on a small screen
            share = f"{100.0 * count / total:5.1f}%" if name != "cancelled" else ""
            style = "$success" if name == "ok" else ("$error" if count else "dim")
            lines.append(f"[{style}]{name:<14}{count:>6,} {share}[/]")
        misses = [f"{kind} {count}" for kind, count in summary.sse_miss if count]
        if misses:
            lines.append(f"[$warning]sse_miss: {', '.join(misses)}[/]")
        return "\n".join(lines)
