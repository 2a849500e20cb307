"""DVC behind one module: track, push, reproduce a stage, and read the hashes dvc.lock recorded."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

from tuneline import layout
from tuneline.errors import TunelineError, error_for_exit_code

log = logging.getLogger(__name__)


def _dvc(root: Path, *args: str) -> str:
    """Run the DVC of this environment in `root`; stage commands find this Python first on PATH."""
    env = os.environ | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=root, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise _stage_error(args, done.stdout + done.stderr, done.returncode)
    return done.stdout


def _stage_error(args: tuple[str, ...], output: str, returncode: int) -> TunelineError:
    """The stage's own message and error type when a `tuneline stage` command failed in DVC."""
    ours = [line for line in output.splitlines() if line.startswith("tuneline: ")]
    code = re.search(r"exited with (\d+)", output)
    if ours and code:
        return error_for_exit_code(int(code.group(1)), "\n".join(ours).removeprefix("tuneline: "))
    tail = "\n".join(output.strip().splitlines()[-25:])
    return TunelineError(f"`dvc {' '.join(args)}` failed (exit {returncode}):\n{tail}")


def track_and_push(root: Path, path: Path) -> None:
    """`dvc add` a file or folder (content-hashed into the cache) and push it to the remote."""
    _dvc(root, "add", str(path))
    _dvc(root, "push", f"{path}.dvc")


def reproduce(root: Path, stage: str, force: bool = False) -> str:
    """`dvc repro` one stage, nothing downstream; DVC skips it when its inputs are unchanged."""
    args = ["repro", "--single-item", stage] + (["--force"] if force else [])
    out = _dvc(root, *args)
    log.info("dvc repro %s: %s", stage, "skipped (unchanged)" if "didn't change" in out else "ran")
    return out


def push(root: Path) -> None:
    _dvc(root, "push")


def lock_hashes(root: Path) -> dict[str, str]:
    """Every path in dvc.lock (deps and outs of all stages) with the md5 DVC recorded for it."""
    import yaml

    path = root / layout.DVC_LOCK
    if not path.is_file():
        return {}
    lock = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    hashes: dict[str, str] = {}
    for stage in (lock.get("stages") or {}).values():
        for entry in (stage.get("deps") or []) + (stage.get("outs") or []):
            if "md5" in entry:
                hashes[entry["path"]] = entry["md5"]
    raw_dvc = root / f"{layout.RAW_DIR}.dvc"
    if raw_dvc.is_file():
        for out in (yaml.safe_load(raw_dvc.read_text(encoding="utf-8")) or {}).get("outs", []):
            hashes.setdefault(
                out["path"] if "/" in out["path"] else str(layout.RAW_DIR), out["md5"]
            )
    return hashes
