"""MLflow behind one module: where runs go, and runs that end FAILED/KILLED instead of RUNNING."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tuneline.params import ProjectParams

log = logging.getLogger(__name__)


class Interrupted(SystemExit):
    """Leaves a `run` context after SIGTERM/SIGINT: the run ends KILLED, the process exits 128+n."""


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
    if run_id is None:  # who started it: the reviewer may not be the same identity
        name, source = user_identity(project)
        mlflow.set_tags({"tuneline.started_by": name, "tuneline.started_by_identity": source})
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        raise Interrupted(128 + signum)

    in_main_thread = _is_main_thread()
    if in_main_thread:
        signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield active
    except (KeyboardInterrupt, Interrupted):
        _end_run("KILLED")
        raise
    except BaseException:
        _end_run("FAILED")
        raise
    else:
        mlflow.end_run(status="FINISHED")
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_handled(
    handler: Any, signums: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)
) -> Iterator[None]:
    """`handler` for `signums` during the block, the previous handlers put back afterwards."""
    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def user_identity(project: ProjectParams) -> tuple[str, str]:
    """(name, how it is known): the MLflow login where the tracking server has basic auth,
    else the OS account this process runs as, which nobody verified."""
    username = os.environ.get("MLFLOW_TRACKING_USERNAME", "").strip()
    if project.tracking_uri.startswith(("http://", "https://")) and username:
        password = os.environ.get("MLFLOW_TRACKING_PASSWORD", "")
        if server_authenticates(project.tracking_uri, username, password):
            return username, "mlflow-auth"
        log.warning(
            "MLFLOW_TRACKING_USERNAME is set but %s did not confirm that login (no auth app, "
            "or wrong password): the identity is recorded as self-declared",
            project.tracking_uri,
        )
    return os_account(), "self-declared"


def os_account() -> str:
    """The account of this process's user id. Not getpass.getuser(), which reads LOGNAME and
    USER first, so `LOGNAME=dana tuneline ...` would name someone else."""
    import getpass
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid without a passwd entry (some containers)
        return getpass.getuser()


def server_authenticates(uri: str, username: str, password: str) -> bool:
    """Does the tracking server run MLflow's auth app and accept this login? A server without
    authentication would accept any name, so a name alone proves nothing."""
    import urllib.parse

    query = urllib.parse.urlencode({"username": username})
    return _users_get_status(uri, query, (username, password)) == 200  # 404: no auth app


def server_requires_auth(uri: str) -> bool:
    """Does the tracking server at `uri` refuse a request without a login (401)? Asked of the
    server each time, so no setting on this side can switch the answer off."""
    from tuneline.errors import RegistryError

    status = _users_get_status(uri, "username=tuneline-probe", None)
    if status is None:
        raise RegistryError(
            f"the tracking server {uri} does not answer, so who you are cannot be checked; "
            "start it (or fix project.tracking_uri) and try again"
        )
    return status == 401


def _users_get_status(uri: str, query: str, login: tuple[str, str] | None) -> int | None:
    """HTTP status of the auth app's users/get, with or without a Basic login; None when the
    server cannot be reached."""
    import base64
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{uri.rstrip('/')}/api/2.0/mlflow/users/get?{query}")
    if login is not None:
        token = base64.b64encode(":".join(login).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


def run_exists(project: ProjectParams, root: Path, run_id: str) -> bool:
    """Does the tracking store hold `run_id` (a resumed training continues its own run)?"""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        MlflowClient(tracking_uri=tracking_uri(project, root)).get_run(run_id)
    except MlflowException:
        return False
    return True


def _end_run(status: str) -> None:
    """End the active run with `status` while an error is already on its way up.

    When the tracking server itself is what failed, ending the run fails too: that is logged
    (the server will show the run RUNNING until someone ends it) and the original error is kept.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    if mlflow.active_run() is None:
        return
    try:
        with quick_requests():
            mlflow.end_run(status=status)
    except (MlflowException, OSError) as exc:
        log.warning("could not mark the MLflow run %s (server unreachable?): %s", status, exc)


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """`values` in os.environ for this block only (MLflow's clients read logins and HTTP
    settings from there), the previous values put back afterwards."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def quick_requests(timeout_s: int = 5) -> Iterator[None]:
    """MLflow HTTP calls that fail in seconds instead of retrying for minutes (7 retries, backoff).

    Used where an unreachable server must not stall the caller: metric delivery during training
    and ending a run after an error.
    """
    quick = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": str(timeout_s)}
    with environment(quick):
        yield


class MetricBuffer:
    """Metrics of one run, written to a local JSONL file first and sent to MLflow when it answers.

    Training must not stop or lose its curve because the tracking server is down for a while:
    every `log` appends to `path` (so even a crash keeps the rows), then tries to deliver what is
    pending. After a failed attempt, the next one waits `retry_s` seconds, so an outage costs one
    quick failed request per `retry_s`, not one per step. Rows are sent in order, in batches.
    """

    def __init__(self, tracking_uri: str, run_id: str, path: Path, retry_s: float = 30.0) -> None:
        self.tracking_uri, self.run_id, self.path, self.retry_s = (
            tracking_uri,
            run_id,
            path,
            retry_s,
        )
        self._next_try = 0.0
        self._warned = False
        path.parent.mkdir(parents=True, exist_ok=True)
        self._pending: list[dict[str, Any]] = _read_rows(path)  # left by an earlier process

    @property
    def pending(self) -> int:
        return len(self._pending)

    def log(self, metrics: dict[str, float], step: int) -> None:
        """Keep `metrics` at `step` on disk, then deliver everything pending if MLflow answers."""
        now_ms = int(time.time() * 1000)
        rows = [
            {"key": k, "value": float(v), "step": step, "ts": now_ms} for k, v in metrics.items()
        ]
        with self.path.open("a", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)
        self._pending += rows
        self.flush()

    def flush(self, force: bool = False) -> bool:
        """Send pending rows; True when none is left. Unless `force`, respects the retry pause."""
        if not self._pending:
            return True
        if not force and time.monotonic() < self._next_try:
            return False
        from mlflow.entities import Metric
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=self.tracking_uri)
        pending_before = len(self._pending)
        try:
            with quick_requests():
                while self._pending:
                    chunk = self._pending[:1000]  # MLflow's batch limit
                    metrics = [Metric(r["key"], r["value"], r["ts"], r["step"]) for r in chunk]
                    client.log_batch(self.run_id, metrics=metrics, synchronous=True)
                    self._pending = self._pending[1000:]  # delivered: never sent twice
        except (MlflowException, OSError) as exc:
            if len(self._pending) < pending_before:  # some batches went: keep only the rest
                self._rewrite()
            self._next_try = time.monotonic() + self.retry_s
            if not self._warned:
                log.warning(
                    "MLflow unreachable (%s); training goes on, metrics kept in %s and sent "
                    "when it answers again",
                    str(exc).splitlines()[0][:200],
                    self.path,
                )
                self._warned = True
            return False
        if self._warned:
            log.info("MLflow answers again: %d pending metric rows delivered", pending_before)
        self._pending, self._warned = [], False
        self.path.write_text("", encoding="utf-8")
        return True

    def _rewrite(self) -> None:
        """The local file holds exactly the rows not yet delivered."""
        text = "".join(json.dumps(row) + "\n" for row in self._pending)
        self.path.write_text(text, encoding="utf-8")

    def flush_within(self, wait_s: float) -> bool:
        """Keep trying for up to `wait_s` seconds (the end of training); True when all sent."""
        deadline = time.monotonic() + wait_s
        while not self.flush(force=True):
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
        return True


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """Pending metric rows from a buffer file; a torn last line (a crash mid-write) is skipped."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("%s: skipped a torn line left by a crash: %r", path, line[:80])
    return rows


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
