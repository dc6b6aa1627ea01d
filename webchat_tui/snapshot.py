"""Snapshot files (DESIGN.md section 8): a folder `<UTC time>-<preset>/` with snapshot.json and,
from the dashboard, screen.svg.

snapshot.json, schema_version 1:
    {"schema_version": 1, "tool": "webchat-tui", "tool_version": "...", "created_at": "...Z",
     "label": str | null, "config": RunConfig.redacted(), "summary": summary.summarize(...),
     "metrics": MetricsSnapshot.to_json()}

Files are written to a temporary name in the same folder and renamed over the target, so a
reader (or a crash) never sees half a file. Secrets are scrubbed before anything is written.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from webchat_tui import __version__
from webchat_tui.config import RunConfig
from webchat_tui.engine.metrics import MetricsSnapshot
from webchat_tui.secrets import redact_text, secret_values
from webchat_tui.summary import summarize

SCHEMA_VERSION = 1
SNAPSHOT_FILE = "snapshot.json"
SCREEN_FILE = "screen.svg"


class SnapshotError(Exception):
    """A snapshot that cannot be read: one clear line for the user (`report` exits 2)."""


# --- writing ------------------------------------------------------------------------------------

def redact_snapshot(snapshot: MetricsSnapshot, secrets: Iterable[str]) -> MetricsSnapshot:
    """Warnings and event texts may quote server responses or errors: scrub known secrets."""
    secrets = tuple(secrets)
    if not secrets:
        return snapshot
    return dataclasses.replace(
        snapshot,
        warnings=tuple(dataclasses.replace(w, message=redact_text(w.message, secrets))
                       for w in snapshot.warnings),
        events=tuple(dataclasses.replace(e, detail=redact_text(e.detail, secrets))
                     for e in snapshot.events),
    )


def _redact_tree(value: Any, secrets: tuple[str, ...]) -> Any:
    """Scrub every string in a JSON-like tree (not the metrics: base64 histograms are opaque)."""
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return {k: _redact_tree(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_tree(v, secrets) for v in value]
    return value


def _new_folder(base_dir: Path, preset: str, now: datetime) -> Path:
    """A fresh folder; two runs saved in the same second get -2, -3, ... suffixes."""
    base_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{now.strftime('%Y%m%dT%H%M%SZ')}-{preset}"
    for i in range(1, 1000):
        folder = base_dir / (stem if i == 1 else f"{stem}-{i}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise OSError(f"too many snapshots named {stem} in {base_dir}")


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Never leave a partial temp file behind, whatever interrupted us.
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def save_snapshot(snapshot: MetricsSnapshot, config: RunConfig, base_dir: str | os.PathLike,
                  *, svg: str | None = None, label: str | None = None,
                  folder: str | os.PathLike | None = None) -> Path:
    """Write snapshot.json (and screen.svg if given); returns the snapshot folder.

    Pass the returned folder back as `folder` to overwrite the same run's snapshot (autosave)
    instead of creating a new folder.
    """
    now = datetime.now(timezone.utc)
    target = Path(folder) if folder is not None else _new_folder(Path(base_dir), config.preset, now)
    target.mkdir(parents=True, exist_ok=True)
    secrets = secret_values(config.profile)
    snapshot = redact_snapshot(snapshot, secrets)
    # The config holds only header names, but a token pasted into another profile field (a URL,
    # a body template) or a label must not reach the file either.
    run = _redact_tree(config.redacted(), secrets)
    label = None if label is None else redact_text(label, secrets)
    document = {
        "schema_version": SCHEMA_VERSION,
        "tool": "webchat-tui",
        "tool_version": __version__,
        "created_at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "label": label,
        "config": run,
        "summary": summarize(snapshot, run),
        "metrics": snapshot.to_json(),
    }
    _write_atomic(target / SNAPSHOT_FILE, json.dumps(document, indent=1) + "\n")
    if svg is not None:
        _write_atomic(target / SCREEN_FILE, redact_text(svg, secrets))
    return target


# --- reading ------------------------------------------------------------------------------------

def load_snapshot(path: str | os.PathLike) -> tuple[dict[str, Any], MetricsSnapshot]:
    """Read a snapshot folder or its snapshot.json: (meta without "metrics", MetricsSnapshot)."""
    path = Path(path)
    file = path / SNAPSHOT_FILE if path.is_dir() else path
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SnapshotError(f"snapshot {path}: not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"snapshot {path}: cannot read: "
                            f"{getattr(exc, 'strerror', None) or exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"snapshot {file}: truncated or corrupt JSON ({exc.msg} at line "
                            f"{exc.lineno})") from None
    if not isinstance(document, dict) or "schema_version" not in document:
        raise SnapshotError(f"snapshot {file}: not a webchat-tui snapshot (no schema_version)")
    version = document["schema_version"]
    if not isinstance(version, int) or version < 1:
        raise SnapshotError(f"snapshot {file}: bad schema_version {version!r}")
    if version > SCHEMA_VERSION:
        raise SnapshotError(f"snapshot {file}: schema_version {version} is newer than this "
                            f"webchat-tui ({__version__}) reads (up to {SCHEMA_VERSION}); "
                            "upgrade webchat-tui")
    for key in ("config", "metrics"):
        if not isinstance(document.get(key), dict):
            raise SnapshotError(f"snapshot {file}: missing or bad {key!r} section")
    try:
        metrics = MetricsSnapshot.from_json(document["metrics"])
    except Exception as exc:  # any malformed content: one line, no traceback
        raise SnapshotError(f"snapshot {file}: bad metrics section "
                            f"({type(exc).__name__}: {exc})") from None
    meta = {k: v for k, v in document.items() if k != "metrics"}
    return meta, metrics
