"""Decisions on a real MLflow store (SQLite) with a tiny adapter: the record, compare-and-set,
gates and override, self-approval, identity, the lock, rollback, history at a date, policy.
No Prefect here (tests/integration/test_review_real_server.py covers the flows).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import tiny_candidates as tiny
import yaml

from tuneline import approval, registry
from tuneline.approval import DecisionRequest, Identity
from tuneline.errors import GateFailed, RegistryError
from tuneline.params import ProjectParams, load_params

ANN = Identity("ann", "self-declared")


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        return tiny.make_project(tmp_path_factory.mktemp("approval") / "project")


def _decide(
    project: Path, version: str, approve: bool = True, **kw: object
) -> approval.DecisionRecord:
    fields = {"comment": "looked at the samples", "reviewer": ANN, "via": "cli"} | kw
    request = DecisionRequest(version, approve, **fields)  # type: ignore[arg-type]
    return approval.decide(load_params(project / "params.yaml"), project, request)


def _tags(project: Path, version: str) -> dict[str, str]:
    project_params = load_params(project / "params.yaml").project
    return dict(registry.resolve_version(project_params, project, version).tags)


def test_approval_moves_champion_and_records_every_piece_of_evidence(project: Path) -> None:
    before = tiny.champion(project)
    version = tiny.register(project, before, started_by="trainer")

    record = _decide(project, version)

    assert tiny.champion(project) == version
    assert record.champion_before == before and record.champion_seen == before
    assert record.decision == "approved" and record.reviewer == "ann"
    assert record.identity == "self-declared" and record.training_started_by == "trainer"
    assert record.gates_passed is True and [g["name"] for g in record.gates] == [
        "min_token_f1",
        "no_regression",
    ]
    assert record.data_hashes == {
        "data/split/train.jsonl": "0" * 32,
        "data/split/test.jsonl": "1" * 32,
    }
    assert set(record.report_sha256) >= {
        "reports/evaluation/evaluation.json",
        "reports/evaluation/reviewer_pack.html",
        "reports/evaluation/reviewer_pack.md",
        "reports/prepare.json",
        "reports/validation/qa_data.json",
    }
    assert len(record.adapter_sha256) == 64
    assert record.adapter_sha256 == _tags(project, version)["adapter.sha256"]
    stored = json.loads(_tags(project, version)["review.record"])
    history, broken = approval.read_history(project)
    assert stored == {k: v for k, v in history[-1].items() if k != "prev_sha256"} and not broken
    assert "challenger" not in registry.aliases(
        load_params(project / "params.yaml").project, project
    )


def test_registration_links_the_reviewer_pack_and_stores_the_gates(project: Path) -> None:
    version = tiny.register(project, tiny.champion(project), gates_passed=False)
    tags = _tags(project, version)

    assert tags["gates.passed"] == "false" and tags["gates.failed"] == "no_regression"
    assert tags["review.pack.html"].endswith("/reviewer_pack/reviewer_pack.html")
    import mlflow

    assert "run " in mlflow.artifacts.load_text(tags["review.pack.html"])
    _decide(project, version, approve=False, comment="clean up")


def test_the_pack_logged_at_registration_says_why_the_run_happened(project: Path) -> None:
    import mlflow

    drift = project / "reports/drift/20260301T060000Z/question_drift.json"
    drift.parent.mkdir(parents=True, exist_ok=True)
    summary = {"drifted": True, "share": 0.67, "threshold": 0.5, "columns": {}}
    drift.write_text(json.dumps(summary), encoding="utf-8")
    reason = "drift: 67% of descriptors drifted (data/traffic/predictions.jsonl)"
    version = tiny.register(project, tiny.champion(project), reason=reason)
    try:
        logged = mlflow.artifacts.load_text(_tags(project, version)["review.pack.html"])
        on_disk = (project / "reports/evaluation/reviewer_pack.html").read_text()
        assert "DRIFTED" in logged and "20260301T060000Z" in logged
        assert "DRIFTED" not in on_disk  # the DVC-tracked copy is left as the stage wrote it
    finally:
        drift.unlink()
        _decide(project, version, approve=False, comment="clean up")


def test_rejection_keeps_the_champion_and_a_second_decision_is_refused(project: Path) -> None:
    champion = tiny.champion(project)
    version = tiny.register(project, champion)

    record = _decide(project, version, approve=False, comment="worse on billing")

    assert record.decision == "rejected" and tiny.champion(project) == champion
    with pytest.raises(
        approval.AlreadyDecided, match=f"version {version} was already rejected by ann"
    ):
        _decide(project, version)


def test_an_approval_cut_off_half_way_leaves_the_version_pending_to_approve_again(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    champion = tiny.champion(project)
    version = tiny.register(project, champion)
    real_set_alias = registry.set_alias

    def server_gone(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - a stand-in
        raise OSError("tracking server went away")

    monkeypatch.setattr(registry, "set_alias", server_gone)
    with pytest.raises(OSError):
        _decide(project, version, comment="ship it")
    assert _tags(project, version)["review.status"] == "pending"  # nothing half-recorded
    assert tiny.champion(project) == champion

    monkeypatch.setattr(registry, "set_alias", real_set_alias)
    record = _decide(project, version, comment="ship it")
    assert record.decision == "approved" and tiny.champion(project) == version


def test_compare_and_set_refuses_an_evaluation_made_against_another_champion(
    project: Path,
) -> None:
    seen = tiny.champion(project)
    stale, fresh = tiny.register(project, seen), tiny.register(project, seen)
    _decide(project, fresh)

    with pytest.raises(approval.StaleEvaluation) as refused:
        _decide(project, stale)

    assert f"the champion changed from {seen or 'none'} to {fresh}" in refused.value.message
    assert "tuneline run" in refused.value.message
    assert _tags(project, stale)["review.status"] == "pending"


def test_failed_gate_needs_an_override_with_a_reason_which_is_recorded(project: Path) -> None:
    version = tiny.register(project, tiny.champion(project), gates_passed=False)

    with pytest.raises(GateFailed, match=r"no_regression \(token_f1 0.40 vs champion"):
        _decide(project, version)
    record = _decide(project, version, override_reason="billing gain outweighs it")

    assert record.override is True and record.override_reason == "billing gain outweighs it"
    assert record.gates_passed is False and _tags(project, version)["review.override"] == "true"


def test_override_on_a_candidate_that_passed_every_gate_is_refused(project: Path) -> None:
    version = tiny.register(project, tiny.champion(project))
    with pytest.raises(RegistryError, match="failed no gate"):
        _decide(project, version, override_reason="just because")
    _decide(project, version, approve=False, comment="clean up")


def test_whoever_started_training_cannot_approve_unless_params_allow(project: Path) -> None:
    version = tiny.register(project, tiny.champion(project), started_by="Ann")
    with pytest.raises(RegistryError, match="ann started the training run"):
        _decide(project, version)

    params = load_params(project / "params.yaml")
    allowed = replace(params, promotion=replace(params.promotion, allow_self_approval=True))
    request = DecisionRequest(version, True, "my own, allowed", ANN, "cli")
    assert approval.decide(allowed, project, request).decision == "approved"


def test_a_changed_adapter_file_cannot_be_approved(project: Path) -> None:
    version = tiny.register(project, tiny.champion(project))
    project_params = load_params(project / "params.yaml").project
    source = registry.resolve_version(project_params, project, version).source
    weights = Path(source.removeprefix("file://")) / "adapter_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # one byte flipped

    with pytest.raises(RegistryError, match="they changed"):
        _decide(project, version)


def test_policy_promotion_is_recorded_as_policy(project: Path) -> None:
    version = tiny.register(project, tiny.champion(project), approval_required=False)
    assert _tags(project, version)["approval.required"] == "false"

    record = approval.promote_by_policy(load_params(project / "params.yaml"), project, version)

    assert record.reviewer == "policy" and record.identity == "policy" and record.via == "policy"
    assert tiny.champion(project) == version


def test_rollback_moves_champion_back_and_marks_the_version(project: Path) -> None:
    older = tiny.register(project, tiny.champion(project))
    _decide(project, older)
    newer = tiny.register(project, older)
    _decide(project, newer)
    params = load_params(project / "params.yaml")

    record = approval.rollback(params, project, "wrong prices", Identity("ops", "self-declared"))

    assert record.decision == "rolled-back" and record.version == newer
    assert record.champion_after == older and tiny.champion(project) == older
    assert _tags(project, newer)["review.status"] == "rolled-back"
    assert (
        registry.aliases(params.project, project).get("previous-champion")
        == record.previous_champion
    )


def test_rollback_without_a_previous_champion_is_refused(tmp_path: Path) -> None:
    project = tiny.make_project(tmp_path / "fresh")
    params = load_params(project / "params.yaml")
    with pytest.raises(RegistryError, match="no champion to roll back"):
        approval.rollback(params, project, "why", ANN)
    _decide(project, tiny.register(project, None))
    with pytest.raises(RegistryError, match="no previous-champion"):
        approval.rollback(params, project, "why", ANN)


def test_the_lock_excludes_a_second_holder(project: Path) -> None:
    params = load_params(project / "params.yaml")
    errors: list[Exception] = []

    def contender() -> None:
        try:
            with approval.registry_lock(params.project, project, wait_s=0.3):
                pass
        except RegistryError as exc:
            errors.append(exc)

    with approval.registry_lock(params.project, project):
        thread = threading.Thread(target=contender)
        thread.start()
        thread.join()
    assert len(errors) == 1 and "registry.lock" in errors[0].message
    contender()  # free again once released
    assert len(errors) == 1


def test_lock_file_sits_beside_the_sqlite_store(project: Path) -> None:
    params = load_params(project / "params.yaml")
    assert (
        approval.lock_path(params.project, project) == (project / "mlruns/registry.lock").resolve()
    )


class _FakeTrackingServer:
    """An HTTP server on 127.0.0.1 that, like MLflow's auth app, answers users/get with 200 for
    the right Basic login and 401 otherwise; with `auth=False`, 404 (no auth app)."""

    def __init__(self, auth: bool) -> None:
        import base64
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        good = "Basic " + base64.b64encode(b"dana:secret").decode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if not auth or not self.path.startswith("/api/2.0/mlflow/users/get"):
                    code = 404
                else:
                    code = 200 if self.headers.get("Authorization") == good else 401
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_login_name_on_a_server_without_auth_stays_self_declared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = _FakeTrackingServer(auth=False)
    try:
        server = ProjectParams("m", "e", fake.uri, "mlruns/artifacts")
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "dana")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "anything")
        assert approval.reviewer_identity(server, "dana") == Identity("dana", "self-declared")
    finally:
        fake.close()


def test_identity_is_the_mlflow_login_where_the_server_authenticates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = _FakeTrackingServer(auth=True)
    try:
        _check_authenticated_identity(fake.uri, monkeypatch)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong")
        server = ProjectParams("m", "e", fake.uri, "mlruns/artifacts")
        with pytest.raises(RegistryError, match="did not accept the login 'dana'"):
            approval.reviewer_identity(server, "dana")  # the server has logins: no fallback
    finally:
        fake.close()


def _check_authenticated_identity(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    server = ProjectParams("m", "e", uri, "mlruns/artifacts")
    local = ProjectParams("m", "e", "sqlite:///mlruns/mlflow.db", "mlruns/artifacts")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "dana")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "secret")

    assert approval.reviewer_identity(server, None) == Identity("dana", "mlflow-auth")
    assert approval.reviewer_identity(server, "dana") == Identity("dana", "mlflow-auth")
    with pytest.raises(RegistryError, match="differs from your MLflow login 'dana'"):
        approval.reviewer_identity(server, "eve")
    assert approval.reviewer_identity(local, "eve") == Identity("eve", "self-declared")


def _entry(when: str, version: str, decision: str, after: str | None, who: str) -> dict:
    return {
        "decided_at": when,
        "version": version,
        "decision": decision,
        "champion_after": after,
        "reviewer": who,
    }


def test_champion_at_a_date_replays_approvals_and_rollbacks() -> None:
    entries = [
        _entry("2026-01-10T09:00:00+00:00", "1", "approved", "1", "ann"),
        _entry("2026-02-01T09:00:00+00:00", "2", "rejected", "1", "bob"),
        _entry("2026-03-01T09:00:00+00:00", "3", "approved", "3", "cy"),
        _entry("2026-03-05T12:00:00+00:00", "3", "rolled-back", "1", "ops"),
    ]

    assert approval.champion_at(entries, approval.parse_when("2026-01-09")) is None
    feb = approval.champion_at(entries, approval.parse_when("2026-02-15"))
    assert feb is not None and feb["champion"] == "1" and feb["approved"]["reviewer"] == "ann"
    march = approval.champion_at(entries, approval.parse_when("2026-03-01"))  # end of that day
    assert march is not None and march["champion"] == "3" and march["approved"]["reviewer"] == "cy"
    later = approval.champion_at(entries, datetime(2026, 3, 6, tzinfo=UTC))
    assert later is not None and later["champion"] == "1"
    assert later["approved"]["reviewer"] == "ann" and later["changed_by"]["reviewer"] == "ops"
    with pytest.raises(RegistryError, match="use a date"):
        approval.parse_when("last tuesday")


def test_history_chain_shows_an_edited_line(tmp_path: Path) -> None:
    (tmp_path / "mlruns").mkdir()
    path = tmp_path / "mlruns/review_history.jsonl"
    lines = []
    previous = None
    for i in range(3):
        line = json.dumps({"n": i, "prev_sha256": previous}, sort_keys=True)
        previous = hashlib.sha256(line.encode()).hexdigest()
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    assert approval.read_history(tmp_path)[1] == []

    path.write_text("\n".join([lines[0].replace('"n": 0', '"n": 9'), *lines[1:]]) + "\n")
    assert approval.read_history(tmp_path)[1] == [2]


def test_cli_approve_show_history_and_rollback(project: Path, monkeypatch, capsys) -> None:
    from flows import promotion as review_flows
    from tuneline.cli import main

    monkeypatch.setattr(review_flows, "prefect_api_url", lambda: None)  # no Prefect server here
    version = tiny.register(project, tiny.champion(project))

    assert main(["--project", str(project), "review", "show", version]) == 0
    shown = capsys.readouterr().out
    assert "pass  min_token_f1" in shown and "reviewer_pack.html" in shown
    code = main(
        ["--project", str(project), "review", "approve", version, "--comment", "ok"]
        + ["--reviewer", "kim"]
    )
    assert code == 0 and f"champion -> version {version}" in capsys.readouterr().out
    assert main(["--project", str(project), "review", "approve", version, "--comment", "x"]) == 6
    assert "already approved by kim" in capsys.readouterr().err
    assert main(["--project", str(project), "review", "history"]) == 0
    assert "kim (self-declared, cli): ok" in capsys.readouterr().out
    assert main(["--project", str(project), "rollback", "--comment", "bad", "--reviewer", "o"]) == 0
    assert f"version {version} rolled back by o" in capsys.readouterr().out
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["promotion"]["allow_self_approval"] is False  # the test changed nothing there
