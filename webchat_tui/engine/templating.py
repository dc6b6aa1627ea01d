"""Profile placeholders, compiled once per run (the render calls are on the per-session hot path).

Placeholders: `{session_id}`, `{prompt}`, `{n}` (the session's sequence number in the run).
- In paths every value is URL-quoted (`quote(value, safe="")`), so a prompt with spaces or `/`
  stays one path segment.
- In JSON bodies placeholders are replaced inside string values, recursively through dicts and
  lists. Values are inserted as text: a string that is exactly "{n}" becomes the string "17", not
  the number 17 (simple and predictable; a profile that needs a number should not template it).
- Any other `{...}` text is left alone (JSON-looking prompts survive).

Also here: header values expanded at run time (`${VAR}` via profile.expand_env; values are never
logged) and RFC 6901 JSON pointers for the session id in the create response.
"""

from __future__ import annotations

import re
from typing import Any, Callable
from urllib.parse import quote

from webchat_tui.config import ConfigError
from webchat_tui.profile import expand_env

PLACEHOLDERS = ("session_id", "prompt", "n")
_PLACEHOLDER_RE = re.compile(r"\{(session_id|prompt|n)\}")

# A rendered template takes (session_id, prompt, n) and returns the final value.
PathRender = Callable[[str, str, int], str]
BodyRender = Callable[[str, str, int], Any]


def _split(template: str) -> list[str | int]:
    """Literal text as str, placeholders as their index in PLACEHOLDERS."""
    parts: list[str | int] = []
    pos = 0
    for m in _PLACEHOLDER_RE.finditer(template):
        if m.start() > pos:
            parts.append(template[pos:m.start()])
        parts.append(PLACEHOLDERS.index(m.group(1)))
        pos = m.end()
    if pos < len(template):
        parts.append(template[pos:])
    return parts


def _compile_text(template: str, quote_values: bool) -> PathRender:
    parts = _split(template)
    if not any(isinstance(p, int) for p in parts):
        return lambda session_id, prompt, n: template
    q = (lambda v: quote(v, safe="")) if quote_values else (lambda v: v)

    def render(session_id: str, prompt: str, n: int) -> str:
        values = (session_id, prompt, str(n))
        return "".join(p if isinstance(p, str) else q(values[p]) for p in parts)

    return render


def compile_path(template: str) -> PathRender:
    """A path template -> render(session_id, prompt, n) with URL-quoted values."""
    return _compile_text(template, quote_values=True)


def _has_placeholder(value: Any) -> bool:
    if isinstance(value, str):
        return _PLACEHOLDER_RE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_placeholder(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_placeholder(v) for v in value)
    return False


def compile_body(template: Any) -> BodyRender:
    """A JSON body template -> render(session_id, prompt, n) building a fresh value.

    Parts without placeholders are shared between renders (never mutated by us or by httpx).
    """
    if not _has_placeholder(template):
        return lambda session_id, prompt, n: template
    if isinstance(template, str):
        return _compile_text(template, quote_values=False)
    if isinstance(template, dict):
        items = [(k, compile_body(v)) for k, v in template.items()]
        return lambda s, p, n: {k: r(s, p, n) for k, r in items}
    renders = [compile_body(v) for v in template]  # list or tuple (has a placeholder)
    return lambda s, p, n: [r(s, p, n) for r in renders]


def expand_headers(headers: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Header templates -> values, ${VAR} from the environment (the profile loader's rules)."""
    return {name: expand_env(value, field=f"[headers].{name}") for name, value in headers}


class PointerError(LookupError):
    """The JSON pointer does not resolve in the document."""


def compile_pointer(pointer: str) -> Callable[[Any], Any]:
    """RFC 6901 pointer -> get(doc); raises PointerError when a step is missing."""
    if pointer and not pointer.startswith("/"):
        raise ConfigError(f"session_id_pointer must start with '/': {pointer!r}")
    steps = [s.replace("~1", "/").replace("~0", "~") for s in pointer.split("/")[1:]]

    def get(doc: Any) -> Any:
        for step in steps:
            if isinstance(doc, dict):
                if step not in doc:
                    raise PointerError(step)
                doc = doc[step]
            elif isinstance(doc, list) and step.isdigit() and int(step) < len(doc):
                doc = doc[int(step)]
            else:
                raise PointerError(step)
        return doc

    return get
