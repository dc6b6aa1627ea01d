"""Rate arithmetic and input parsing for the dashboard's keys and modals (no Textual here).

Choice (documented in the help screen): the target rate never goes below MIN_RATE with `-`/`[`;
use `space` to pause arrivals instead of a zero rate, so "paused" is always an explicit state.
"""

from __future__ import annotations

from dataclasses import dataclass

from webchat_tui.config import MAX_RATE

MIN_RATE = 0.1          # sessions/s: the floor for -, [ and typed rates
MAX_RAMP_S = 24 * 3600.0
PENDING_HOLD_S = 2.0    # how long a requested value overrides older snapshots in the header


def clamp_rate(rate: float) -> float:
    return min(MAX_RATE, max(MIN_RATE, round(rate, 4)))


def scale_rate(rate: float, factor: float) -> float:
    """`+` at 5/s gives 6.25/s; `-` at 6.25/s gives 5/s."""
    return clamp_rate(rate * factor)


def step_rate(rate: float, step: float) -> float:
    return clamp_rate(rate + step)


def parse_rate(text: str) -> float:
    """A typed rate in sessions/s, or ValueError with a one-line reason."""
    value = _parse_number(text, "rate")
    if not MIN_RATE <= value <= MAX_RATE:
        raise ValueError(f"rate must be between {MIN_RATE:g} and {MAX_RATE:g} sessions/s")
    return value


def parse_seconds(text: str) -> float:
    value = _parse_number(text, "duration")
    if not 0 < value <= MAX_RAMP_S:
        raise ValueError(f"duration must be more than 0 and at most {MAX_RAMP_S:g} s")
    return value


def _parse_number(text: str, what: str) -> float:
    cleaned = text.strip().removesuffix("/s").removesuffix("s").strip()
    try:
        value = float(cleaned)
    except ValueError:
        raise ValueError(f"{what} must be a number, got {text.strip()!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{what} must be a finite number")
    return value


@dataclass
class Pending:
    """A value the user just asked for, shown until a snapshot agrees or it grows old.

    Why: snapshots arrive every ~0.25 s, but the header must show a rate change at once.
    """
    value: object
    since: float

    def current(self, snapshot_value: object, now: float) -> tuple[object, bool]:
        """(value to show, still pending?)."""
        if _same(snapshot_value, self.value) or now - self.since > PENDING_HOLD_S:
            return snapshot_value, False
        return self.value, True


def _same(a: object, b: object) -> bool:
    if isinstance(a, float | int) and isinstance(b, float | int):
        return abs(a - b) < 1e-6
    return a == b
