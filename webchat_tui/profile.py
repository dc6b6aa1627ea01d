"""Load a target profile (TOML) into a TargetProfile, with one clear error per problem.

Every error is a ConfigError that names the file and the key:
    profile chat.toml: [stream].ready_events: expected a list of strings

Header values may reference environment variables as ${VAR}. They are checked when the profile is
loaded (a missing variable fails before any traffic) but expanded only at run time with
`expand_env`, so an expanded secret never sits in a RunConfig, a snapshot or a log.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from webchat_tui.config import (
    ConfigError,
    Flow,
    RequestSpec,
    TargetProfile,
    validate_target_url,
)

_VAR_RE = re.compile(r"\$\{([^}]*)\}")
_VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOKEN_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")   # RFC 9110 header field name
_HEADER_VALUE_RE = re.compile(r"^[\t\x20-\x7e]*$")
_NAME_IN_BRACES_RE = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PLACEHOLDERS = ("session_id", "prompt", "n")
FLOWS: tuple[Flow, ...] = ("webchat", "openai")

_TOP_KEYS = {"name", "base_url", "flow", "model", "headers", "secrets", "create", "stream", "send",
             "prompts"}
_REQUEST_KEYS = {"method", "path", "json"}
_CREATE_KEYS = _REQUEST_KEYS | {"session_id"}
_STREAM_KEYS = _REQUEST_KEYS | {"ready_events", "token_events", "reply_events", "error_events"}


@dataclass(frozen=True)
class LoadedProfile:
    """A profile file: the TargetProfile plus the run settings a file may also choose."""
    profile: TargetProfile
    flow: Flow | None = None    # None: the file does not say (CLI --flow or "webchat")
    model: str | None = None    # openai flow model name


# --- environment variables ----------------------------------------------------------------------

def env_names(template: str, *, field: str) -> list[str]:
    """Names of the ${VAR} references in a template, in order; a malformed one is an error."""
    names = []
    for match in _VAR_RE.finditer(template):
        name = match.group(1)
        if not _VAR_NAME_RE.match(name):
            raise ConfigError(f"{field}: bad variable reference ${{{name}}} "
                              "(expected ${NAME} with letters, digits and _)")
        names.append(name)
    return names


def expand_env(template: str, *, field: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace each ${VAR} with its value from the environment; a missing one is a ConfigError
    naming the field and the variable."""
    env = os.environ if environ is None else environ
    env_names(template, field=field)  # validates the syntax of every reference

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(f"{field}: environment variable {name} is not set")
        return env[name]

    return _VAR_RE.sub(value, template)


# --- loading ------------------------------------------------------------------------------------

def load_profile(path: str | Path, *, environ: Mapping[str, str] | None = None) -> LoadedProfile:
    """Read and validate a profile file. Raises ConfigError('profile <file>: <key>: <problem>')."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"profile {path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"profile {path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"profile {path}: not valid TOML: {exc}") from None
    try:
        return _parse(data, base_dir=path.parent,
                      environ=os.environ if environ is None else environ)
    except ConfigError as exc:
        raise ConfigError(f"profile {path}: {exc}") from None


def _parse(data: dict[str, Any], *, base_dir: Path, environ: Mapping[str, str]) -> LoadedProfile:
    _no_unknown(data, _TOP_KEYS, where="")
    defaults = TargetProfile()

    name = _opt_str(data, "name", "name", default=defaults.name)
    base_url = data.get("base_url")
    if base_url is not None:
        base_url = validate_target_url(_str(base_url, "base_url"), field="base_url")
    flow = data.get("flow")
    if flow is not None and flow not in FLOWS:
        raise ConfigError(f"flow: expected one of {', '.join(FLOWS)}, got {flow!r}")
    model = data.get("model")
    if model is not None:
        model = _str(model, "model")

    headers = _headers(_table(data, "headers"), environ)
    secrets = _table(data, "secrets")
    _no_unknown(secrets, {"headers"}, where="[secrets]")
    secret_headers = frozenset(
        h.lower() for h in _str_list(secrets.get("headers", []), "[secrets].headers"))

    create_t = _table(data, "create")
    _no_unknown(create_t, _CREATE_KEYS, where="[create]")
    create = _request(create_t, "[create]", defaults.create, allowed=("prompt", "n"))
    pointer = _opt_str(create_t, "session_id", "[create].session_id",
                       default=defaults.session_id_pointer)
    _check_pointer(pointer, "[create].session_id")

    stream_t = _table(data, "stream")
    _no_unknown(stream_t, _STREAM_KEYS, where="[stream]")
    stream = _request(stream_t, "[stream]", defaults.stream, allowed=PLACEHOLDERS)
    events = {
        key: tuple(_str_list(stream_t[key], f"[stream].{key}")) if key in stream_t
        else getattr(defaults, key)
        for key in ("ready_events", "token_events", "reply_events", "error_events")
    }
    if not events["reply_events"]:
        raise ConfigError("[stream].reply_events: needs at least one event name")

    send_t = _table(data, "send")
    _no_unknown(send_t, _REQUEST_KEYS, where="[send]")
    send = _request(send_t, "[send]", defaults.send, allowed=PLACEHOLDERS)

    prompts = _prompts(_table(data, "prompts"), base_dir, defaults.prompts)

    profile = TargetProfile(
        name=name, base_url=base_url, headers=headers, secret_headers=secret_headers,
        create=create, session_id_pointer=pointer, stream=stream, send=send, prompts=prompts,
        **events,
    )
    return LoadedProfile(profile=profile, flow=flow, model=model)


def _headers(table: dict[str, Any], environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    headers = []
    for name, template in table.items():
        field = f"[headers].{_shown(name)}"
        if not _TOKEN_RE.match(name):
            raise ConfigError(f"{field}: not a valid header name (letters, digits, - and _)")
        template = _str(template, field)
        for var in env_names(template, field=field):
            if var not in environ:
                raise ConfigError(f"{field}: environment variable {var} is not set")
        # httpx sends header values as ASCII and h11 rejects line breaks: check the expanded
        # value now (never printed: it may be a secret) instead of failing at the first request.
        if not _HEADER_VALUE_RE.match(expand_env(template, field=field, environ=environ)):
            raise ConfigError(f"{field}: value must be printable ASCII without line breaks")
        headers.append((name, template))
    return tuple(headers)


def _request(table: dict[str, Any], where: str, default: RequestSpec, *,
             allowed: tuple[str, ...]) -> RequestSpec:
    method = _opt_str(table, "method", f"{where}.method", default=default.method).upper()
    if method not in METHODS:
        raise ConfigError(f"{where}.method: expected one of {', '.join(METHODS)}, "
                          f"got {table['method']!r}")
    path = _opt_str(table, "path", f"{where}.path", default=default.path)
    if not path.startswith("/"):
        raise ConfigError(f"{where}.path: must start with '/', got {path!r}")
    _check_placeholders(path, f"{where}.path", allowed)
    body = table.get("json", default.json)
    _check_json_template(body, f"{where}.json", allowed)
    return RequestSpec(method=method, path=path, json=body)


def _check_placeholders(template: str, field: str, allowed: tuple[str, ...], *,
                        strict: bool = True) -> None:
    """Catch a placeholder used where its value is not known yet ({session_id} in [create]) and,
    when strict (paths), any unknown {name}: a typo there would silently go out as text. JSON
    string values are not strict: the engine leaves other {...} text alone there."""
    for name in _NAME_IN_BRACES_RE.findall(template):
        if name in allowed:
            continue
        if name in PLACEHOLDERS:
            raise ConfigError(f"{field}: {{{name}}} is not known at this step")
        if strict:
            known = ", ".join("{" + p + "}" for p in allowed)
            raise ConfigError(f"{field}: unknown placeholder {{{name}}} (known here: {known})")


def _check_json_template(value: object, field: str, allowed: tuple[str, ...]) -> None:
    if isinstance(value, str):
        _check_placeholders(value, field, allowed, strict=False)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_json_template(item, f"{field}.{key}", allowed)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_json_template(item, f"{field}[{i}]", allowed)
    elif value is not None and not isinstance(value, (bool, int, float)):
        # tomllib also yields dates and times, which have no JSON form.
        raise ConfigError(f"{field}: {type(value).__name__} values cannot be sent as JSON")


def _check_pointer(pointer: str, field: str) -> None:
    """RFC 6901: '' or '/'-separated tokens where '~' is only followed by 0 or 1."""
    if pointer and not pointer.startswith("/"):
        raise ConfigError(f"{field}: a JSON pointer starts with '/', got {pointer!r}")
    if re.search(r"~(?![01])", pointer):
        raise ConfigError(f"{field}: '~' must be written ~0 and '/' inside a key ~1, "
                          f"got {pointer!r}")


def _prompts(table: dict[str, Any], base_dir: Path, default: tuple[str, ...]) -> tuple[str, ...]:
    _no_unknown(table, {"items", "file"}, where="[prompts]")
    if "items" in table and "file" in table:
        raise ConfigError("[prompts]: give either items or file, not both")
    if "file" in table:
        file = base_dir / _str(table["file"], "[prompts].file")
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError, ValueError) as exc:  # ValueError: a NUL in the path
            raise ConfigError(f"[prompts].file: cannot read {file}: "
                              f"{getattr(exc, 'strerror', None) or exc}") from None
        prompts = tuple(line.strip() for line in lines if line.strip())
        if not prompts:
            raise ConfigError(f"[prompts].file: {file} has no prompts (one per line)")
        return prompts
    if "items" in table:
        prompts = tuple(_str_list(table["items"], "[prompts].items"))
        if not prompts:
            raise ConfigError("[prompts].items: needs at least one prompt")
        return prompts
    return default


# --- small typed getters ------------------------------------------------------------------------

def _no_unknown(table: dict[str, Any], known: set[str], *, where: str) -> None:
    for key in table:
        if key not in known:
            name = f"{where}.{_shown(key)}" if where else _shown(key)
            raise ConfigError(f"{name}: unknown key (known: {', '.join(sorted(known))})")


def _shown(key: str) -> str:
    """A key as it goes into a message: quoted when it holds a line break or other control."""
    return key if key.isprintable() else repr(key)


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{key}]: expected a table")
    return value


def _str(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{field}: expected a string, got {type(value).__name__}")
    return value


def _opt_str(table: dict[str, Any], key: str, field: str, *, default: str) -> str:
    return _str(table[key], field) if key in table else default


def _str_list(value: object, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{field}: expected a list of strings")
    return value
