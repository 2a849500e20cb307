"""MLflow behind one module: where runs go, and runs that end FAILED/KILLED instead of RUNNING."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tuneline.params import ProjectParams


def tracking_uri(project: ProjectParams, root: Path) -> str:
    """The configured URI with a relative SQLite path made absolute (stages run from any CWD)."""
    uri = project.tracking_uri
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        db = (root / uri[len(prefix) :]).resolve()
        db.parent.mkdir(parents=True, exist_ok=True)
        return prefix + str(db)
    return uri


def configure(project: ProjectParams, root: Path) -> str:
    """Point MLflow at the project's store and make sure the experiment exists; returns its id."""
    import mlflow

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    mlflow.set_tracking_uri(tracking_uri(project, root))
    experiment = mlflow.get_experiment_by_name(project.experiment)
    if experiment is not None:
        return experiment.experiment_id
    if not project.tracking_uri.startswith("sqlite:"):
        # A tracking server chooses where artifacts go, so every machine can read them back.
        return mlflow.create_experiment(project.experiment)
    artifacts = (root / project.artifact_root).resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    return mlflow.create_experiment(project.experiment, artifact_location=artifacts.as_uri())


@contextlib.contextmanager
def run(
    project: ProjectParams, root: Path, run_id: str | None = None, **kwargs: Any
) -> Iterator[Any]:
    """An MLflow run (new, or `run_id` resumed) that is ended FAILED on error, KILLED on SIGTERM."""
    import mlflow

    experiment_id = configure(project, root)
    active = mlflow.start_run(run_id=run_id, experiment_id=experiment_id, **kwargs)
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        mlflow.end_run(status="KILLED")
        raise SystemExit(128 + signum)

    in_main_thread = _is_main_thread()
    if in_main_thread:
        signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield active
    except KeyboardInterrupt:
        mlflow.end_run(status="KILLED")
        raise
    except BaseException:
        if mlflow.active_run() is not None:
            mlflow.end_run(status="FAILED")
        raise
    else:
        mlflow.end_run(status="FINISHED")
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def git_state(root: Path) -> dict[str, str]:
    """Commit of the code that ran, and whether the working tree had uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD") or "unknown (not a git checkout or no commit yet)"
    dirty = bool(
        git(
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            "src",
            "flows",
            "params.yaml",
            "dvc.yaml",
        )
    )
    return {"git.commit": commit, "git.dirty": str(dirty).lower()}
