"""Bad user input: every flag and profile field gets one line naming it and exit 2."""

from __future__ import annotations

import pytest

from webchat_tui.cli import main

H = ("--headless", "--target", "http://127.0.0.1:9")  # never reached: validation comes first


def run_main(capsys, *argv: str) -> tuple[int, list[str]]:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    return code, captured.err.strip().splitlines()


@pytest.mark.parametrize("args, fragment", [
    (["--threshold-ms", "inf"], "--threshold-ms: must be > 0 and finite, got inf"),
    (["--grace-ms", "inf"], "--grace-ms: must be >= 0 and finite, got inf"),
    (["--grace-ms", "nan"], "--grace-ms: must be >= 0"),
    (["--rate", "1e308"], "--rate: must be <= 100000"),
    (["--stages", "1s:5,1s:1e9"], "--stages: rate must be <= 100000"),
    (["--send-mode", "later"], "--send-mode: invalid choice"),
    (["--flow", "grpc"], "--flow: invalid choice"),
    (["--max-inflight", "many"], "--max-inflight: invalid int value"),
    (["--fail-under", "nan"], "--fail-under: must be between 0 and 100"),
])
def test_bad_flag_values(capsys, args, fragment):
    code, lines = run_main(capsys, *H, *args)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("webchat-tui: error: ") and fragment in lines[0], lines


def test_snapshot_dir_that_is_a_file(capsys, tmp_path):
    file = tmp_path / "taken"
    file.write_text("x")
    code, lines = run_main(capsys, *H, "--snapshot-dir", str(file))
    assert code == 2 and lines == [f"webchat-tui: error: --snapshot-dir: {file}: exists and is "
                                   "not a folder"]


@pytest.mark.parametrize("toml, env, fragment", [
    ('[headers]\n"X Bad" = "1"\n', {}, "[headers].X Bad: not a valid header name"),
    ('[headers]\nX-Key = "${WT_VALUE}"\n', {"WT_VALUE": "caf\u00e9"},
     "[headers].X-Key: value must be printable ASCII"),
    ('[headers]\nX-Key = "a\\r\\nInjected: 1"\n', {}, "[headers].X-Key: value must be printable"),
    ('[prompts]\nfile = "a\\u0000b"\n', {}, "[prompts].file: cannot read"),
    ('"odd\\nkey" = 1\n', {}, "'odd\\nkey': unknown key"),
    ('[create]\njson = { at = 1979-05-27 }\n', {}, "[create].json.at: date values cannot"),
    ('[create]\nsession_id = "id"\n', {}, "[create].session_id: a JSON pointer starts with '/'"),
    ('[send]\npath = "/m/{sid}"\n', {}, "[send].path: unknown placeholder {sid}"),
])
def test_bad_profile_fields(capsys, tmp_path, monkeypatch, toml, env, fragment):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    profile = tmp_path / "p.toml"
    profile.write_text(toml, encoding="utf-8")
    code, lines = run_main(capsys, *H, "--profile", str(profile))
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"webchat-tui: error: profile {profile}: "), lines
    assert fragment in lines[0], lines
    assert "caf\u00e9" not in lines[0]  # a header value (maybe a secret) is never printed
