"""Profile loader, value parsers, RunConfig.redacted and secret scrubbing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webchat_tui.config import (
    ConfigError,
    RunConfig,
    Stage,
    TargetProfile,
    parse_duration,
    parse_stages,
    validate_target_url,
)
from webchat_tui.profile import expand_env, load_profile
from webchat_tui.secrets import MASK, is_secret_header, redact_text, secret_values

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str, environ: dict | None = None) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_profile(path, environ=environ or {})
    message = str(info.value)
    assert message.startswith(f"profile {path}: "), message
    assert "\n" not in message
    return message


def test_demo_example_matches_the_built_in_defaults():
    loaded = load_profile(EXAMPLES / "demo.toml", environ={})
    assert loaded.profile == TargetProfile()
    assert loaded.flow == "webchat"


def test_openai_example_loads_with_its_key_set():
    loaded = load_profile(EXAMPLES / "openai.toml", environ={"OPENAI_API_KEY": "sk-test"})
    assert loaded.flow == "openai"
    assert loaded.model == "demo-model"
    assert loaded.profile.base_url == "http://127.0.0.1:8000"
    assert loaded.profile.headers == (("Authorization", "Bearer ${OPENAI_API_KEY}"),)


def test_full_schema_from_the_issue(tmp_path):
    path = write(tmp_path, """
name = "my-chat"
base_url = "http://127.0.0.1:8080/"
[headers]
Authorization = "Bearer ${CHAT_TOKEN}"
X-Client = "load-test"
[secrets]
headers = ["X-Client"]
[create]
method = "post"
path = "/api/sessions"
json = { channel = "web", n = "{n}" }
session_id = "/data/id~1x"
[stream]
method = "GET"
path = "/stream?cid={session_id}"
ready_events = []
token_events = ["delta"]
reply_events = ["done"]
error_events = ["oops"]
[send]
method = "PUT"
path = "/api/sessions/{session_id}/messages"
json = { text = "{prompt}", meta = ["{n}", 1, true] }
[prompts]
items = ["a", "b"]
""")
    p = load_profile(path, environ={"CHAT_TOKEN": "t"}).profile
    assert p.name == "my-chat"
    assert p.base_url == "http://127.0.0.1:8080"
    assert p.headers == (("Authorization", "Bearer ${CHAT_TOKEN}"), ("X-Client", "load-test"))
    assert p.secret_headers == frozenset({"x-client"})
    assert p.create.method == "POST" and p.create.json == {"channel": "web", "n": "{n}"}
    assert p.session_id_pointer == "/data/id~1x"
    assert p.stream.path == "/stream?cid={session_id}"
    assert (p.ready_events, p.token_events, p.reply_events, p.error_events) == (
        (), ("delta",), ("done",), ("oops",))
    assert p.send.method == "PUT"
    assert p.prompts == ("a", "b")


def test_prompts_file_is_relative_to_the_profile(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "prompts.txt").write_text("one\n\n  two  \n", encoding="utf-8")
    path = write(tmp_path / "sub", '[prompts]\nfile = "prompts.txt"\n')
    assert load_profile(path, environ={}).profile.prompts == ("one", "two")


@pytest.mark.parametrize("text, key", [
    ('bogus = 1', "bogus: unknown key"),
    ('[stream]\nready_events = "ready"', "[stream].ready_events: expected a list of strings"),
    ('[stream]\ntoken_events = [1]', "[stream].token_events: expected a list of strings"),
    ('[stream]\nreply_events = []', "[stream].reply_events: needs at least one"),
    ('[stream]\nextra = 1', "[stream].extra: unknown key"),
    ('[create]\nsession_id = "id"', "[create].session_id: a JSON pointer starts with '/'"),
    ('[create]\nsession_id = "/a~2b"', "[create].session_id: '~' must be written"),
    ('[create]\nmethod = "FETCH"', "[create].method: expected one of"),
    ('[send]\nmethod = 3', "[send].method: expected a string"),
    ('[send]\npath = "api/x"', "[send].path: must start with '/'"),
    ('[send]\npath = "/x/{sessionid}"', "[send].path: unknown placeholder {sessionid}"),
    ('[create]\npath = "/s/{session_id}"', "[create].path: {session_id} is not known"),
    ('[create]\njson = { a = "{session_id}" }', "[create].json.a: {session_id} is not known"),
    ('[send]\njson = { when = 1979-05-27 }', "[send].json.when: date values cannot be sent"),
    ('headers = 1', "[headers]: expected a table"),
    ('[headers]\nX-A = 1', "[headers].X-A: expected a string"),
    ('[headers]\nX-A = "${NOPE_VAR}"', "[headers].X-A: environment variable NOPE_VAR is not set"),
    ('[headers]\nX-A = "${1BAD}"', "[headers].X-A: bad variable reference"),
    ('[secrets]\nheaders = "X-A"', "[secrets].headers: expected a list of strings"),
    ('[secrets]\nnames = []', "[secrets].names: unknown key"),
    ('[prompts]\nitems = []', "[prompts].items: needs at least one prompt"),
    ('[prompts]\nitems = ["a"]\nfile = "x"', "[prompts]: give either items or file"),
    ('[prompts]\nfile = "missing.txt"', "[prompts].file: cannot read"),
    ('flow = "grpc"', "flow: expected one of webchat, openai"),
    ('base_url = "ftp://x"', "base_url: expected an http:// or https:// URL"),
    ('base_url = "http://"', "base_url: expected an http:// or https:// URL"),
    ('model = 5', "model: expected a string"),
    ('name = [', "not valid TOML"),
])
def test_every_error_names_its_key(tmp_path, text, key):
    assert key in load_error(tmp_path, text)


def test_missing_file_is_one_line():
    with pytest.raises(ConfigError, match="file not found"):
        load_profile("/nonexistent/dir/p.toml")


def test_env_is_checked_at_load_but_not_expanded(tmp_path):
    path = write(tmp_path, '[headers]\nAuthorization = "Bearer ${TOK}"\n')
    p = load_profile(path, environ={"TOK": "s3cret-value"}).profile
    assert "s3cret-value" not in repr(p)  # the template stays, the value is fetched at run time
    assert expand_env(p.headers[0][1], field="[headers].Authorization",
                      environ={"TOK": "s3cret-value"}) == "Bearer s3cret-value"


def test_expand_env_names_field_and_variable():
    with pytest.raises(ConfigError, match=r"^\[headers\]\.X-Key: environment variable GONE "):
        expand_env("a ${GONE} b", field="[headers].X-Key", environ={})
    assert expand_env("${A}-${B}", field="f", environ={"A": "1", "B": "2"}) == "1-2"
    assert expand_env("no vars {session_id}", field="f", environ={}) == "no vars {session_id}"


# --- value parsers ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, seconds", [("30", 30), ("30s", 30), ("500ms", 0.5), ("1m", 60),
                                           ("1.5s", 1.5), ("2h", 7200)])
def test_parse_duration(text, seconds):
    assert parse_duration(text, field="--duration") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "0", "-1", "5x", "s", "1e3"])
def test_parse_duration_rejects(text):
    with pytest.raises(ConfigError, match="^--duration: "):
        parse_duration(text, field="--duration")


def test_parse_stages():
    assert parse_stages("5s:10, 1m:50,500ms:0") == (Stage(5, 10), Stage(60, 50), Stage(0.5, 0))


@pytest.mark.parametrize("text", ["5s", "5s:", "5s:x", "5s:-1", ":5", "5s:10,", "5s:inf"])
def test_parse_stages_rejects(text):
    with pytest.raises(ConfigError, match="^--stages: "):
        parse_stages(text)


@pytest.mark.parametrize("url", ["localhost:8080", "ftp://h/", "http://", "http://h:99999", "h"])
def test_validate_target_url_rejects(url):
    with pytest.raises(ConfigError, match="^--target: "):
        validate_target_url(url, field="--target")


def test_validate_target_url_strips_trailing_slash():
    assert validate_target_url("https://chat.example/api/", field="--target") == \
        "https://chat.example/api"


# --- redaction ----------------------------------------------------------------------------------

def _secret_profile() -> TargetProfile:
    return TargetProfile(
        headers=(("Authorization", "Bearer ${TOK}"), ("X-Api-Key", "literal-key-123"),
                 ("X-Tenant", "tenant-abc"), ("Accept-Language", "en-GB"),
                 ("X-Trace", "${TRACE}")),
        secret_headers=frozenset({"x-tenant"}))


def test_redacted_config_has_header_names_only():
    config = RunConfig(target="http://127.0.0.1:1", profile=_secret_profile(),
                       stages=(Stage(1, 2),))
    data = config.redacted()
    text = json.dumps(data)  # must be JSON-able as is
    for value in ("Bearer", "literal-key-123", "tenant-abc", "en-GB", "${TOK}"):
        assert value not in text
    assert data["profile"]["headers"] == ["Accept-Language", "Authorization", "X-Api-Key",
                                          "X-Tenant", "X-Trace"]
    assert data["stages"] == [{"duration_s": 1, "rate": 2}]
    assert data["target"] == "http://127.0.0.1:1" and data["rate"] == 5.0


@pytest.mark.parametrize("name, secret", [("Authorization", True), ("cookie", True),
                                          ("X-Api-Token", True), ("X-API-KEY", True),
                                          ("X-Tenant", False), ("Accept", False)])
def test_is_secret_header(name, secret):
    assert is_secret_header(name) is secret


def test_secret_values_cover_env_values_and_secret_headers():
    env = {"TOK": "tok-7f3a9c", "TRACE": "trace-id-42"}
    values = set(secret_values(_secret_profile(), environ=env))
    assert {"tok-7f3a9c", "Bearer tok-7f3a9c", "literal-key-123", "tenant-abc",
            "trace-id-42"} <= values
    assert "en-GB" not in values  # a plain header value is not hunted in free text


def test_redact_text_masks_longest_first():
    text = "401 for Bearer tok-7f3a9c (token tok-7f3a9c)"
    masked = redact_text(text, ["tok-7f3a9c", "Bearer tok-7f3a9c"])
    assert masked == f"401 for {MASK} (token {MASK})"
    assert redact_text("a b c", ["a"]) == "a b c"  # too short to scrub
