"""Unit tests of the dashboard's pure parts: rate maths, input parsing, themes, widgets' helpers."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.theme import Theme

from webchat_tui.tui import controls
from webchat_tui.tui.app import display_target
from webchat_tui.tui.themes import (ThemeFileError, load_theme_file, load_themes,
                                    package_theme_dirs, user_theme_dir)
from webchat_tui.tui.widgets.latency_histogram import bin_position, format_ms
from webchat_tui.tui.widgets.run_header import format_elapsed

REPO_THEMES = Path(__file__).resolve().parent.parent / "themes"


def test_scale_and_step_rate():
    assert controls.scale_rate(5.0, 1.25) == 6.25
    assert controls.scale_rate(6.25, 0.8) == 5.0
    assert controls.step_rate(0.5, -1) == controls.MIN_RATE
    assert controls.scale_rate(controls.MAX_RATE, 1.25) == controls.MAX_RATE


@pytest.mark.parametrize("text,value", [("12.5", 12.5), (" 3 ", 3.0), ("7/s", 7.0)])
def test_parse_rate_accepts(text, value):
    assert controls.parse_rate(text) == value


@pytest.mark.parametrize("text", ["", "abc", "0", "-1", "nan", "inf", "1e9"])
def test_parse_rate_rejects_with_one_line(text):
    with pytest.raises(ValueError) as info:
        controls.parse_rate(text)
    assert "\n" not in str(info.value) and str(info.value)


def test_parse_seconds():
    assert controls.parse_seconds("30") == 30.0
    with pytest.raises(ValueError):
        controls.parse_seconds("0")


def test_pending_holds_until_snapshot_agrees_or_expires():
    pending = controls.Pending(6.25, since=10.0)
    assert pending.current(5.0, now=10.5) == (6.25, True)
    assert pending.current(6.25, now=10.6) == (6.25, False)
    assert pending.current(5.0, now=10.0 + controls.PENDING_HOLD_S + 0.1) == (5.0, False)


def test_shipped_themes_load():
    names = {load_theme_file(p).name for p in REPO_THEMES.glob("*.toml")}
    assert {"webchat-dark", "webchat-light", "webchat-high-contrast"} <= names
    light = load_theme_file(REPO_THEMES / "webchat-light.toml")
    assert isinstance(light, Theme) and light.dark is False
    assert "chart-ok" in light.variables
    assert REPO_THEMES in package_theme_dirs()


@pytest.mark.parametrize("body,fragment", [
    ('name = "x"\nprimary = "nope"\n', "not a colour"),
    ('primary = "#fff"\n', "name"),
    ('name = "x"\n', "primary"),
    ('name = "x"\nprimary = "#fff"\ncolour = "#fff"\n', "unknown key"),
    ('name = "x"\nprimary = "#fff"\ndark = "yes"\n', "dark"),
    ('name = [\n', "invalid TOML"),
])
def test_broken_theme_files_give_one_line(tmp_path, body, fragment):
    path = tmp_path / "t.toml"
    path.write_text(body)
    with pytest.raises(ThemeFileError) as info:
        load_theme_file(path)
    assert fragment in str(info.value) and "t.toml" in str(info.value)
    assert "\n" not in str(info.value)


def test_load_themes_skips_broken_and_user_overrides(tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "a.toml").write_text('name = "webchat-dark"\nprimary = "#010203"\n')
    (user / "b.toml").write_text("broken = \n")
    loaded = load_themes([REPO_THEMES, user, tmp_path / "missing"])
    assert len(loaded.errors) == 1 and "b.toml" in loaded.errors[0]
    dark = next(t for t in loaded.themes if t.name == "webchat-dark")
    assert dark.primary == "#010203"   # the user's file wins


def test_user_theme_dir_honours_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert user_theme_dir() == tmp_path / "webchat-tui" / "themes"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert user_theme_dir() == Path.home() / ".config" / "webchat-tui" / "themes"


def test_display_target_hides_credentials_and_query():
    shown = display_target("https://bob:s3cret@chat.example.com:8443/api?token=abc")
    assert shown == "https://chat.example.com:8443/api"


def test_bin_position_is_log_interpolated():
    edges = (1.0, 10.0, 100.0, 1000.0)
    assert bin_position(edges, 1.0) == 0.0
    assert bin_position(edges, 10.0) == pytest.approx(1.0)
    assert bin_position(edges, 31.6227766) == pytest.approx(1.5)
    assert bin_position(edges, 10_000.0) == pytest.approx(4.0)


def test_formatters():
    assert format_ms(3.25) == "3.2ms" or format_ms(3.25) == "3.3ms"
    assert format_ms(1500) == "1.5s"
    assert format_elapsed(3725) == "1:02:05"
    assert format_elapsed(65) == "01:05"


def test_throughput_labels_never_overlap_and_keep_the_newest():
    from webchat_tui.tui.widgets.throughput_chart import labels_that_fit

    events = [(10.0, "5→6/s"), (11.0, "6→7/s"), (12.0, "mode"), (40.0, "7→9/s")]
    kept = labels_that_fit(events, 0, 60, 60)   # one column per second
    assert (40.0, "7→9/s") in kept and (12.0, "mode") in kept
    assert (11.0, "6→7/s") not in kept and (10.0, "5→6/s") not in kept
    spans = sorted((t, t + len(label)) for t, label in kept)
    assert all(a_end < b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    assert labels_that_fit(events, 0, 60, 0) == []
