"""The review rule of the tracking server (who may move `champion`, write review tags, copy a
version), its route table, and the secrets file it starts from. The real server, with logins,
is started in tests/integration/test_tracking_server_logins.py."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tuneline import auth_server
from tuneline.auth_server import Action, refusal
from tuneline.errors import ConfigError

MODEL = "tuneline-support"
STATUS = {"1": "approved", "2": "pending", "3": "rejected"}


def _status(model: str, version: str) -> str | None:
    return STATUS.get(version) if model == MODEL else None


def _refused(kind: str, **fields: object) -> str | None:
    return refusal(Action(kind=kind, model=MODEL, **fields), _status)  # type: ignore[arg-type]


@pytest.mark.parametrize("alias", ["champion", "previous-champion", "Champion", " champion "])
@pytest.mark.parametrize("kind", ["set-alias", "delete-alias"])
def test_a_trainer_may_not_move_or_remove_the_champion_aliases(kind: str, alias: str) -> None:
    assert "only reviewers" in (_refused(kind, alias=alias, version="2") or "")


def test_challenger_may_point_only_at_a_pending_version_and_only_reviewers_remove_it() -> None:
    assert _refused("set-alias", alias="challenger", version="2") is None  # registration
    assert "version 1 is approved" in (_refused("set-alias", alias="challenger", version="1") or "")
    assert "not a tuneline candidate" in (
        _refused("set-alias", alias="challenger", version="9") or ""
    )
    assert "only reviewers" in (_refused("delete-alias", alias="challenger") or "")
    assert _refused("set-alias", alias="staging-test", version="1") is None  # not ours


@pytest.mark.parametrize(
    "key", ["review.status", "review.record", "review.reviewer", "review.rollback", "review.x"]
)
@pytest.mark.parametrize("kind", ["set-tag", "delete-tag", "set-model-tag", "delete-model-tag"])
def test_review_tags_are_for_reviewers(kind: str, key: str) -> None:
    assert key in (_refused(kind, version="2", tags=((key, "approved"),)) or "")


def test_the_tags_the_training_side_writes_stay_allowed() -> None:
    for key in ("review.flow_run_id", "review.pack.html", "review.pack.markdown"):
        assert _refused("set-tag", version="2", tags=((key, "x"),)) is None
    assert _refused("set-tag", version="2", tags=(("training.started_by", "x"),)) is None
    assert _refused("delete-tag", version="2", tags=(("review.pack.html", ""),)) is not None
    # a prefix alone is not the key: review.packed is a review tag like any other
    assert _refused("set-tag", version="2", tags=(("review.packed", "x"),)) is not None


def test_a_new_version_may_carry_only_pending_and_may_not_be_a_copy() -> None:
    pending = (("review.status", "pending"), ("review.pack.html", "runs:/r/p.html"))
    assert _refused("create-version", source="runs:/r/adapter", tags=pending) is None
    approved = (("review.status", "approved"),)
    assert "review.status" in (_refused("create-version", source="runs:/r/a", tags=approved) or "")
    record = (("review.record", "{}"),)
    assert "review.record" in (_refused("create-version", source="runs:/r/a", tags=record) or "")
    for source in (f"models:/{MODEL}/1", f"models:/{MODEL}@champion", "MODELS:/other/2"):
        assert "copy" in (_refused("create-version", source=source) or "")  # "Promote model"


@pytest.mark.parametrize("kind", ["rename-model", "delete-model", "delete-version"])
def test_renaming_or_deleting_registry_entries_is_for_reviewers(kind: str) -> None:
    assert _refused(kind, version="1") is not None


def test_the_rule_covers_the_rest_api_and_the_ui_routes() -> None:
    routes = auth_server._guarded_routes()
    for prefix in ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow"):
        assert (f"{prefix}/registered-models/alias", "POST") in routes
        assert (f"{prefix}/registered-models/alias", "DELETE") in routes
        assert (f"{prefix}/model-versions/set-tag", "POST") in routes
        assert (f"{prefix}/model-versions/create", "POST") in routes
        assert (f"{prefix}/registered-models/rename", "POST") in routes


def test_reviewers_come_from_the_servers_environment() -> None:
    env = {auth_server.REVIEWERS_ENV: " rita, uma ,,"}
    assert auth_server.reviewers_from_env(env) == frozenset({"rita", "uma"})
    assert auth_server.reviewers_from_env({}) == frozenset()


def _env_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "mlflow-auth.env"
    path.write_text(text)
    path.chmod(mode)
    return path


GOOD = "MLFLOW_FLASK_SERVER_SECRET_KEY=k-0123456789\nMLFLOW_AUTH_ADMIN_PASSWORD=p-0123456789\n"


def test_the_secrets_file_must_be_private_set_and_not_a_placeholder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such environment file"):
        auth_server.read_env_file(tmp_path / "missing.env")
    with pytest.raises(ConfigError, match="readable by others .*chmod 600"):
        auth_server.read_env_file(_env_file(tmp_path, GOOD, 0o644))
    with pytest.raises(ConfigError, match="MLFLOW_AUTH_ADMIN_PASSWORD"):
        auth_server.read_env_file(_env_file(tmp_path, "MLFLOW_FLASK_SERVER_SECRET_KEY=k-1\n"))
    with pytest.raises(ConfigError, match="TUNELINE_PASSWORD_RITA .*CHANGE-ME"):
        auth_server.read_env_file(_env_file(tmp_path, GOOD + "TUNELINE_PASSWORD_RITA=CHANGE-ME\n"))
    assert auth_server.read_env_file(_env_file(tmp_path, GOOD))["MLFLOW_AUTH_ADMIN_PASSWORD"]


def test_secrets_reach_the_server_by_environment_never_by_its_command_line(
    tmp_path: Path,
) -> None:
    env = auth_server.server_environment(_env_file(tmp_path, GOOD), tmp_path / "server")
    command = auth_server.start_command("127.0.0.1", 5000, 1)

    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"] == "p-0123456789"
    assert not any("0123456789" in part for part in command)
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--app-name") + 1] == "tuneline-auth"
    config = Path(env["MLFLOW_AUTH_CONFIG_PATH"])
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert f"sqlite:///{tmp_path / 'server' / 'auth.db'}" in config.read_text()
    assert env["MLFLOW_BACKEND_STORE_URI"] == f"sqlite:///{tmp_path / 'server' / 'mlflow.db'}"


def test_the_cli_listens_on_localhost_unless_told_otherwise() -> None:
    from tuneline.cli import _parser

    args = _parser().parse_args(["tracking-server", "start"])
    assert args.host == "127.0.0.1"


def test_setup_refuses_an_account_that_both_trains_and_reviews() -> None:
    values = {
        "MLFLOW_AUTH_ADMIN_PASSWORD": "x",
        auth_server.TRAINERS_ENV: "dana",
        auth_server.REVIEWERS_ENV: "rita,dana",
    }
    with pytest.raises(ConfigError, match="dana in both"):
        auth_server.setup("http://127.0.0.1:9", values, "e", "m")
    with pytest.raises(ConfigError, match="TUNELINE_MLFLOW_TRAINERS"):
        auth_server.setup("http://127.0.0.1:9", {"MLFLOW_AUTH_ADMIN_PASSWORD": "x"}, "e", "m")


def test_the_server_app_is_installed_as_an_mlflow_app() -> None:
    from importlib.metadata import entry_points

    found = {e.name: e.value for e in entry_points(group="mlflow.app")}
    assert found.get("tuneline-auth") == "tuneline.auth_server:create_app"


def test_a_server_refusal_is_a_message_and_exit_6_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import PERMISSION_DENIED, UNAUTHENTICATED

    from tuneline import cli

    def refused(args: object) -> int:
        raise MlflowException("You are not authenticated.", error_code=UNAUTHENTICATED)

    monkeypatch.setattr(cli, "_parser", _parser_with("verify", refused))
    assert cli.main(["verify"]) == 6
    err = capsys.readouterr().err
    assert "refused the login" in err and "MLFLOW_TRACKING_USERNAME" in err
    forbidden = MlflowException("trainer: only reviewers may move", error_code=PERMISSION_DENIED)
    assert "refused this action (trainer: only reviewers" in (cli._server_refusal(forbidden) or "")
    assert cli._server_refusal(MlflowException("a bug on the server")) is None
    assert cli._server_refusal(RuntimeError("not mlflow")) is None


def _parser_with(command: str, handler: object) -> object:
    import argparse

    def build() -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers(dest="command", required=True)
        sub.add_parser(command).set_defaults(handler=handler)
        return parser

    return build


def test_the_history_anchors_and_the_decision_intent_are_for_reviewers_only() -> None:
    """A trainer who could write these could forge the history's head or plant an intent that
    the next reviewer's command would carry out (move `champion`)."""
    from tuneline import history

    model_keys = (history.HEAD_TAG, history.INTENT_TAG)
    version_keys = (*history.ANCHOR_TAGS, *history.ANCHOR_TAGS.values())
    for kind, keys in (("set-model-tag", model_keys), ("set-tag", version_keys)):
        for key in keys:
            assert key in (_refused(kind, version="2", tags=((key, "{}"),)) or ""), key
