"""SIGTERM or Ctrl-C to `tuneline run` stops the whole process tree, for real, in a subprocess.

`tuneline run` starts Prefect's temporary server, then `dvc repro`, which starts `tuneline stage
train`. While training runs, the signal goes to `tuneline run` alone (as systemd, Kubernetes or
`kill` send it). Afterwards no process of the tree may be left (the trainer used to keep
training as an orphan and the Prefect server to stay up), the MLflow run is KILLED, the exit
code is 128 + the signal, and the next `tuneline run` resumes from the checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]

OVERRIDES = {
    "validate": {"min_rows": 100},
    "demo_model": {"vocab_size": 400, "hidden_size": 64, "layers": 1, "heads": 2},
    # long enough to be signalled mid-training: a checkpoint every 2 steps, no early stop
    "train": {
        "max_epochs": 4,
        "early_stopping_patience": 4,
        "batch_size": 8,
        "max_length": 192,
        "pack_length": 384,
        "checkpoint_steps": 2,
        "quantization": "none",
        "tracking_wait_s": 0,
    },
    "evaluate": {"max_examples": 6, "max_new_tokens": 4, "latency_examples": 1},
    "promotion": {"approval_timeout_s": 1},
}


def _env(prefect_home: Path) -> dict[str, str]:
    env = os.environ | {
        "HF_HUB_OFFLINE": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_HOME": str(prefect_home),
        "OMP_NUM_THREADS": "1",
    }
    env.pop("PREFECT_API_URL", None)  # the temporary server, the one that used to be left up
    return env


def _cli(project: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tuneline", "--project", str(project), *args],
        cwd=project,
        env=_env(project.parent / "prefect-home"),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git + DVC project with sample data ingested and a tiny demo base, built once."""
    root = tmp_path_factory.mktemp("template") / "project"
    root.mkdir()
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in OVERRIDES.items():
        params[section].update(values)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc = [sys.executable, "-m", "dvc"]
    for cmd in (
        ["git", "init", "-q"],
        [*dvc, "init", "-q"],
        [*dvc, "config", "core.analytics", "false"],
        [*dvc, "remote", "add", "-d", "local", str(root / ".dvc-storage")],
    ):
        subprocess.run(cmd, cwd=root, check=True, capture_output=True)
    sample = root / "incoming" / "support.csv"
    _cli(root, "sample-data", str(sample), "--rows", "300")
    _cli(root, "demo-model", "--rows", "300")
    _cli(root, "ingest", str(sample))
    return root


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` now (children, their children, ...), from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(text[text.rindex(")") + 2 :].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2 :].split()[0] not in ("Z", "X")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _wait_for_training(project: Path, proc: subprocess.Popen, timeout: float = 240) -> set[int]:
    """Wait for the first complete checkpoint; return the process tree at that moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any((project / "models/checkpoints").glob("checkpoint-*/COMPLETE")):
            tree = _descendants(proc.pid)
            commands = " | ".join(_cmdline(pid) for pid in tree)
            assert "stage train" in commands and "uvicorn" in commands, commands
            return tree
        if proc.poll() is not None:
            raise AssertionError(f"run ended before training: {proc.stderr.read()[-3000:]}")
        time.sleep(0.05)
    raise AssertionError("training did not start in time")


def _run_status(project: Path, run_id: str) -> str:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{project / 'mlruns/mlflow.db'}"
    return MlflowClient(tracking_uri=uri).get_run(run_id).info.status


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_run_stops_the_whole_tree_and_the_next_run_resumes(
    template: Path, tmp_path: Path, signum: int
) -> None:
    project = tmp_path / "project"
    shutil.copytree(template, project, symlinks=True)
    env = _env(tmp_path / "prefect-home")
    command = [sys.executable, "-m", "tuneline", "--project", str(project), "run"]
    proc = subprocess.Popen(
        command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    tree = _wait_for_training(project, proc)
    proc.send_signal(signum)
    try:
        _, err = proc.communicate(timeout=300)
        survivors = {pid: _cmdline(pid) for pid in tree if _running(pid)}
    finally:  # whatever the outcome, leave no process of this test behind
        for pid in tree | {proc.pid}:
            if _running(pid) and _cmdline(pid):
                os.kill(pid, signal.SIGKILL)

    assert proc.returncode == 128 + signum, err[-4000:]
    assert not survivors, f"still running after the run exited: {survivors}"
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"tuneline: run stopped by {signal.Signals(signum).name}"), err[-3000:]
    assert "Traceback" not in err, err[-4000:]
    assert "Crashed" in err  # the flow run's final state, reported before the server stopped
    checkpoints = project / "models/checkpoints"
    saved = [p for p in checkpoints.glob("checkpoint-*") if (p / "COMPLETE").exists()]
    assert len(saved) == 1, saved  # the one saved on the way out (older ones pruned)
    step = int(saved[0].name.split("-")[1])
    run_id = json.loads((checkpoints / "run.json").read_text())["run_id"]
    assert _run_status(project, run_id) == "KILLED"
    if signum != signal.SIGTERM:
        return  # resuming after the stop is the same for both signals: the SIGTERM case runs it

    again = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)

    assert again.returncode == 0, again.stderr[-4000:]
    report = json.loads((project / "reports/train.json").read_text())
    assert report["resumed_from_step"] == step
    assert report["run_id"] == run_id and _run_status(project, run_id) == "FINISHED"
