"""Identity against the real MLflow server with logins (`tuneline tracking-server start`, the
tuneline-auth app), started here on a free 127.0.0.1 port and stopped by its process group.

A trainer account registers a candidate; the trainer cannot approve it (verified identities),
nor move `champion` or write review tags through the REST API or the UI's /ajax-api/ routes;
no login, a wrong password, `--reviewer NAME` or LOGNAME give nothing; the reviewer's login is
confirmed by the server and recorded as `mlflow-auth`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
import tiny_candidates as tiny  # noqa: E402 - shared with the unit tests

pytestmark = pytest.mark.integration

TRAINER = ("trainer", "trainer-pass-0123")
REVIEWER = ("rita", "reviewer-pass-0123")
SECRETS = f"""\
MLFLOW_FLASK_SERVER_SECRET_KEY=flask-secret-0123456789
MLFLOW_AUTH_ADMIN_USERNAME=admin
MLFLOW_AUTH_ADMIN_PASSWORD=admin-pass-0123456789
TUNELINE_MLFLOW_TRAINERS={TRAINER[0]}
TUNELINE_MLFLOW_REVIEWERS={REVIEWER[0]}
TUNELINE_PASSWORD_TRAINER={TRAINER[1]}
TUNELINE_PASSWORD_RITA={REVIEWER[1]}
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    env.pop("PREFECT_API_URL", None)  # decisions recorded in-process, no Prefect server here
    return env | {
        "HF_HUB_OFFLINE": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(URL, project): a tiny project whose tracking URI is a fresh server with logins."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        project = tiny.make_project(tmp_path_factory.mktemp("auth") / "project")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["project"]["tracking_uri"] = url
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env_file = project / "infra/mlflow-auth.env"
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.write_text(SECRETS)
    env_file.chmod(0o600)
    log = project / "server.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuneline", "--project", str(project), "tracking-server"]
        + ["start", "--port", str(port), "--workers", "1"],
        env=_base_env(),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: uvicorn and its worker stop with it
    )
    try:
        _wait_healthy(url, proc, log)
        _setup(url, project)
        yield url, project
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the group this test started, by its id
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 240
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                tail = log.read_text()[-3000:]
                raise RuntimeError(f"tracking server did not start:\n{tail}") from None
            time.sleep(1)


def _setup(url: str, project: Path) -> None:
    done = _cli(project, {}, "tracking-server", "setup", "--url", url)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "users created: trainer, rita" in done.stdout


def _cli(project: Path, extra: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tuneline", "--project", str(project), *args],
        env=_base_env() | extra,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _as(login: tuple[str, str]) -> dict[str, str]:
    return {"MLFLOW_TRACKING_USERNAME": login[0], "MLFLOW_TRACKING_PASSWORD": login[1]}


@contextlib.contextmanager
def _logged_in(login: tuple[str, str]) -> Iterator[None]:
    """This test process talks to the server as `login` for the block."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in _as(login).items():
            mp.setenv(key, value)
        yield


def _champion(project: Path) -> str | None:
    with _logged_in(REVIEWER):
        return tiny.champion(project)


def _register_as_trainer(project: Path) -> str:
    """A candidate registered by the trainer account: run, artifacts, version, challenger."""
    seen = _champion(project)
    with _logged_in(TRAINER):
        return tiny.register(project, seen)


def _rest(url: str, login: tuple[str, str] | None, method: str, path: str, body: dict) -> int:
    request = urllib.request.Request(
        f"{url}{path}",
        data=json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    if login is not None:
        token = base64.b64encode(":".join(login).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _tags(project: Path, version: str) -> dict[str, str]:
    from mlflow import MlflowClient

    url = yaml.safe_load((project / "params.yaml").read_text())["project"]["tracking_uri"]
    with _logged_in(REVIEWER):
        model = yaml.safe_load((project / "params.yaml").read_text())["project"]["model_name"]
        return dict(MlflowClient(tracking_uri=url).get_model_version(model, version).tags)


def test_the_server_has_logins_and_refuses_a_wrong_password(server) -> None:
    url, project = server
    search = "/api/2.0/mlflow/experiments/search"
    assert _rest(url, None, "POST", search, {"max_results": 1}) == 401
    assert _rest(url, (REVIEWER[0], "wrong"), "POST", search, {"max_results": 1}) == 401
    assert _rest(url, REVIEWER, "POST", search, {"max_results": 1}) == 200

    done = _cli(project, _as((REVIEWER[0], "wrong")), "review", "list")
    assert done.returncode == 6, done.stderr[-2000:]  # nothing readable without a login
    assert "refused the login" in done.stderr and "Traceback" not in done.stderr


def test_a_trainer_cannot_move_champion_or_write_review_tags_through_api_or_ui(server) -> None:
    url, project = server
    version = _register_as_trainer(project)
    model = yaml.safe_load((project / "params.yaml").read_text())["project"]["model_name"]
    assert _tags(project, version)["training.started_by"] == TRAINER[0]
    assert _tags(project, version)["training.started_by_identity"] == "mlflow-auth"

    for api in ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow"):  # REST clients, and the UI
        alias = {"name": model, "alias": "champion", "version": version}
        assert _rest(url, TRAINER, "POST", f"{api}/registered-models/alias", alias) == 403
        assert _rest(url, None, "POST", f"{api}/registered-models/alias", alias) == 401
        tag = {"name": model, "version": version, "key": "review.status", "value": "approved"}
        assert _rest(url, TRAINER, "POST", f"{api}/model-versions/set-tag", tag) == 403
        copy = {"name": model, "source": f"models:/{model}/{version}"}  # "Promote model"
        assert _rest(url, TRAINER, "POST", f"{api}/model-versions/create", copy) == 403
        gone = {"name": model, "alias": "challenger"}
        assert _rest(url, TRAINER, "DELETE", f"{api}/registered-models/alias", gone) == 403
    ok = {"name": model, "version": version, "key": "note", "value": "the trainer may"}
    assert _rest(url, TRAINER, "POST", "/api/2.0/mlflow/model-versions/set-tag", ok) == 200
    assert _champion(project) != version
    assert _tags(project, version)["review.status"] == "pending"


def test_self_declared_names_and_logname_give_nothing_against_the_server(server) -> None:
    url, project = server
    version = _register_as_trainer(project)
    attempts = {
        "no login, --reviewer": ({}, ["--reviewer", REVIEWER[0]]),
        "no login, LOGNAME": ({"LOGNAME": REVIEWER[0], "USER": REVIEWER[0]}, []),
        "wrong password": (_as((REVIEWER[0], "wrong")), []),
    }
    for what, (extra, flags) in attempts.items():
        done = _cli(project, extra, "review", "approve", version, "--comment", "ok", *flags)
        assert done.returncode == 6, (what, done.stderr[-2000:])
        assert "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" in done.stderr, what
        assert "Traceback" not in done.stderr, what
    # the trainer's own login, whatever LOGNAME says, is the trainer: its own version is refused
    trainer = _as(TRAINER) | {"LOGNAME": REVIEWER[0], "USER": REVIEWER[0]}
    done = _cli(project, trainer, "review", "approve", version, "--comment", "mine")
    assert done.returncode == 6, done.stderr[-2000:]
    assert "trainer started the training run" in done.stderr
    assert "trainer (mlflow-auth)" in done.stderr
    assert _tags(project, version)["review.status"] == "pending"


def test_a_typed_name_handed_to_decide_is_refused_like_the_prefect_ui_form(server) -> None:
    """The review flow runs in the training process (the trainer's login) and takes the
    reviewer's name from the Prefect UI form: a name anyone could type."""
    from tuneline import approval
    from tuneline.errors import RegistryError
    from tuneline.params import load_params

    url, project = server
    version = _register_as_trainer(project)
    typed = approval.Identity(REVIEWER[0], "self-declared")
    request = approval.DecisionRequest(version, True, "from the form", typed, "prefect-ui")
    with _logged_in(TRAINER), pytest.raises(RegistryError, match="self-declared name"):
        approval.decide(load_params(project / "params.yaml"), project, request)
    assert _tags(project, version)["review.status"] == "pending"


def test_the_reviewer_login_is_confirmed_by_the_server_and_recorded(server) -> None:
    url, project = server
    version = _register_as_trainer(project)

    done = _cli(project, _as(REVIEWER), "review", "approve", version, "--comment", "read it")

    assert done.returncode == 0, done.stderr[-3000:]
    assert f"approved by {REVIEWER[0]} (mlflow-auth)" in done.stdout
    record = json.loads(_tags(project, version)["review.record"])
    assert record["reviewer"] == REVIEWER[0] and record["identity"] == "mlflow-auth"
    assert record["training_started_by"] == TRAINER[0]
    assert _champion(project) == version
