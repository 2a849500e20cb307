"""`kill -9` of the real `tuneline review approve` at random moments (seeded, bounded): after each,
giving the same command again ends in one full record, and the registry, the version's record
and the history agree (`history.audit`, what `tuneline verify` runs; and `review history --at`).

Each kill comes a random 0-0.7 s after the CLI is first seen holding the registry lock, which it
takes only to check and to record the decision: a kill at a random wall-clock moment would almost
always land in the seconds of Python and MLflow starting up, where nothing can go wrong.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tuneline import approval, history, registry
from tuneline.params import load_params

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
import tiny_candidates as tiny  # noqa: E402 - shared with the unit tests

pytestmark = pytest.mark.integration
KILLS = 5  # a CLI start each (~25 s here); test_decision_recovery kills at every step
SEED = 12
MAX_DELAY_S = 0.7  # the CLI holds the lock about 0.6 s in all (check, then decide)


def _approve_cmd(project: Path, version: str) -> list[str]:
    return [sys.executable, "-m", "tuneline", "--project", str(project), "review", "approve"] + [
        version,
        "--comment",
        "read the pack",
        "--reviewer",
        "kim",
    ]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "TUNELINE_"))}
    return env | {"HF_HUB_OFFLINE": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}


def _cli(project: Path, *args: str) -> subprocess.CompletedProcess:
    run = [sys.executable, "-m", "tuneline", "--project", str(project), *args]
    return subprocess.run(run, env=_env(), capture_output=True, text=True, timeout=300)


def _assert_agree(project: Path, version: str) -> None:
    """Approved once, in full: alias, status, record = last history line, audit clean."""
    p = load_params(project / "params.yaml").project
    tags = registry.resolve_version(p, project, version).tags
    entries, broken = approval.read_history(project)
    assert tiny.champion(project) == version and tags["review.status"] == "approved"
    assert not broken and entries[-1]["version"] == version
    last = {k: v for k, v in entries[-1].items() if k != "prev_sha256"}
    assert json.loads(tags["review.record"]) == last
    assert sum(e["version"] == version for e in entries) == 1  # recorded once, not twice
    assert history.audit(p, project).problems == ()
    now = approval.champion_at(entries, datetime.now(UTC))
    assert now is not None and now["champion"] == version
    assert now["approved"]["reviewer"] == "kim"


def _kill_while_deciding(proc: subprocess.Popen, lock: Path, delay_s: float) -> bool:
    """SIGKILL `proc` `delay_s` after it is first seen holding the registry lock; False if it
    ended before that."""
    with lock.open("a") as handle:
        while proc.poll() is None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                time.sleep(delay_s)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            time.sleep(0.01)
    return False


def test_random_kills_of_the_cli_leave_decisions_that_complete(tmp_path: Path) -> None:
    project = tiny.make_project(tmp_path / "project")
    p = load_params(project / "params.yaml").project
    lock = approval.lock_path(p, project)
    rng, killed, half_done = random.Random(SEED), 0, 0
    for kill in range(KILLS):
        version = tiny.register(project, tiny.champion(project))
        proc = subprocess.Popen(
            _approve_cmd(project, version),
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        killed += _kill_while_deciding(proc, lock, rng.uniform(0, MAX_DELAY_S))
        half_done += history.INTENT_TAG in (registry.model_tags(p, project) or {})

        again = subprocess.run(
            _approve_cmd(project, version), env=_env(), capture_output=True, text=True
        )
        assert again.returncode == 0, f"kill {kill}: {again.stderr[-2000:]}"
        _assert_agree(project, version)
    at = datetime.now(UTC).isoformat(timespec="seconds")
    shown = _cli(project, "review", "history", "--at", at)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert f"version {version}, approved by kim" in shown.stdout
    print(f"{killed} of {KILLS} runs killed, {half_done} of them mid-decision (then completed)")
    assert killed > 0, "no run was killed before it finished: the test tried nothing"
