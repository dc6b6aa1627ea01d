"""Load dashboard themes from TOML files into textual.theme.Theme.

Package themes live in the repo's top-level themes/ (editable install) or in webchat_tui/themes/
inside a wheel (hatch force-include); user themes in $XDG_CONFIG_HOME/webchat-tui/themes/
(default ~/.config). A broken file is reported as one line and skipped, never raised.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

DEFAULT_THEME = "webchat-dark"
COLOUR_FIELDS = ("primary", "secondary", "accent", "warning", "error", "success",
                 "foreground", "background", "surface", "panel", "boost")
KNOWN_KEYS = frozenset(COLOUR_FIELDS) | {"name", "dark", "variables",
                                         "luminosity_spread", "text_alpha"}


class ThemeFileError(ValueError):
    """A theme file that cannot be used; the message is one line naming file and field."""


@dataclass
class LoadedThemes:
    themes: list[Theme] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [theme.name for theme in self.themes]


def package_theme_dirs() -> list[Path]:
    """The wheel's webchat_tui/themes/, else the repo's top-level themes/ (editable install).
    Only one of them: beside an installed wheel, site-packages/themes/ belongs to someone else."""
    package_root = Path(__file__).resolve().parent.parent   # .../webchat_tui
    candidates = [package_root / "themes", package_root.parent / "themes"]
    return [path for path in candidates if path.is_dir()][:1]


def user_theme_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "webchat-tui" / "themes"


def load_theme_file(path: Path) -> Theme:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ThemeFileError(f"{path.name}: cannot read ({exc.__class__.__name__})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(f"{path.name}: invalid TOML ({exc})") from None
    return theme_from_dict(data, source=path.name)


def theme_from_dict(data: dict, *, source: str = "theme") -> Theme:
    unknown = sorted(set(data) - KNOWN_KEYS)
    if unknown:
        raise ThemeFileError(f"{source}: unknown key {unknown[0]!r}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ThemeFileError(f"{source}: 'name' must be a non-empty string")
    if "primary" not in data:
        raise ThemeFileError(f"{source}: 'primary' colour is required")
    colours: dict[str, str] = {}
    for key in COLOUR_FIELDS:
        if key in data:
            colours[key] = _colour(data[key], f"{source}: {key!r}")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeFileError(f"{source}: 'dark' must be true or false")
    variables = data.get("variables", {})
    if not isinstance(variables, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in variables.items()
    ):
        raise ThemeFileError(f"{source}: [variables] must map names to strings")
    extra = {k: float(data[k]) for k in ("luminosity_spread", "text_alpha") if k in data}
    return Theme(name=name.strip(), dark=dark, variables=dict(variables), **colours, **extra)


def _colour(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ThemeFileError(f"{where} must be a colour string")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeFileError(f"{where}: {value!r} is not a colour") from None
    return value


def load_themes(dirs: list[Path] | None = None) -> LoadedThemes:
    """All themes from the package dirs then the user dir; later files override same names."""
    if dirs is None:
        dirs = [*package_theme_dirs(), user_theme_dir()]
    loaded = LoadedThemes()
    by_name: dict[str, Theme] = {}
    for folder in dirs:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                theme = load_theme_file(path)
            except ThemeFileError as exc:
                loaded.errors.append(str(exc))
                continue
            by_name[theme.name] = theme
    loaded.themes = list(by_name.values())
    return loaded
