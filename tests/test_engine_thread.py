"""The engine links the dashboard steers: EngineThread (engine loop in a daemon thread) and
EngineProcess (the same API, engine in a child process). Both must behave the same."""

from __future__ import annotations

import time

import pytest

from tests.servers.faults import FaultState, build_app
from tests.servers.harness import check_invariants, config
from tests.servers.run import ThreadedUvicorn, closed_port
from webchat_tui.engine.engine import TargetUnreachable
from webchat_tui.engine.runner import EngineError, EngineThread
from webchat_tui.engine.worker import EngineProcess


@pytest.fixture(scope="module")
def faults():
    with ThreadedUvicorn(build_app(FaultState())) as server:
        yield server


@pytest.fixture(params=[EngineThread, EngineProcess], ids=["thread", "process"])
def link_cls(request):
    return request.param


def wait_for(predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_open_ended_run_is_steered_and_stopped(faults, link_cls):
    et = link_cls(config(f"{faults.url}/ok", rate=20, duration_s=None))
    et.start(timeout_s=10)
    assert et.latest is not None
    wait_for(lambda: et.latest.started >= 5)
    et.set_rate(50)
    et.set_send_mode("burst")
    et.pause()
    wait_for(lambda: et.latest.state == "paused")
    paused_at = et.latest.started
    time.sleep(0.3)
    assert et.latest.started == paused_at  # no arrivals while paused
    et.resume()
    wait_for(lambda: et.latest.started > paused_at)
    final = et.stop(drain_s=1.0)
    assert et.stop() is final  # idempotent
    check_invariants(final)
    kinds = [e.kind for e in final.events]
    for kind in ("start", "rate", "mode", "pause", "resume", "stop"):
        assert kind in kinds
    assert final.send_mode == "burst"
    assert et.finished


def test_timed_run_finishes_and_restarts(faults, link_cls):
    et = link_cls(config(f"{faults.url}/ok", rate=20, duration_s=0.5))
    et.start()
    wait_for(lambda: et.finished)
    first = et.stop()
    check_invariants(first)
    assert 7 <= first.started <= 13
    et.restart(config(f"{faults.url}/create500", rate=20, duration_s=0.5))
    wait_for(lambda: et.finished)
    second = et.stop()
    check_invariants(second)
    assert second.outcomes["http_error"] == second.started > 0
    assert second.outcomes["ok"] == 0  # a fresh recorder: nothing carried over


def test_start_error_is_raised_in_the_caller(link_cls):
    et = link_cls(config(f"http://127.0.0.1:{closed_port()}"))
    with pytest.raises(TargetUnreachable):
        et.start(timeout_s=10)


def test_bad_arguments_fail_in_the_caller(faults, link_cls):
    et = link_cls(config(f"{faults.url}/ok", rate=5, duration_s=None))
    et.start()
    try:
        with pytest.raises(ValueError):
            et.set_rate(-1)
        with pytest.raises(ValueError):
            et.set_send_mode("sideways")
    finally:
        check_invariants(et.stop(drain_s=0.5))


def test_engine_failure_is_not_lost(faults):
    class Boom(RuntimeError):
        pass

    from webchat_tui.engine.engine import LoadEngine

    class BrokenSnapshots(LoadEngine):
        calls = 0

        def snapshot(self):
            BrokenSnapshots.calls += 1
            if BrokenSnapshots.calls > 2:
                raise Boom("recorder exploded")
            return super().snapshot()

    et = EngineThread(config(f"{faults.url}/ok", rate=5, duration_s=None),
                      engine_factory=BrokenSnapshots)
    et.start()
    wait_for(lambda: et.error is not None)
    with pytest.raises(EngineError, match="recorder exploded"):
        et.stop()


def test_process_histograms_and_final_snapshot_cross_the_pipe(faults):
    et = EngineProcess(config(f"{faults.url}/ok", rate=40, duration_s=None))
    et.start()
    wait_for(lambda: et.latest.ok >= 10)
    final = et.stop(drain_s=1.0)
    check_invariants(final)
    # The final snapshot carries every histogram, freshly encoded, matching the counters.
    assert final.histograms["total"].get_total_count() == final.ok
    assert final.histograms["create"].get_total_count() == final.phases["create"].count > 0


def test_process_death_is_reported_not_hung(faults):
    et = EngineProcess(config(f"{faults.url}/ok", rate=5, duration_s=None))
    et.start()
    wait_for(lambda: et.latest is not None)
    et._proc.kill()
    wait_for(lambda: et.error is not None)
    with pytest.raises(EngineError, match="exited unexpectedly"):
        et.stop(timeout_s=2)
