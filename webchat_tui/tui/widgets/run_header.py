"""RunHeader: what is running and how fast, plus the engine's own health, always visible."""

from __future__ import annotations

from dataclasses import dataclass

from .live_text import LiveText


@dataclass(frozen=True)
class HeaderInfo:
    target: str            # already stripped of credentials by the app
    preset: str
    send_mode: str
    state: str
    elapsed_s: float
    target_rate: float
    achieved_rate: float
    in_flight: int
    max_inflight: int
    start_lag_p99_ms: float
    dropped: int
    ramp_to: float | None = None    # set while a requested ramp is running


def format_elapsed(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def format_rate(rate: float) -> str:
    return f"{rate:.2f}/s" if rate < 100 else f"{rate:.0f}/s"


class RunHeader(LiveText):
    DEFAULT_CSS = """
    RunHeader {
        height: auto;
        background: $panel;
        color: $foreground;
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.info: HeaderInfo | None = None

    def show(self, info: HeaderInfo) -> None:
        if info == self.info:
            return   # nothing changed: no repaint
        self.info = info
        self.set_text(self.render_info(info))

    @staticmethod
    def render_info(info: HeaderInfo) -> str:
        state_style = {"running": "$success", "paused": "$warning", "ramping": "$accent",
                       "finished": "$secondary", "stopping": "$warning"}.get(info.state, "$foreground")
        ramp = f" → {format_rate(info.ramp_to)}" if info.ramp_to is not None else ""
        lag_style = "$error" if info.start_lag_p99_ms > 10 else "$foreground"
        full = info.max_inflight and info.in_flight >= info.max_inflight
        inflight_style = "$error" if full else "$foreground"
        dropped = f"  [$error]dropped {info.dropped}[/]" if info.dropped else ""
        return (
            f"[b]{_escape(info.target)}[/b]  preset [b]{_escape(info.preset)}[/b]"
            f"  mode [b]{info.send_mode}[/b]  [b {state_style}]{info.state.upper()}[/]"
            f"  {format_elapsed(info.elapsed_s)}\n"
            f"rate [b]{format_rate(info.target_rate)}[/b]{ramp}"
            f"  achieved [b]{format_rate(info.achieved_rate)}[/b]"
            f"  in flight [{inflight_style}]{info.in_flight}/{info.max_inflight}[/]"
            f"  start_lag p99 [{lag_style}]{info.start_lag_p99_ms:.1f} ms[/]{dropped}"
        )


def _escape(text: str) -> str:
    return text.replace("[", r"\[")
