"""A unique token set in the environment (used by a profile header and in the target URL's
userinfo) appears in no file of the snapshot folder, not in the --record file, and not on the
stdout/stderr of headless, report and compare."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from cli_helpers import run_cli

from webchat_tui.snapshot import read_snapshot

TOKEN = "tok-E2E-SECRET-a71c9e04"


def test_unique_token_appears_nowhere(tmp_path, fast_demo_server):
    profile = tmp_path / "secret.toml"
    profile.write_text('[headers]\nAuthorization = "Bearer ${E2E_TOKEN}"\n'
                       'X-Tenant = "tenant-${E2E_TOKEN}"\n')
    port = urlsplit(fast_demo_server.url).port
    target = f"http://robot:{TOKEN}@127.0.0.1:{port}"
    runs, record = tmp_path / "runs", tmp_path / "sessions.jsonl"
    env = {"E2E_TOKEN": TOKEN}
    headless = run_cli("--target", target, "--profile", str(profile), "--headless",
                       "--duration", "2", "--rate", "10", "--json", "--autosave-s", "1",
                       "--snapshot-dir", str(runs), "--record", str(record), env=env)
    assert headless.returncode == 0, headless.stderr
    [folder] = [p for p in runs.iterdir() if p.is_dir()]
    outputs = [headless.stdout, headless.stderr]
    for args in (("report", str(folder)), ("report", str(folder), "--json"),
                 ("compare", str(folder), str(folder)),
                 ("compare", str(folder), str(folder), "--json")):
        result = run_cli(*args, env=env)
        assert result.returncode == 0, (args, result.stderr)
        outputs += [result.stdout, result.stderr]

    files = [p for p in runs.rglob("*") if p.is_file()] + [record]
    assert len(files) >= 2
    for file in files:
        assert TOKEN not in file.read_text(encoding="utf-8", errors="replace"), file
    for text in outputs:
        assert TOKEN not in text

    # The run really used the token (and was measured), and the names are still there.
    summary = json.loads(headless.stdout)
    assert summary["sessions"]["ok"] > 0 and summary["target"].startswith("http://***@127.0.0.1")
    saved = read_snapshot(folder)
    assert saved.config["profile"]["headers"] == ["Authorization", "X-Tenant"]
    assert len(record.read_text().splitlines()) == saved.metrics.finished
