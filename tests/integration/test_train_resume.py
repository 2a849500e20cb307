"""The train stage survives `kill -9` and SIGTERM, for real, in a subprocess on a tiny model.

kill -9: the process gets no chance to clean up. Running the stage again must resume from the
newest *complete* checkpoint (a half-written one planted beside it is ignored) and end, on CPU
with the same seed, with the same validation curve, best evaluation and adapter weights as a
run that was never interrupted, in the same MLflow run, which ends FINISHED. Checked with plain
LoRA and with the 4-bit NF4 base (bitsandbytes on CPU), params.yaml's default.

SIGTERM (what systemd, Kubernetes and Prefect send): a checkpoint is saved, the process exits
143 without a traceback, and the MLflow run is KILLED, not left RUNNING.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
import train_project  # noqa: E402

pytestmark = pytest.mark.integration
STEPS = 3 * 96 // 8  # max_epochs x (train examples / batch size)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    os.environ["HF_HUB_OFFLINE"] = "1"
    return train_project.build_base(tmp_path_factory.mktemp("base") / "demo-base")


def _project(root: Path, base: Path, quantization: str = "none") -> Path:
    # 12 steps per epoch, a checkpoint every 3: the first marker appears early in epoch 1
    train = {"quantization": quantization}
    return train_project.make_project(root, base, n_train=96, n_val=16, train=train)


def _start(project: Path) -> subprocess.Popen:
    # One thread: a tiny model runs 3x faster than with two threads fighting other processes.
    env = os.environ | {
        "HF_HUB_OFFLINE": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tuneline", "--project", str(project), "stage", "train"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run_to_end(project: Path) -> dict:
    proc = _start(project)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return json.loads((project / "reports/train.json").read_text())


def _wait_for_marker(
    project: Path, proc: subprocess.Popen, timeout: float = 120, step: int | None = None
) -> Path:
    """The first checkpoint folder with its COMPLETE marker (or that of `step`), polled every
    10 ms."""
    deadline = time.monotonic() + timeout
    checkpoints = project / "models/checkpoints"
    pattern = f"checkpoint-{step}/COMPLETE" if step is not None else "checkpoint-*/COMPLETE"
    while time.monotonic() < deadline:
        marked = sorted(checkpoints.glob(pattern))
        if marked:
            return marked[0].parent
        if proc.poll() is not None:
            raise AssertionError(
                f"training ended before a checkpoint: {proc.stderr.read()[-3000:]}"
            )
        time.sleep(0.01)
    raise AssertionError("no complete checkpoint appeared")


def _adapter_weights(project: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(project / "models/adapter/adapter_model.safetensors"))


def _run_status(project: Path, run_id: str) -> str:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{project / 'mlruns/mlflow.db'}"
    return MlflowClient(tracking_uri=uri).get_run(run_id).info.status


def _plant_half_written(complete: Path) -> Path:
    """A newer checkpoint as a crash mid-save leaves it: files cut short, no marker."""
    step = int(complete.name.split("-")[1]) + 100
    half = complete.with_name(f"checkpoint-{step}")
    shutil.copytree(complete, half)
    (half / "COMPLETE").unlink()
    weights = half / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    return half


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, base: Path) -> Callable[[str], Path]:
    """Per quantization, a project trained once, start to end (built on first use), that the
    resumed runs must match exactly."""
    trained: dict[str, Path] = {}

    def reference(quantization: str) -> Path:
        if quantization not in trained:
            root = tmp_path_factory.mktemp(f"reference-{quantization}")
            trained[quantization] = _project(root / "uninterrupted", base, quantization)
            _run_to_end(trained[quantization])
        return trained[quantization]

    return reference


# Two uninterrupted runs agree bit for bit on CPU, with plain LoRA and with the NF4 base (and
# int8), with 1 or 2 threads, also beside a busy process (measured 2026-12-03), so a resumed run
# must too: every figure and every adapter weight is compared exactly. The NF4 case runs its own
# reference, killed and resumed runs (108 s on 2 shared cores; the other cases take 58-97 s), so
# it is killed at one point only. Resuming without the RNG states fails it (measured: best eval
# loss 5.8724 vs 5.8792, adapter weights up to 0.21 apart).
@pytest.mark.parametrize(
    ("quantization", "after_step"),
    [("none", None), ("none", 15), ("nf4", 15)],
    ids=["first-checkpoint", "epoch-2-step-15", "nf4-epoch-2-step-15"],
)
def test_kill_9_mid_epoch_then_resume_ends_with_the_uninterrupted_metrics(
    tmp_path: Path,
    base: Path,
    uninterrupted: Callable[[str], Path],
    quantization: str,
    after_step: int | None,
) -> None:
    reference_project = uninterrupted(quantization)
    reference = json.loads((reference_project / "reports/train.json").read_text())
    project = _project(tmp_path / "killed", base, quantization)

    proc = _start(project)
    first = _wait_for_marker(project, proc, step=after_step)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    checkpoints = project / "models/checkpoints"
    assert not (project / "reports/train.json").exists(), "killed too late: training had ended"
    assert not (checkpoints / "FINISHED").exists()
    run_id = json.loads((checkpoints / "run.json").read_text())["run_id"]
    assert _run_status(project, run_id) == "RUNNING"  # kill -9: nobody could end it
    newest = max(
        (p for p in checkpoints.glob("checkpoint-*") if (p / "COMPLETE").exists()),
        key=lambda p: int(p.name.split("-")[1]),
    )
    half = _plant_half_written(newest)

    resumed = _run_to_end(project)

    assert resumed["resumed_from_step"] == int(newest.name.split("-")[1])
    assert int(first.name.split("-")[1]) <= resumed["resumed_from_step"] < STEPS
    assert resumed["resumed_from_step"] % (96 // 8) != 0  # mid-epoch
    assert not half.exists() and not any(checkpoints.iterdir())  # emptied after the run
    assert resumed["run_id"] == run_id and _run_status(project, run_id) == "FINISHED"
    assert resumed["steps_run"] == reference["steps_run"] == STEPS
    assert resumed["best_step"] == reference["best_step"]
    assert resumed["best_eval_loss"] == reference["best_eval_loss"]
    assert resumed["curve"] == reference["curve"]  # every step, epoch and loss, exactly
    ours, theirs = _adapter_weights(project), _adapter_weights(reference_project)
    assert ours.keys() == theirs.keys()
    for name in theirs:
        assert ours[name].equal(theirs[name]), name


def test_sigterm_saves_a_checkpoint_exits_cleanly_and_marks_the_run_killed(
    tmp_path: Path, base: Path
) -> None:
    project = _project(tmp_path / "terminated", base)
    proc = _start(project)
    first = _wait_for_marker(project, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)

    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert "Traceback" not in err
    assert "SIGTERM; saving a checkpoint" in err
    checkpoints = project / "models/checkpoints"
    complete = [p for p in checkpoints.glob("checkpoint-*") if (p / "COMPLETE").exists()]
    assert len(complete) == 1  # the one saved on SIGTERM; older ones pruned
    assert int(complete[0].name.split("-")[1]) > int(first.name.split("-")[1])
    run_id = json.loads((checkpoints / "run.json").read_text())["run_id"]
    assert _run_status(project, run_id) == "KILLED"
    assert not (project / "reports/train.json").exists()


def _mount_tmpfs(folder: Path, size: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


def test_a_mount_point_as_checkpoint_folder_trains_and_stays_mounted(
    tmp_path: Path, base: Path
) -> None:
    """It used to fail at start: the folder was deleted (EBUSY, ignored) and re-created
    (FileExistsError). Now only its contents are cleared."""
    project = _project(tmp_path / "mounted", base)
    checkpoints = project / "models/checkpoints"
    _mount_tmpfs(checkpoints, "64m")
    try:
        (checkpoints / "stale.txt").write_text("left by another configuration")
        report = _run_to_end(project)
        assert report["steps_run"] == STEPS
        assert os.path.ismount(checkpoints) and not any(checkpoints.iterdir())
    finally:
        subprocess.run(["umount", str(checkpoints)], check=True)


def test_disk_full_while_checkpointing_is_said_as_such(tmp_path: Path, base: Path) -> None:
    project = _project(tmp_path / "full", base)
    checkpoints = project / "models/checkpoints"
    _mount_tmpfs(checkpoints, "48k")  # the fingerprint fits, a checkpoint does not
    try:
        proc = _start(project)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 3, err[-3000:]
        last = err.strip().splitlines()[-1]
        assert last.startswith(f"tuneline: {checkpoints}") and "no space left on device" in last
        assert "Traceback" not in err
        run_id = json.loads((checkpoints / "run.json").read_text())["run_id"]
        assert _run_status(project, run_id) == "FAILED"  # ended, not left RUNNING
        assert ckpt_latest(checkpoints) is None  # the cut-short checkpoint never counts
    finally:
        subprocess.run(["umount", str(checkpoints)], check=True)


def ckpt_latest(checkpoints: Path) -> Path | None:
    from tuneline import checkpoints as ckpt

    return ckpt.latest_complete(checkpoints)
