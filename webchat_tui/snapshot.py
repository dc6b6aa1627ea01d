"""Snapshot files (DESIGN.md section 8): a folder `<UTC time>-<preset>/` with snapshot.json and,
from the dashboard, screen.svg.

snapshot.json, schema_version 1:
    {"schema_version": 1, "tool": "webchat-tui", "tool_version": "0.1.0",
     "started_at": "2025-01-01T12:00:00.000000Z",   # UTC, when the run started
     "saved_at": "2025-01-01T12:00:12.345678Z",     # UTC, when this file was written
     "final": true,                                  # false for a mid-run autosave
     "label": str | null,
     "config": secrets.safe_run(config),             # header NAMES only, URL credentials masked
     "summary": summary.summarize(...),              # the headless/report summary, percentiles
     "metrics": MetricsSnapshot.to_json()}           # timeline per second, events (rate, ramp,
                                                     # mode, pause...), outcome counts, per-phase
                                                     # HDR histograms (HdrHistogram base64),
                                                     # percentiles, recent warnings

Files are written to a temporary name in the same folder and renamed over the target, so a
reader (or a crash) never sees half a file. Secrets are scrubbed before anything is written.
`read_snapshot` validates what it reads and raises SnapshotError with one line naming the
problem (the CLI prints it and exits 2).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

from webchat_tui import __version__
from webchat_tui.config import RunConfig
from webchat_tui.engine.metrics import MetricsSnapshot
from webchat_tui.secrets import redact_text, run_secrets, safe_run
from webchat_tui.summary import summarize

SCHEMA_VERSION = 1
SNAPSHOT_FILE = "snapshot.json"
SCREEN_FILE = "screen.svg"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class SnapshotError(Exception):
    """A snapshot that cannot be read: one clear line for the user (`report` exits 2)."""


@dataclass(frozen=True)
class SavedSnapshot:
    """A validated snapshot.json."""
    path: Path                 # the snapshot.json read
    schema_version: int
    tool_version: str
    started_at: datetime | None
    saved_at: datetime | None
    final: bool
    label: str | None
    config: Mapping[str, Any]  # RunConfig.redacted() as saved (secrets removed)
    metrics: MetricsSnapshot

    def meta(self) -> dict[str, Any]:
        """The file's top-level fields without "metrics" (load_snapshot's first value)."""
        return {"schema_version": self.schema_version, "tool": "webchat-tui",
                "tool_version": self.tool_version,
                "started_at": _fmt_time(self.started_at), "saved_at": _fmt_time(self.saved_at),
                "final": self.final, "label": self.label, "config": dict(self.config),
                "summary": summarize(self.metrics, self.config)}


def _fmt_time(t: datetime | None) -> str | None:
    return None if t is None else t.strftime(TIME_FORMAT)


# --- writing ------------------------------------------------------------------------------------

def redact_snapshot(snapshot: MetricsSnapshot, secrets: Iterable[str]) -> MetricsSnapshot:
    """Warnings, event texts and outcome details may quote server responses or errors: scrub
    known secrets (the base64 histograms are numbers only)."""
    secrets = tuple(secrets)
    if not secrets:
        return snapshot
    details: dict[str, int] = {}
    for key, n in snapshot.outcome_details.items():
        key = redact_text(key, secrets)
        details[key] = details.get(key, 0) + n
    return dataclasses.replace(
        snapshot,
        warnings=tuple(dataclasses.replace(
            w, message=redact_text(w.message, secrets),
            session_id=None if w.session_id is None else redact_text(w.session_id, secrets))
            for w in snapshot.warnings),
        events=tuple(dataclasses.replace(e, detail=redact_text(e.detail, secrets))
                     for e in snapshot.events),
        outcome_details=details,
    )


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


def snapshot_document(snapshot: MetricsSnapshot, config: RunConfig, *,
                      label: str | None = None, final: bool = True,
                      started_at: datetime | None = None,
                      now: datetime | None = None) -> dict[str, Any]:
    """The snapshot.json content, secrets removed (encoding the histograms costs a few ms:
    callers on an event loop run this in a thread)."""
    now = now or datetime.now(timezone.utc)
    started_at = started_at or now - timedelta(seconds=snapshot.elapsed_s)
    secrets = run_secrets(config)
    snapshot = redact_snapshot(snapshot, secrets)
    # The config holds only header names, but a token pasted into another profile field (a URL,
    # a body template) or a label must not reach the file either.
    run = safe_run(config, secrets)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": "webchat-tui",
        "tool_version": __version__,
        "started_at": _fmt_time(started_at),
        "saved_at": _fmt_time(now),
        "final": final,
        "label": None if label is None else redact_text(label, secrets),
        "config": run,
        "summary": summarize(snapshot, run),
        "metrics": snapshot.to_json(),
    }


def save_snapshot(snapshot: MetricsSnapshot, config: RunConfig, base_dir: str | os.PathLike,
                  *, svg: str | None = None, label: str | None = None,
                  folder: str | os.PathLike | None = None, final: bool = True,
                  started_at: datetime | None = None) -> Path:
    """Write snapshot.json (and screen.svg if given); returns the snapshot folder.

    Pass the returned folder back as `folder` to overwrite the same run's snapshot (autosave)
    instead of creating a new folder.
    """
    now = datetime.now(timezone.utc)
    document = snapshot_document(snapshot, config, label=label, final=final,
                                 started_at=started_at, now=now)
    target = Path(folder) if folder is not None else _new_folder(Path(base_dir), config.preset, now)
    target.mkdir(parents=True, exist_ok=True)
    _write_atomic(target / SNAPSHOT_FILE, json.dumps(document, indent=1) + "\n")
    if svg is not None:
        _write_atomic(target / SCREEN_FILE, redact_text(svg, run_secrets(config)))
    return target


# --- reading ------------------------------------------------------------------------------------

_NUM = (int, float)
# Keys of the saved config that summaries and the replay read, with their JSON types.
_CONFIG_KEYS: dict[str, tuple[type, ...]] = {
    "target": (str, type(None)), "preset": (str,), "flow": (str,), "rate": _NUM,
    "duration_s": (*_NUM, type(None)), "stages": (list,), "send_mode": (str,),
    "threshold_ms": _NUM, "fail_under": _NUM,
}


def _read_document(path: Path) -> tuple[Path, dict[str, Any]]:
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
    except RecursionError:
        raise SnapshotError(f"snapshot {file}: corrupt JSON (nested too deeply)") from None
    if not isinstance(document, dict) or "schema_version" not in document:
        raise SnapshotError(f"snapshot {file}: not a webchat-tui snapshot (no schema_version)")
    if document.get("tool", "webchat-tui") != "webchat-tui":
        raise SnapshotError(f"snapshot {file}: not a webchat-tui snapshot "
                            f"(tool {str(document.get('tool'))[:40]!r})")
    return file, document


def _check_version(file: Path, version: Any) -> int:
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SnapshotError(f"snapshot {file}: bad schema_version {version!r}")
    if version > SCHEMA_VERSION:
        raise SnapshotError(f"snapshot {file}: schema_version {version} is newer than this "
                            f"webchat-tui ({__version__}) reads (up to {SCHEMA_VERSION}); "
                            "upgrade webchat-tui")
    return version


def _check_config(file: Path, config: Any) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise SnapshotError(f"snapshot {file}: missing or bad 'config' section")
    for key, types in _CONFIG_KEYS.items():
        value = config.get(key)
        if key not in config or not isinstance(value, types) or isinstance(value, bool):
            raise SnapshotError(f"snapshot {file}: config.{key}: missing or bad value")
    for i, stage in enumerate(config["stages"]):
        if not (isinstance(stage, dict) and all(isinstance(stage.get(k), _NUM)
                                                for k in ("duration_s", "rate"))):
            raise SnapshotError(f"snapshot {file}: config.stages[{i}]: bad stage")
    return config


def _time(file: Path, document: dict[str, Any], key: str) -> datetime | None:
    value = document.get(key)
    if value is None:
        return None
    try:
        return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        raise SnapshotError(f"snapshot {file}: {key}: not a UTC time like "
                            "2025-01-31T12:00:00.000000Z") from None


def read_snapshot(path: str | os.PathLike) -> SavedSnapshot:
    """Read and validate a snapshot folder or its snapshot.json."""
    file, document = _read_document(Path(path))
    version = _check_version(file, document["schema_version"])
    if not isinstance(document.get("metrics"), dict):
        raise SnapshotError(f"snapshot {file}: missing or bad 'metrics' section")
    try:
        metrics = MetricsSnapshot.from_json(document["metrics"])
    except Exception as exc:  # any malformed content: one line, no traceback
        reason = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise SnapshotError(f"snapshot {file}: bad metrics section "
                            f"({type(exc).__name__}: {reason})") from None
    config = _check_config(file, document.get("config"))
    label = document.get("label")
    if label is not None and not isinstance(label, str):
        raise SnapshotError(f"snapshot {file}: label: expected a string")
    return SavedSnapshot(
        path=file, schema_version=version, tool_version=str(document.get("tool_version", "?")),
        started_at=_time(file, document, "started_at"), saved_at=_time(file, document, "saved_at"),
        final=bool(document.get("final", True)), label=label, config=config, metrics=metrics)


def load_snapshot(path: str | os.PathLike) -> tuple[dict[str, Any], MetricsSnapshot]:
    """read_snapshot as (meta without "metrics", MetricsSnapshot)."""
    saved = read_snapshot(path)
    return saved.meta(), saved.metrics
