"""The built wheel carries the themes and finds them when installed non-editable."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_wheel_ships_themes_and_loads_them(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist"), str(REPO)], check=True, timeout=120)
    wheel = next((tmp_path / "dist").glob("webchat_tui-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(Path(n).name for n in names if n.startswith("webchat_tui/themes/"))
    assert shipped == sorted(p.name for p in (REPO / "themes").glob("*.toml"))
    assert "webchat_tui/tui/app.tcss" in names

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(site), str(wheel)], check=True, timeout=120)
    probe = ("from webchat_tui.tui.themes import load_themes, package_theme_dirs;"
             "dirs = package_theme_dirs(); print(dirs[0]);"
             "print(sorted(t.name for t in load_themes(dirs).themes))")
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {probe}"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    folder, themes = out.stdout.splitlines()
    assert folder == str(site / "webchat_tui" / "themes")  # the wheel's copy, not the repo's
    assert "webchat-dark" in themes and "webchat-light" in themes
