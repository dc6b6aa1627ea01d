"""The log tail's patterns: validate `--miss-pattern` / `--log-pattern`, find candidate lines fast.

    compile_miss_pattern(r"no stream for (?P<session_id>\\S+)")  # -> re.Pattern (session_id needed)
    parse_log_patterns(["db_pool=QueuePool limit", "ai_429=status=429"])  # -> {name: re.Pattern}
    matcher("db_pool", regex, miss=False)                        # -> Matcher with a literal prefix

A bad value raises LogPatternError (a ValueError) with one line naming the option; the CLI prints
it and exits 2. No file or asyncio code here (logtail.py follows the file).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

DEFAULT_MISS_PATTERN = r"SSE connection not found for session_id: (?P<session_id>\S+)"
SESSION_GROUP = "session_id"

# A --log-pattern NAME becomes the warning kind of its lines (warning_counts per name), so it must
# not pose as one of the engine's own kinds: outcome values, "engine", "log" (tail notices) and
# "late_miss" (miss lines for sessions that had already ended).
RESERVED_NAMES = frozenset({
    "ok", "slow", "timeout", "sse_miss", "rate_limited", "http_error", "connect_error",
    "stream_closed", "protocol_error", "pool_timeout", "cancelled", "engine", "log", "late_miss",
    "records",
})

_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
_REGEX_META = frozenset(".^$*+?{}[]\\|()\n")
_QUANTIFIERS = frozenset("*+?{")


class LogPatternError(ValueError):
    """A bad --miss-pattern / --log-pattern: one clear line (the CLI exits 2)."""


def compile_pattern(regex: str, flag: str, *, need_session_id: bool = False) -> re.Pattern[str]:
    """Compile a user regex; `flag` names the option in the error message."""
    if not regex:
        raise LogPatternError(f"{flag}: the regex is empty")
    try:
        compiled = re.compile(regex)
    except re.error as exc:
        raise LogPatternError(f"{flag} {regex!r}: invalid regex: {exc}") from None
    if need_session_id and SESSION_GROUP not in compiled.groupindex:
        raise LogPatternError(f"{flag} {regex!r}: needs a (?P<session_id>...) group "
                              "that captures the session id")
    if compiled.search("") is not None:
        raise LogPatternError(f"{flag} {regex!r}: matches an empty string, so every line")
    return compiled


def compile_miss_pattern(regex: str) -> re.Pattern[str]:
    """The `--miss-pattern REGEX` value; it must capture the id in a `session_id` group."""
    return compile_pattern(regex, "--miss-pattern", need_session_id=True)


def parse_log_pattern(text: str) -> tuple[str, re.Pattern[str]]:
    """One `--log-pattern NAME=REGEX` -> (name, compiled); a `session_id` group is optional."""
    name, sep, regex = text.partition("=")
    if not sep:
        raise LogPatternError(f"--log-pattern {text!r}: expected NAME=REGEX "
                              "(e.g. db_pool=QueuePool limit)")
    name = name.strip()
    if not _NAME_RE.fullmatch(name):
        raise LogPatternError(f"--log-pattern {text!r}: NAME must be letters, digits, '_', '-' "
                              "or '.'")
    if name in RESERVED_NAMES:
        raise LogPatternError(f"--log-pattern {name}: NAME is taken by a built-in warning kind; "
                              "choose another")
    return name, compile_pattern(regex, f"--log-pattern {name}")


def parse_log_patterns(texts: Iterable[str]) -> dict[str, re.Pattern[str]]:
    """All `--log-pattern` values; a name given twice is an error."""
    patterns: dict[str, re.Pattern[str]] = {}
    for text in texts:
        name, compiled = parse_log_pattern(text)
        if name in patterns:
            raise LogPatternError(f"--log-pattern {name}: name given twice")
        patterns[name] = compiled
    return patterns


def required_prefix(pattern: re.Pattern[str]) -> str:
    """Literal text every match starts with ('' if unsure): a cheap `in` prefilter.

    Conservative by construction: stops at the first regex metacharacter or escape class, drops a
    character that a quantifier follows, and gives up on any `|` or case/verbose flags.
    """
    src = pattern.pattern
    if "|" in src or pattern.flags & (re.IGNORECASE | re.VERBOSE):
        return ""
    out: list[str] = []
    i = 0
    while i < len(src):
        ch = src[i]
        if ch == "\\":
            nxt = src[i + 1:i + 2]
            if not nxt or nxt.isalnum() or nxt == "\n":
                break  # \d, \S, \1, \n ...: not a plain character
            lit, step = nxt, 2
        elif ch in _REGEX_META:
            break
        else:
            lit, step = ch, 1
        if src[i + step:i + step + 1] in _QUANTIFIERS:
            break  # "x?" / "x*" / "x{0,1}": x is not required
        out.append(lit)
        i += step
    return "".join(out)


@dataclass(frozen=True)
class Matcher:
    name: str
    regex: re.Pattern[str]
    prefix: str  # literal every match starts with; '' = test every line
    has_id: bool


def matcher(name: str, pattern: str | re.Pattern[str], *, miss: bool) -> Matcher:
    """A compiled pattern with its prefilter; `miss` requires the session_id group."""
    if isinstance(pattern, str):
        pattern = (compile_miss_pattern(pattern) if miss
                   else compile_pattern(pattern, f"--log-pattern {name}"))
    elif miss and SESSION_GROUP not in pattern.groupindex:
        raise LogPatternError("--miss-pattern: needs a (?P<session_id>...) group")
    return Matcher(name, pattern, required_prefix(pattern), SESSION_GROUP in pattern.groupindex)


def candidate_lines(text: str, prefix: str, all_lines: list[str]) -> Iterator[str]:
    """Lines of `text` that contain `prefix`, found with str.find (C speed, no per-line loop).

    `text` ends with a newline; `all_lines` is used when there is no prefix to search for."""
    if not prefix:
        yield from all_lines
        return
    start = text.find(prefix)
    while start != -1:
        begin = text.rfind("\n", 0, start) + 1
        end = text.find("\n", start)  # always found: text ends with a newline
        yield text[begin:end]
        start = text.find(prefix, end + 1)
