"""Small fakes shared by unit tests."""

from __future__ import annotations


class FakeClock:
    """A perf_counter_ns stand-in: returns `t`, which the test moves by hand."""

    def __init__(self, t: int = 0) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


class FakeResponse:
    """Just what the SSE reader uses of an httpx response: the body in the given chunks."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def aiter_bytes(self):
        for chunk in self._chunks:
            yield chunk
