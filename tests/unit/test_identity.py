"""Identities that mean something: against a tracking server with logins only a confirmed login
decides; a self-declared name (no login, a wrong password, `--reviewer`, LOGNAME) is refused.
The server here is a stand-in that answers like MLflow's auth app (401 without a valid login);
tests/integration/test_tracking_server_logins.py does the same against the real one."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tuneline import approval, identity, tracking
from tuneline.approval import Identity
from tuneline.errors import RegistryError
from tuneline.params import ProjectParams

LOGINS = {"dana": "secret", "rita": "r-secret"}


def _server(auth: bool) -> tuple[ThreadingHTTPServer, str]:
    """401 for any request without a valid Basic login when `auth`, like MLflow's auth app;
    users/get answers 200 then. Without auth: no users API (404), the rest answers 200."""
    valid = {"Basic " + base64.b64encode(f"{u}:{p}".encode()).decode() for u, p in LOGINS.items()}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            users_api = self.path.startswith("/api/2.0/mlflow/users/get")
            if auth:
                code = 200 if self.headers.get("Authorization") in valid else 401
            else:
                code = 404 if users_api else 200
            self.send_response(code)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


@pytest.fixture
def with_auth(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProjectParams]:
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    httpd, uri = _server(auth=True)
    yield ProjectParams("m", "e", uri, "mlruns/artifacts")
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def without_auth(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProjectParams]:
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    httpd, uri = _server(auth=False)
    yield ProjectParams("m", "e", uri, "mlruns/artifacts")
    httpd.shutdown()
    httpd.server_close()


def _login(monkeypatch: pytest.MonkeyPatch, user: str, password: str) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)


def test_the_server_is_asked_whether_it_has_logins(with_auth, without_auth) -> None:
    assert tracking.server_requires_auth(with_auth.tracking_uri) is True
    assert tracking.server_requires_auth(without_auth.tracking_uri) is False


def test_a_server_that_does_not_answer_is_an_error_not_a_server_without_logins() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(RegistryError, match="does not answer"):
        tracking.server_requires_auth(f"http://127.0.0.1:{port}")


def test_a_named_reviewer_without_a_login_is_refused_where_the_server_has_logins(
    with_auth: ProjectParams,
) -> None:
    with pytest.raises(
        RegistryError, match="MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
    ):
        approval.reviewer_identity(with_auth, "dana")


def test_a_wrong_password_is_refused_not_recorded_as_self_declared(
    with_auth: ProjectParams, monkeypatch: pytest.MonkeyPatch
) -> None:
    _login(monkeypatch, "dana", "wrong")
    with pytest.raises(RegistryError, match="did not accept the login 'dana'"):
        approval.reviewer_identity(with_auth, None)


def test_logname_names_nobody(with_auth: ProjectParams, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "rita")
    monkeypatch.setenv("USER", "rita")
    local = ProjectParams("m", "e", "sqlite:///mlruns/mlflow.db", "mlruns/artifacts")
    assert approval.reviewer_identity(local, None) == Identity(_real_account(), "self-declared")
    with pytest.raises(RegistryError, match="no login was given"):
        approval.reviewer_identity(with_auth, None)
    _login(monkeypatch, "dana", "secret")  # the login wins over LOGNAME
    assert approval.reviewer_identity(with_auth, None) == Identity("dana", "mlflow-auth")


def _real_account() -> str:
    import os
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def test_a_decision_handed_in_under_a_typed_name_is_refused_where_the_server_has_logins(
    with_auth: ProjectParams, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Prefect UI form and a flow parameter carry a name that anyone could type."""
    with pytest.raises(RegistryError, match="self-declared name \\('uma'\\)"):
        identity.require_confirmed(with_auth, "uma", "self-declared")
    _login(monkeypatch, "dana", "secret")
    with pytest.raises(RegistryError, match="logged in as 'dana', not 'rita'"):
        identity.require_confirmed(with_auth, "rita", "mlflow-auth")
    identity.require_confirmed(with_auth, "dana", "mlflow-auth")  # its own login: fine
    identity.require_confirmed(with_auth, "policy", "policy")  # no person decided


def test_self_declared_names_remain_where_nothing_could_check_them(
    without_auth: ProjectParams, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = ProjectParams("m", "e", "sqlite:///mlruns/mlflow.db", "mlruns/artifacts")
    assert approval.reviewer_identity(local, "eve") == Identity("eve", "self-declared")
    assert approval.reviewer_identity(without_auth, "eve") == Identity("eve", "self-declared")
    _login(monkeypatch, "dana", "secret")  # a server without auth confirms no login
    assert approval.reviewer_identity(without_auth, None) == Identity(
        _real_account(), "self-declared"
    )


def test_self_approval_compares_the_identity_that_started_training() -> None:
    tags = {"training.started_by": "Dana", "training.started_by_identity": "mlflow-auth"}
    assert identity.started_training(tags, "dana", "mlflow-auth") == "Dana (mlflow-auth)"
    assert identity.started_training(tags, "rita", "mlflow-auth") is None
    assert identity.started_training(tags, "dana", "policy") is None
    assert identity.started_training({}, "dana", "mlflow-auth") is None
