"""DVC behind one module: track, push, reproduce a stage, and read the hashes dvc.lock recorded."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tuneline import layout
from tuneline.errors import TunelineError, error_for_exit_code

log = logging.getLogger(__name__)

# After SIGTERM a training stage finishes its current step, saves a checkpoint and ends its
# MLflow run; a step of a real model on CPU can take a minute. A second signal kills at once.
STOP_GRACE_S = 600.0


def _dvc(root: Path, *args: str) -> str:
    """Run the DVC of this environment in `root`; stage commands find this Python first on PATH.

    DVC and the stage it runs get a process group of their own: when this call is interrupted
    (SIGTERM or Ctrl-C to `tuneline run`, a task timeout) the whole group is told to stop and
    waited for, so no stage keeps training as an orphan.
    """
    env = os.environ | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "dvc", *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, which stop_process_group signals
    )
    try:
        stdout, stderr = proc.communicate()
    except BaseException:
        stop_process_group(proc, STOP_GRACE_S)
        raise
    if proc.returncode != 0:
        raise _stage_error(args, stdout + stderr, proc.returncode)
    return stdout


def stop_process_group(proc: subprocess.Popen[str], grace_s: float) -> None:
    """SIGTERM to `proc`'s process group, then wait (still draining its pipes, so a stage that
    logs while it checkpoints cannot block on a full pipe) until no process of the group is
    left; SIGKILL after `grace_s` or at a second interruption."""
    group = proc.pid  # start_new_session: the group id is the leader's pid
    log.warning(
        "stopping `dvc` and its stage (process group %d): SIGTERM, waiting up to %.0f s for a "
        "checkpoint; send the signal again to kill it now",
        group,
        grace_s,
    )
    _signal_group(group, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    try:
        while time.monotonic() < deadline:
            if proc.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.communicate(timeout=0.5)
            elif not group_alive(group):
                return
            else:
                time.sleep(0.1)
    finally:
        if group_alive(group):
            _signal_group(group, signal.SIGKILL)
            log.warning("process group %d did not stop in time: killed", group)
        if proc.poll() is None:
            proc.wait()


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)


def group_alive(group: int) -> bool:
    """Whether a process of group `group` is still running (zombies, which only wait for
    their parent to read their status, do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():  # no procfs: ask the kernel, zombies included
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended while we looked
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses
        state, _ppid, pgrp = text[text.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == group and state not in ("Z", "X"):
            return True
    return False


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
