"""Property-based tests (hypothesis): the profile loader, placeholder templating, the SSE reader.

Example counts stay modest (CI time); each property is one that a bug would break.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import tempfile
from pathlib import Path
from urllib.parse import quote, unquote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes import FakeResponse
from webchat_tui.config import ConfigError
from webchat_tui.engine.sse import Event, SSEProtocolError, iter_events
from webchat_tui.engine.templating import compile_body, compile_path
from webchat_tui.profile import LoadedProfile, _parse, load_profile

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
NOWHERE = Path(tempfile.gettempdir()) / "webchat-tui-no-such-dir"  # [prompts].file never exists

# --- the profile loader -------------------------------------------------------------------------

KNOWN_KEYS = ["name", "base_url", "flow", "model", "headers", "secrets", "create", "stream", "send",
              "prompts", "method", "path", "json", "session_id", "ready_events", "token_events",
              "reply_events", "error_events", "items", "file", "Authorization", "X-Key"]
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=8))
scalars = st.one_of(
    st.text(max_size=12), st.sampled_from(["POST", "get", "/api/{session_id}", "{prompt}", "{n}",
                                           "/x/{nope}", "webchat", "openai", "http://127.0.0.1:1",
                                           "${HOME}", "${NOT_SET_ANYWHERE}", "${bad name}",
                                           "~2", "/a~0b", "a\nb"]),
    st.integers(), st.floats(allow_nan=True), st.booleans(),
    st.datetimes(), st.dates(), st.times())
toml_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=12)
# Top-level tables with the right names most of the time, so the checks deep inside run too.
tables = st.dictionaries(st.sampled_from(["method", "path", "json", "session_id", "ready_events",
                                          "reply_events", "items", "file", "headers"]),
                         toml_values, max_size=3)
profiles = st.dictionaries(keys, st.one_of(toml_values, tables), max_size=6)


def _one_line_error(exc: ConfigError) -> bool:
    text = str(exc)
    return bool(text.strip()) and "\n" not in text


@SETTINGS
@given(profiles)
def test_any_profile_dict_loads_or_is_one_config_error(data):
    try:
        result = _parse(data, base_dir=NOWHERE, environ={"HOME": "/root"})
    except ConfigError as exc:
        assert _one_line_error(exc)
    else:
        assert isinstance(result, LoadedProfile)
        assert result.profile.reply_events  # a loaded profile can always finish a reply


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_profile_file_loads_or_is_one_config_error(raw):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.toml"
        path.write_bytes(raw)
        try:
            assert isinstance(load_profile(path, environ={}), LoadedProfile)
        except ConfigError as exc:
            assert str(exc).startswith(f"profile {path}: ")


# --- templating ---------------------------------------------------------------------------------

values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
NAMES = ("session_id", "prompt", "n")
PLACEHOLDER = re.compile(r"\{(session_id|prompt|n)\}")


def substitute(template: str, vals: dict[str, str], q=lambda v: v) -> str:
    """The reference: one left-to-right pass (a value holding "{prompt}" is not re-expanded)."""
    return PLACEHOLDER.sub(lambda m: q(vals[m.group(1)]), template)


@SETTINGS
@given(values, values, st.integers(min_value=0, max_value=10**9))
def test_path_values_round_trip_as_one_segment_each(sid, prompt, n):
    render = compile_path("/api/{session_id}/messages/{prompt}/{n}")
    path = render(sid, prompt, n)
    segments = path.split("/")
    assert len(segments) == 6  # quoting keeps "/" inside a value out of the structure
    assert [unquote(s) for s in segments[2:]] == [sid, "messages", prompt, str(n)]
    assert not set("?# ") & set(path)


@SETTINGS
@given(st.text(max_size=40) | st.lists(st.sampled_from(
    ["{session_id}", "{prompt}", "{n}", "{", "}", "/", "{other}", "x", "%"]), max_size=8).map("".join),
       values, values, st.integers(min_value=0))
def test_any_path_template_renders_like_the_reference(template, sid, prompt, n):
    vals = {"session_id": sid, "prompt": prompt, "n": str(n)}
    expected = substitute(template, vals, lambda v: quote(v, safe=""))
    assert compile_path(template)(sid, prompt, n) == expected


json_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                        st.text(max_size=10),
                        st.sampled_from(["{session_id}", "{prompt}", "n={n}", "{x}", "{{prompt}}"]))
json_docs = st.recursive(json_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)),
    max_leaves=15)


def substitute_doc(doc, vals):
    if isinstance(doc, str):
        return substitute(doc, vals)
    if isinstance(doc, dict):
        return {k: substitute_doc(v, vals) for k, v in doc.items()}
    if isinstance(doc, list):
        return [substitute_doc(v, vals) for v in doc]
    return doc


@SETTINGS
@given(json_docs, values, values, st.integers(min_value=0))
def test_body_templates_substitute_strings_only_and_never_mutate(doc, sid, prompt, n):
    before = json.dumps(doc, sort_keys=True)
    rendered = compile_body(doc)(sid, prompt, n)
    assert rendered == substitute_doc(doc, {"session_id": sid, "prompt": prompt, "n": str(n)})
    assert json.dumps(doc, sort_keys=True) == before  # the template itself is untouched
    json.dumps(rendered)  # still JSON


# --- the SSE reader -----------------------------------------------------------------------------

def read_all(chunks: list[bytes], **kw) -> tuple[list[Event], bool]:
    """(events, whether an SSEProtocolError ended the stream); any other exception fails."""
    async def run():
        events = []
        try:
            async for ev in iter_events(FakeResponse(chunks), **kw):
                events.append(ev)
        except SSEProtocolError:
            return events, True
        return events, False
    return asyncio.run(run())


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]


line_parts = st.one_of(
    st.sampled_from([b"event: token", b"event: reply", b"data: {}", b"data", b"data:x", b"id: 7",
                     b"retry: 10", b": comment", b"nocolon", b"event", b"", b"\xff\xfe",
                     b"data: " + b"y" * 70, "data: é€".encode()]),
    st.binary(max_size=12))
eols = st.sampled_from([b"\n", b"\r\n", b"\r", b""])
streams = st.lists(st.tuples(line_parts, eols), max_size=25).map(
    lambda parts: b"".join(a + b for a, b in parts))


@settings(max_examples=300, deadline=None)
@given(streams, st.lists(st.integers(min_value=0), max_size=10), st.booleans())
def test_sse_chunk_boundaries_never_change_the_result(data, cuts, strict):
    kw = {"max_event_bytes": 64, "strict_end": strict}
    assert read_all(split(data, cuts), **kw) == read_all([data], **kw)


names = st.from_regex(r"[a-z_]{1,8}", fullmatch=True)
data_lines = st.lists(st.text(st.characters(blacklist_categories=("Cs",),
                                            blacklist_characters="\r\n"), max_size=15),
                      min_size=1, max_size=3)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(names, data_lines), max_size=6), st.lists(eols.filter(bool), min_size=1),
       st.lists(st.integers(min_value=0), max_size=8))
def test_sse_well_formed_events_round_trip(events, endings, cuts):
    out, i = b"", 0

    def eol() -> bytes:
        nonlocal i, out
        i += 1
        end = endings[i % len(endings)]
        # CR then LF would be ONE line break (CRLF): write the pair explicitly instead.
        return b"\r\n" if end == b"\n" and out.endswith(b"\r") else end

    for name, lines in events:
        out += b"event: " + name.encode() + eol()
        for line in lines:
            out += b"data: " + line.encode() + eol()
        out += eol()
    got, failed = read_all(split(out, cuts), strict_end=True)
    assert not failed
    assert got == [Event(name, "\n".join(lines)) for name, lines in events]


def test_dates_in_profiles_are_config_errors():
    """A case hypothesis found once is kept as an example."""
    try:
        _parse({"create": {"json": {"when": dt.date(2024, 1, 1)}}}, base_dir=NOWHERE, environ={})
    except ConfigError as exc:
        assert "[create].json.when" in str(exc)
    else:
        raise AssertionError("a date was accepted as JSON")
