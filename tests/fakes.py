"""Small fakes shared by unit tests."""

from __future__ import annotations


class FakeClock:
    """A perf_counter_ns stand-in: returns `t`, which the test moves by hand."""

    def __init__(self, t: int = 0) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t
