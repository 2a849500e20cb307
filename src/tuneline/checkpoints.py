"""Resumable training checkpoints: a completion marker written last, and the checks for resuming.

The Trainer writes a checkpoint as many files, not atomically, and `get_last_checkpoint` picks
the highest step number even when that folder was cut short by a crash. Here a checkpoint counts
only once `COMPLETE` exists in it, written after everything else; a folder without it is ignored
and removed. The folder also carries a fingerprint of what is being trained (params, data, base
weights), so a checkpoint left by another configuration is never resumed from.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MARKER = "COMPLETE"
FINGERPRINT = "fingerprint.json"
FINISHED = "FINISHED"  # training done; only saving and tracking may be left
RUN_FILE = "run.json"  # the MLflow run that the checkpoints belong to
BEST_WEIGHTS = "best_adapter.safetensors"  # the best evaluation's adapter weights so far
BEST_INFO = "best.json"
_STEP_DIR = re.compile(r"^checkpoint-(\d+)$")


def fingerprint(config: dict[str, Any]) -> str:
    """sha256 of everything that must be identical for a checkpoint to be resumed."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def prepare_dir(checkpoints: Path, print_: str) -> bool:
    """Keep `checkpoints` if it was written for fingerprint `print_`, else start it afresh.

    Returns True when earlier checkpoints of this same training are there to resume from.
    """
    recorded = checkpoints / FINGERPRINT
    if recorded.is_file() and json.loads(recorded.read_text())["fingerprint"] == print_:
        return True
    if _step_dirs(checkpoints):
        log.info(
            "train: %s holds another configuration's checkpoints; starting afresh", checkpoints
        )
    clear(checkpoints)
    _write_atomic(recorded, json.dumps({"fingerprint": print_}))
    return False


def clear(checkpoints: Path) -> None:
    """Empty the checkpoint folder, keeping the folder itself: it may be a mount point, a
    symlink or a folder someone else created (and owns), none of which is ours to remove.
    A filesystem's own `lost+found` (at the root of a mounted volume) is left alone too."""
    checkpoints.mkdir(parents=True, exist_ok=True)
    for entry in checkpoints.iterdir():
        if entry.name == "lost+found":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def mark_complete(folder: Path, step: int) -> None:
    """Declare `folder` a whole checkpoint; call after every file of it is written and synced."""
    for path in folder.rglob("*"):
        if path.is_file():
            _fsync(path)
    _write_atomic(folder / MARKER, json.dumps({"step": step, "time": time.time()}))


def is_complete(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def latest_complete(checkpoints: Path) -> Path | None:
    """The newest checkpoint with its marker; half-written ones (no marker) do not count."""
    complete = [(step, path) for step, path in _step_dirs(checkpoints) if is_complete(path)]
    return max(complete)[1] if complete else None


def prune(checkpoints: Path, keep: Path | None) -> None:
    """Remove every checkpoint folder but `keep` (the newest complete one): older ones are
    superseded, incomplete ones can never be resumed from."""
    for _, path in _step_dirs(checkpoints):
        if path != keep:
            shutil.rmtree(path, ignore_errors=True)


def _step_dirs(checkpoints: Path) -> list[tuple[int, Path]]:
    if not checkpoints.is_dir():
        return []
    found = []
    for path in checkpoints.iterdir():
        match = _STEP_DIR.match(path.name)
        if match and path.is_dir():
            found.append((int(match.group(1)), path))
    return found


def save_best(folder: Path, weights: dict[str, Any], info: dict[str, Any]) -> None:
    """The best evaluation's adapter weights and its step/loss, saved inside a checkpoint."""
    from safetensors.torch import save_file

    save_file(weights, str(folder / BEST_WEIGHTS))
    (folder / BEST_INFO).write_text(json.dumps(info), encoding="utf-8")


def load_best(folder: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """What `save_best` wrote in checkpoint `folder`, or None before any evaluation."""
    from safetensors.torch import load_file

    if not (folder / BEST_INFO).is_file():
        return None
    info = json.loads((folder / BEST_INFO).read_text(encoding="utf-8"))
    return load_file(str(folder / BEST_WEIGHTS)), info


def mark_finished(checkpoints: Path) -> None:
    """Training ended (all epochs or early stop): a re-run only saves and delivers."""
    _write_atomic(checkpoints / FINISHED, json.dumps({"time": time.time()}))


def is_finished(checkpoints: Path) -> bool:
    return (checkpoints / FINISHED).is_file()


def read_run_id(checkpoints: Path) -> str | None:
    path = checkpoints / RUN_FILE
    return json.loads(path.read_text())["run_id"] if path.is_file() else None


def write_run_id(checkpoints: Path, run_id: str) -> None:
    _write_atomic(checkpoints / RUN_FILE, json.dumps({"run_id": run_id}))


def _write_atomic(path: Path, text: str) -> None:
    """Write then rename: a reader sees the old file or the whole new one, never a torn one."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
