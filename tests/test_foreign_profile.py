"""A foreign API, described only by a profile, at 50 sessions/s through the CLI: every session ok,
the achieved rate within 2% of target, and the API key nowhere in the output (issue: engine and
headless runs, "Done when")."""

from __future__ import annotations

import json
import secrets

import pytest

from cli_helpers import run_cli
from tests.servers.foreign import PROFILE, ForeignState, build_foreign_app
from tests.servers.run import ThreadedUvicorn


@pytest.fixture
def foreign():
    state = ForeignState(api_key="key-" + secrets.token_hex(12))
    with ThreadedUvicorn(build_foreign_app(state)) as server:
        server.state = state
        yield server


def test_foreign_api_by_profile_at_50_per_s(foreign, tmp_path):
    profile = tmp_path / "foreign.toml"
    profile.write_text(PROFILE)
    key = foreign.state.api_key
    result = run_cli("--headless", "--target", foreign.url, "--profile", str(profile),
                     "--rate", "50", "--duration", "4", "--json", "--snapshot-dir",
                     str(tmp_path / "runs"), env={"FOREIGN_KEY": key}, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert summary["sessions"]["started"] == summary["outcomes"]["ok"] > 0
    assert summary["success_rate"] == 100.0
    assert abs(summary["rate"]["achieved"] / summary["rate"]["target"] - 1) <= 0.02
    assert foreign.state.turns == summary["sessions"]["started"]
    assert foreign.state.rejected == 0  # the key from ${FOREIGN_KEY} went out on every request
    written = "".join(p.read_text() for p in (tmp_path / "runs").rglob("*") if p.is_file())
    for text in (result.stdout, result.stderr, written):
        assert key not in text
