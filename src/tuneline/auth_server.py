"""The MLflow tracking server with logins, and the one rule MLflow's permissions cannot express.

MLflow's basic-auth app ties moving an alias to the same EDIT permission on a registered model
that registering a version needs, and its UI offers "Promote model" (a copy of a version into
another model) and editable tags to anyone with EDIT. So a trainer account that may register
candidates could also move `champion` and write the review's tags, bypassing the review.

`create_app` (the `mlflow.app` entry point `tuneline-auth`) is MLflow's basic-auth app plus one
check after MLflow's own: for anyone who is neither an MLflow admin nor listed in
TUNELINE_MLFLOW_REVIEWERS (the server's environment), it refuses with 403

- setting or deleting the `champion` / `previous-champion` aliases, deleting `challenger`, and
  pointing `challenger` at a version that is no longer pending review;
- setting or deleting `review.*` tags on versions and registered models, except the two kinds
  the training side writes (`review.flow_run_id`, `review.pack.*`) and `review.status=pending`
  given when a version is created;
- creating a version from a `models:/` source (the UI's "Promote model"), renaming or deleting
  a registered model, deleting a version.

The check runs on the Flask routes, /api/ and /ajax-api/ (what the UI calls) alike.

`start_command` and `setup` are what `tuneline tracking-server start|setup` run: the server on
127.0.0.1 with secrets from an environment file, then users and permissions for the team.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuneline.errors import ConfigError, RegistryError

log = logging.getLogger(__name__)

REVIEWERS_ENV = "TUNELINE_MLFLOW_REVIEWERS"
TRAINERS_ENV = "TUNELINE_MLFLOW_TRAINERS"
PASSWORD_ENV_PREFIX = "TUNELINE_PASSWORD_"  # + the user name in capitals, - and . as _
REVIEWER_ONLY_ALIASES = frozenset({"champion", "previous-champion"})
PENDING_ONLY_ALIAS = "challenger"  # registration points it at its new, pending version
PIPELINE_REVIEW_TAGS = ("review.flow_run_id", "review.pack.")  # written by the training side
REQUIRED_SECRETS = ("MLFLOW_FLASK_SERVER_SECRET_KEY", "MLFLOW_AUTH_ADMIN_PASSWORD")
PLACEHOLDER = "CHANGE-ME"


# --- the rule, as a pure function -----------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """One registry write, as the request asks for it (parsed like MLflow's own handler does)."""

    kind: str  # set-alias | delete-alias | set-tag | delete-tag | create-version | rename-model
    #            | delete-model | delete-version | set-model-tag | delete-model-tag
    model: str
    alias: str = ""
    version: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    source: str = ""


def refusal(action: Action, version_status: Callable[[str, str], str | None]) -> str | None:
    """Why a non-reviewer may not do `action`, or None when they may.

    `version_status(model, version)` reads a version's `review.status` (None when absent).
    """
    alias = action.alias.strip().lower()
    if action.kind in ("set-alias", "delete-alias") and alias in REVIEWER_ONLY_ALIASES:
        return f"only reviewers may move the `{alias}` alias (tuneline review approve/rollback)"
    if action.kind == "delete-alias" and alias == PENDING_ONLY_ALIAS:
        return f"only reviewers may remove the `{alias}` alias (a decision does that)"
    if action.kind == "set-alias" and alias == PENDING_ONLY_ALIAS:
        status = version_status(action.model, action.version)
        if status != "pending":
            return (
                f"`{alias}` may only point at a version pending review; version "
                f"{action.version} is {status or 'not a tuneline candidate'}"
            )
    if action.kind in ("set-tag", "set-model-tag", "delete-tag", "delete-model-tag"):
        deleting = action.kind.startswith("delete")
        for key, _ in action.tags:
            if key.startswith("review.") and (deleting or not _pipeline_tag(key)):
                return f"only reviewers may write the review tag `{key}`"
    if action.kind == "create-version":
        if action.source.strip().lower().startswith("models:"):
            return (
                f"only reviewers may copy a registered version into a model ({action.source}); "
                "candidates are registered from their training run"
            )
        for key, value in action.tags:
            if key == "review.status" and value == "pending":
                continue
            if key.startswith("review.") and not _pipeline_tag(key):
                return f"a new version may carry only review.status=pending, not `{key}`"
    if action.kind in ("rename-model", "delete-model", "delete-version"):
        return f"only reviewers may {action.kind.replace('-', ' ')} ({action.model})"
    return None


def _pipeline_tag(key: str) -> bool:
    return any(key == p or (p.endswith(".") and key.startswith(p)) for p in PIPELINE_REVIEW_TAGS)


def reviewers_from_env(environ: dict[str, str] | os._Environ[str] = os.environ) -> frozenset[str]:
    """The reviewer logins the server trusts; an empty list means only admins decide."""
    return frozenset(n.strip() for n in environ.get(REVIEWERS_ENV, "").split(",") if n.strip())


# --- the app: MLflow's basic-auth app plus the rule ---------------------------------------


def create_app() -> Any:
    """Entry point `tuneline-auth` (`mlflow.app`): `mlflow server --app-name tuneline-auth`."""
    from mlflow.server import app as flask_app
    from mlflow.server.auth import create_app as basic_auth_app

    served = basic_auth_app(flask_app)
    routes = _guarded_routes()
    # Registered after MLflow's own check, so it runs only for requests MLflow already allowed.
    flask_app.before_request(lambda: _enforce(routes))
    log.info("tuneline review rule on; reviewers: %s", sorted(reviewers_from_env()) or "admins")
    return served


def _guarded_routes() -> dict[tuple[str, str], Any]:
    """(Flask rule, method) -> request class, for every /api/ and /ajax-api/ path of the calls
    the rule covers; taken from MLflow's own route table so no path is missed."""
    from mlflow.protos import model_registry_pb2 as pb
    from mlflow.server.handlers import get_endpoints

    guarded = {
        pb.SetRegisteredModelAlias,
        pb.DeleteRegisteredModelAlias,
        pb.SetModelVersionTag,
        pb.DeleteModelVersionTag,
        pb.CreateModelVersion,
        pb.RenameRegisteredModel,
        pb.DeleteRegisteredModel,
        pb.DeleteModelVersion,
        pb.SetRegisteredModelTag,
        pb.DeleteRegisteredModelTag,
    }
    routes = {}
    for path, request_class, methods in get_endpoints(lambda cls: cls):
        if request_class in guarded:
            for method in methods:
                routes[(path, method)] = request_class
    return routes


def _enforce(routes: dict[tuple[str, str], Any]) -> Any:
    """Flask before-request hook: 403 for a non-reviewer's review action, else nothing."""
    from flask import g, jsonify, request
    from mlflow.exceptions import MlflowException
    from mlflow.server.auth import sender_is_admin
    from mlflow.server.handlers import _get_request_message

    rule = request.url_rule.rule if request.url_rule is not None else request.path
    request_class = routes.get((rule, request.method))
    if request_class is None:
        return None
    username = g.get("mlflow_authenticated_user")
    if username is None:  # MLflow's check did not run for this route: refuse, don't guess
        return _forbidden("no authenticated user for a registry write")
    if username in reviewers_from_env() or sender_is_admin():
        return None
    try:
        action = _action(_get_request_message(request_class()))
    except MlflowException as exc:
        return jsonify(error_code="INVALID_PARAMETER_VALUE", message=exc.message), 400
    reason = refusal(action, _version_status)
    if reason is None:
        return None
    log.warning("refused %s %s for %s: %s", request.method, request.path, username, reason)
    return _forbidden(f"{username}: {reason}")


def _forbidden(message: str) -> Any:
    from flask import jsonify

    return jsonify(error_code="PERMISSION_DENIED", message=message), 403


def _action(message: Any) -> Action:
    """Our Action from a parsed registry request message."""
    kinds = {
        "SetRegisteredModelAlias": "set-alias",
        "DeleteRegisteredModelAlias": "delete-alias",
        "SetModelVersionTag": "set-tag",
        "DeleteModelVersionTag": "delete-tag",
        "CreateModelVersion": "create-version",
        "RenameRegisteredModel": "rename-model",
        "DeleteRegisteredModel": "delete-model",
        "DeleteModelVersion": "delete-version",
        "SetRegisteredModelTag": "set-model-tag",
        "DeleteRegisteredModelTag": "delete-model-tag",
    }
    kind = kinds[type(message).__name__]
    fields = {f.name for f in message.DESCRIPTOR.fields}
    if kind == "create-version":
        tags = tuple((t.key, t.value) for t in message.tags)
    elif "key" in fields:
        tags = ((message.key, getattr(message, "value", "")),)
    else:
        tags = ()
    return Action(
        kind=kind,
        model=message.name,
        alias=getattr(message, "alias", ""),
        version=str(getattr(message, "version", "")),
        tags=tags,
        source=getattr(message, "source", ""),
    )


def _version_status(model: str, version: str) -> str | None:
    from mlflow.exceptions import MlflowException
    from mlflow.server.handlers import _get_model_registry_store

    try:
        found = _get_model_registry_store().get_model_version(model, version)
    except MlflowException:
        return None
    return dict(found.tags).get("review.status")  # ModelVersion.tags: key -> value


# --- starting it -------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of the secrets file; refused when others may read it or it holds
    placeholders, because then the secrets are not secret or not set."""
    from dotenv import dotenv_values

    if not path.is_file():
        raise ConfigError(
            f"{path}: no such environment file; copy infra/mlflow-auth.env.example there, set "
            f"the secrets and `chmod 600 {path}`"
        )
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{path} is readable by others (mode {mode:o}); it holds passwords: chmod 600 {path}"
        )
    values = {k: v or "" for k, v in dotenv_values(path).items()}
    unset = [k for k in REQUIRED_SECRETS if not values.get(k, "").strip()]
    placeholders = [k for k, v in values.items() if PLACEHOLDER in v]
    if unset or placeholders:
        raise ConfigError(
            f"{path}: set {', '.join(unset + placeholders)} (unset or still {PLACEHOLDER}); "
            "e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    return values


def server_environment(env_file: Path, data_dir: Path) -> dict[str, str]:
    """The server's environment: ours, the file's values, and defaults for the stores (SQLite
    under `data_dir`), with the auth app's config file written there (mode 0600)."""
    values = read_env_file(env_file)
    data_dir.mkdir(parents=True, exist_ok=True)
    auth_db = values.get("TUNELINE_AUTH_DATABASE_URI") or f"sqlite:///{data_dir / 'auth.db'}"
    config = data_dir / "basic_auth.ini"
    text = (
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {auth_db}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:  # may hold a database password
        handle.write(text)
    os.chmod(config, 0o600)
    defaults = {  # where neither this process's environment nor the file says otherwise
        "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{data_dir / 'mlflow.db'}",
        "MLFLOW_ARTIFACTS_DESTINATION": str(data_dir / "artifacts"),
        "MLFLOW_AUTH_ADMIN_USERNAME": "admin",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # GenAI job runners tuneline never uses
    }
    return defaults | dict(os.environ) | values | {"MLFLOW_AUTH_CONFIG_PATH": str(config)}


def start_command(host: str, port: int, workers: int) -> list[str]:
    """`mlflow server` with our app; stores and secrets come from the environment, not argv."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--app-name",
        "tuneline-auth",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


# --- users and permissions ---------------------------------------------------------------


@dataclass(frozen=True)
class SetupResult:
    created: list[str]
    existing: list[str]
    grants: list[str]


def setup(
    url: str,
    values: dict[str, str],
    experiment: str,
    model_name: str,
    ask: Callable[[str], str] = getpass.getpass,
) -> SetupResult:
    """Users for trainers and reviewers, the experiment and registered model (made by the admin,
    so nobody else holds MANAGE on them), and each user's permissions on them."""
    trainers = _names(values, TRAINERS_ENV)
    reviewers = _names(values, REVIEWERS_ENV)
    if not trainers or not reviewers:
        raise ConfigError(f"set {TRAINERS_ENV} and {REVIEWERS_ENV} (comma-separated logins)")
    if overlap := sorted(set(trainers) & set(reviewers)):
        raise ConfigError(
            f"{', '.join(overlap)} in both {TRAINERS_ENV} and {REVIEWERS_ENV}: a reviewer "
            "account that trains could approve its own candidates; use two accounts"
        )
    admin = (values.get("MLFLOW_AUTH_ADMIN_USERNAME") or "admin", values[REQUIRED_SECRETS[1]])
    with _as_user(*admin):
        from mlflow.exceptions import MlflowException
        from mlflow.server.auth.client import AuthServiceClient
        from mlflow.tracking import MlflowClient

        auth, client = AuthServiceClient(url), MlflowClient(tracking_uri=url)
        created, existing = [], []
        for name in trainers + reviewers:
            try:
                auth.get_user(name)
                existing.append(name)
            except MlflowException:
                auth.create_user(name, _password(values, name, ask))
                created.append(name)
        experiment_id = _ensure_experiment(client, experiment)
        _ensure_model(client, model_name)
        grants = []
        for name in trainers:  # log runs, register versions (the rule keeps review actions out)
            grants += _grant(auth, name, "experiment", experiment_id, "EDIT")
            grants += _grant(auth, name, "registered_model", model_name, "EDIT")
        for name in reviewers:  # decide: move aliases (MANAGE removes `challenger`), record
            grants += _grant(auth, name, "experiment", experiment_id, "EDIT")
            grants += _grant(auth, name, "registered_model", model_name, "MANAGE")
    return SetupResult(created, existing, grants)


def _names(values: dict[str, str], key: str) -> list[str]:
    return [n.strip() for n in values.get(key, "").split(",") if n.strip()]


def _password(values: dict[str, str], name: str, ask: Callable[[str], str]) -> str:
    key = PASSWORD_ENV_PREFIX + name.upper().replace("-", "_").replace(".", "_")
    password = values.get(key, "").strip() or ask(f"password for new MLflow user {name}: ")
    if len(password) < 12:
        raise ConfigError(f"the password for {name} ({key}) needs at least 12 characters")
    return password


def _ensure_experiment(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found is not None else client.create_experiment(name)


def _ensure_model(client: Any, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name, description="LoRA adapters fine-tuned by tuneline; base model in base_model.json"
        )


def _grant(auth: Any, user: str, kind: str, resource: str, permission: str) -> list[str]:
    auth.grant_user_permission(user, kind, resource, permission)
    return [f"{user}: {permission} on {kind} {resource}"]


@contextlib.contextmanager
def _as_user(username: str, password: str) -> Iterator[None]:
    """MLflow's clients read the login from the environment; set it for this block only."""
    from tuneline.tracking import environment

    login = {"MLFLOW_TRACKING_USERNAME": username, "MLFLOW_TRACKING_PASSWORD": password}
    with environment(login):
        try:
            yield
        except OSError as exc:
            raise RegistryError(f"the tracking server did not answer: {exc}") from exc
