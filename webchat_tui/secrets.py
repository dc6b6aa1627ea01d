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
from typing import Iterable, Mapping

from webchat_tui.config import ConfigError, TargetProfile
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
