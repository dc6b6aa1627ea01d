"""Keep credentials out of everything we print or write.

Header values never appear in output at all (RunConfig.redacted keeps only header names). What
can still leak is a secret echoed back inside text we did not write: a server's error body, an
exception message, a warning. `secret_values` lists the strings to hunt for and `redact_text`
scrubs them.

A header is secret by name (Authorization, Cookie, *-Token, *-Key, or listed in the profile's
[secrets].headers); the value of every ${VAR} a header expands is secret whatever the header.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from webchat_tui.config import ConfigError, RunConfig, TargetProfile
from webchat_tui.profile import env_names, expand_env

MASK = "***"
SECRET_HEADER_NAMES = frozenset({"authorization", "proxy-authorization", "cookie"})
SECRET_HEADER_SUFFIXES = ("-token", "-key")
# Shorter values are not scrubbed: replacing "a" or "1" everywhere would wreck every message,
# and a 3-character credential is not one worth hiding.
MIN_SECRET_LEN = 4


def is_secret_header(name: str, extra: Iterable[str] = ()) -> bool:
    lower = name.lower()
    return (lower in SECRET_HEADER_NAMES or lower.endswith(SECRET_HEADER_SUFFIXES)
            or lower in {e.lower() for e in extra})


def secret_values(profile: TargetProfile,
                  environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Every string that must not appear in output for this profile, longest first."""
    env = os.environ if environ is None else environ
    found: set[str] = set()
    for name, template in profile.headers:
        field = f"[headers].{name}"
        for var in env_names(template, field=field):
            if var in env:
                found.add(env[var])
        if is_secret_header(name, profile.secret_headers):
            found.add(template)  # a token written straight into the profile
            try:
                found.add(expand_env(template, field=field, environ=env))
            except ConfigError:
                pass  # variable unset now: nothing expanded, nothing to leak
            # "Bearer abc123": the credential also travels without its scheme word.
            _, _, credential = template.partition(" ")
            if credential and not env_names(credential, field=field):
                found.add(credential)
    return tuple(sorted((v for v in found if len(v) >= MIN_SECRET_LEN), key=len, reverse=True))


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """`text` with every known secret value replaced by ***. Longest first, so a token that
    contains a shorter secret is masked whole."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= MIN_SECRET_LEN and secret in text:
            text = text.replace(secret, MASK)
    return text


# --- URLs: userinfo and query values may be credentials (http://user:pw@host/?key=...) ----------

def redact_url(url: str | None) -> str | None:
    """`url` with its userinfo replaced by *** and every query value by ***; no fragment.
    Parameter names stay (they tell the reader which key was used); None stays None."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:
        return MASK  # not even parseable: keep nothing of it
    netloc = f"{MASK}@{host}" if "@" in parts.netloc else parts.netloc
    query = "&".join(f"{quote(k, safe='')}={MASK}" for k, _ in
                     parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def url_secrets(url: str | None) -> tuple[str, ...]:
    """Secret parts of a URL, to scrub from free text (error messages may quote the URL)."""
    if not url:
        return ()
    try:
        parts = urlsplit(url)
        username, password = parts.username, parts.password
    except ValueError:
        return (url,)
    found = {v for _, v in parse_qsl(parts.query, keep_blank_values=True)}
    if password:
        found |= {password, unquote(password)}
    elif username:  # a token passed as the user name (https://TOKEN@host)
        found |= {username, unquote(username)}
    return tuple(v for v in found if v)


def run_secrets(config: RunConfig, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Every secret string of a run: profile headers and ${VAR} values, URL credentials."""
    found = set(secret_values(config.profile, environ))
    for url in (config.target, config.profile.base_url):
        found.update(url_secrets(url))
    return tuple(sorted((v for v in found if len(v) >= MIN_SECRET_LEN), key=len, reverse=True))


def redact_tree(value: Any, secrets: tuple[str, ...]) -> Any:
    """Scrub every string in a JSON-like tree."""
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return {k: redact_tree(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_tree(v, secrets) for v in value]
    return value


def safe_run(config: RunConfig, secrets: tuple[str, ...] | None = None) -> dict:
    """RunConfig.redacted() with URL credentials masked and known secrets scrubbed from every
    field: the one dict that goes into summaries, snapshot files and records."""
    secrets = run_secrets(config) if secrets is None else secrets
    run = config.redacted()
    run["target"] = redact_url(run.get("target"))
    profile = run.get("profile")
    if isinstance(profile, dict):
        profile["base_url"] = redact_url(profile.get("base_url"))
    return redact_tree(run, secrets)
