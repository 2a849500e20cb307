"""Human approval across processes against a real Prefect server (conftest.py starts it).

The review flow runs in its own process and pauses; the reviewer acts from other processes
(`tuneline review ...`, or the resume call the Prefect UI makes). Every path must end in one
recorded decision: pause -> approve, a decision from the UI form, reject, timeout -> late
approval as its own flow run, compare-and-set refusal, two approvals racing, rollback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
import tiny_candidates as tiny  # noqa: E402 - shared with the unit tests

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        return tiny.make_project(tmp_path_factory.mktemp("review") / "project")


@pytest.fixture(scope="module")
def env(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What every process of the test uses: the one server, offline, no progress bars."""
    return os.environ | {
        "PREFECT_API_URL": prefect_api,
        "PREFECT_HOME": str(tmp_path_factory.mktemp("prefect-client")),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "HF_HUB_OFFLINE": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "PYTHONUNBUFFERED": "1",
    }


def _cli(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tuneline", "--project", str(project), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _start_review(
    project: Path, env: dict[str, str], version: str, timeout_s: int
) -> subprocess.Popen:
    """The review flow in its own process; its last stdout line is the flow's result as JSON."""
    code = (
        "import json, sys; from flows.promotion import review_flow; "
        "print(json.dumps(review_flow(sys.argv[1], sys.argv[2], int(sys.argv[3]), poll_s=1)))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(project), version, str(timeout_s)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(flow: subprocess.Popen) -> dict:
    out, err = flow.communicate(timeout=300)
    assert flow.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _api(url: str, path: str, body: dict | None = None) -> dict | list:
    request = urllib.request.Request(
        f"{url}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method="POST" if body is not None else "GET",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def _tags(project: Path, version: str) -> dict[str, str]:
    from tuneline import registry
    from tuneline.params import load_params

    params = load_params(project / "params.yaml")
    return dict(registry.resolve_version(params.project, project, version).tags)


def _wait_paused(project: Path, prefect_api: str, version: str, flow: subprocess.Popen) -> str:
    """The review flow run's id once the server shows it paused for input."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        run_id = _tags(project, version).get("review.flow_run_id")
        if run_id and _api(prefect_api, f"/flow_runs/{run_id}")["state_type"] == "PAUSED":
            return run_id
        if flow.poll() is not None:
            raise AssertionError(f"review flow ended early: {flow.stderr.read()[-3000:]}")
        time.sleep(0.5)
    raise AssertionError("the review flow never paused")


def test_paused_flow_resumed_by_cli_approval_promotes(project, env, prefect_api):
    version = tiny.register(project, tiny.champion(project))
    flow = _start_review(project, env, version, timeout_s=240)
    run_id = _wait_paused(project, prefect_api, version, flow)

    done = _cli(project, env, "review", "approve", version, "--comment", "ok", "--reviewer", "rita")

    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resumed the waiting review flow run {run_id}" in done.stdout
    result = _finish(flow)
    assert result["status"] == "approved" and result["record"]["reviewer"] == "rita"
    assert result["record"]["flow_run_id"] == run_id
    assert tiny.champion(project) == version
    assert _api(prefect_api, f"/flow_runs/{run_id}")["state_type"] == "COMPLETED"
    record = json.loads(_tags(project, version)["review.record"])
    assert record["via"] == "cli" and record["adapter_sha256"] and record["report_sha256"]


def test_decision_typed_into_the_prefect_ui_form_is_recorded_the_same_way(
    project, env, prefect_api
):
    before = tiny.champion(project)
    version = tiny.register(project, before)
    flow = _start_review(project, env, version, timeout_s=240)
    run_id = _wait_paused(project, prefect_api, version, flow)

    reply = {"decision": "approve", "reviewer": "uma", "comment": "read the pack"}
    _api(prefect_api, f"/flow_runs/{run_id}/resume", {"run_input": reply})  # what the UI sends

    result = _finish(flow)
    assert result["status"] == "approved"
    record = json.loads(_tags(project, version)["review.record"])
    assert record["via"] == "prefect-ui" and record["identity"] == "self-declared"
    assert record["reviewer"] == "uma" and record["champion_before"] == before
    assert tiny.champion(project) == version


def test_rejection_while_the_flow_waits_leaves_the_champion(project, env, prefect_api):
    champion = tiny.champion(project)
    version = tiny.register(project, champion)
    flow = _start_review(project, env, version, timeout_s=240)
    _wait_paused(project, prefect_api, version, flow)

    done = _cli(project, env, "review", "reject", version, "--comment", "worse on billing")

    assert done.returncode == 0, done.stderr[-3000:]
    assert _finish(flow)["status"] == "rejected"
    assert tiny.champion(project) == champion
    assert _tags(project, version)["review.status"] == "rejected"


def test_timeout_leaves_it_pending_and_a_late_approval_runs_the_promotion_flow(
    project, env, prefect_api
):
    version = tiny.register(project, tiny.champion(project))
    flow = _start_review(project, env, version, timeout_s=3)

    result = _finish(flow)

    assert result["status"] == "pending" and "stays pending" in result["message"]
    run_id = _tags(project, version)["review.flow_run_id"]
    assert _api(prefect_api, f"/flow_runs/{run_id}")["state_type"] == "COMPLETED"  # not FAILED
    assert _tags(project, version)["review.status"] == "pending"

    done = _cli(project, env, "review", "approve", version, "--comment", "late", "--reviewer", "li")

    assert done.returncode == 0, done.stderr[-3000:]
    assert "recorded by the tuneline-promotion flow run" in done.stdout
    assert tiny.champion(project) == version
    assert json.loads(_tags(project, version)["review.record"])["via"] == "promotion-flow"
    runs = _api(
        prefect_api,
        "/flow_runs/filter",
        {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}},
    )
    flows = {f["id"]: f["name"] for f in _api(prefect_api, "/flows/filter", {})}
    assert "tuneline-promotion" in {flows[r["flow_id"]] for r in runs}


def test_approval_refused_when_the_champion_changed_since_evaluation(project, env):
    seen = tiny.champion(project)
    stale = tiny.register(project, seen)
    fresh = tiny.register(project, seen)
    approved = _cli(project, env, "review", "approve", fresh, "--comment", "ok", "--reviewer", "a")
    assert approved.returncode == 0, approved.stderr[-3000:]

    done = _cli(project, env, "review", "approve", stale, "--comment", "ok", "--reviewer", "b")

    assert done.returncode == 6
    assert f"the champion changed from {seen} to {fresh}" in done.stderr
    assert "tuneline run" in done.stderr and "Traceback" not in done.stderr
    assert _tags(project, stale)["review.status"] == "pending"
    assert tiny.champion(project) == fresh


def test_two_concurrent_approvals_exactly_one_wins(project, env):
    version = tiny.register(project, tiny.champion(project))
    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "tuneline", "--project", str(project), "review", "approve"]
            + [version, "--comment", f"race {name}", "--reviewer", name],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("ana", "ben")
    ]
    outcomes = [(r.wait(timeout=300), r.stdout.read(), r.stderr.read()) for r in racers]

    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0, 6], outcomes
    winner = json.loads(_tags(project, version)["review.record"])["reviewer"]
    loser_err = next(err for code, _, err in outcomes if code == 6)
    assert f"version {version} was already approved by {winner}" in loser_err
    entries = [
        json.loads(line)
        for line in (project / "mlruns/review_history.jsonl").read_text().splitlines()
    ]
    assert [e["reviewer"] for e in entries if e["version"] == version] == [winner]


def _approve_here(project: Path, version: str, reviewer: str) -> None:
    """Setup: an approval recorded from this process (the same function the CLI calls)."""
    from tuneline import approval
    from tuneline.params import load_params

    who = approval.Identity(reviewer, "self-declared")
    request = approval.DecisionRequest(version, True, "setup", who, "cli")
    approval.decide(load_params(project / "params.yaml"), project, request)


def test_rollback_restores_the_previous_champion_and_history_says_who(project, env):
    older = tiny.register(project, tiny.champion(project))
    _approve_here(project, older, "first-reviewer")
    newer = tiny.register(project, older)
    _approve_here(project, newer, "second-reviewer")

    done = _cli(project, env, "rollback", "--comment", "answers wrong prices", "--reviewer", "ops")

    assert done.returncode == 0, done.stderr[-3000:]
    assert f"champion -> version {older}" in done.stdout
    assert tiny.champion(project) == older
    assert _tags(project, newer)["review.status"] == "rolled-back"
    now = _cli(project, env, "review", "history", "--at", "2999-01-01")
    assert f"champion at 2999-01-01: version {older}, approved by first-reviewer" in now.stdout
    assert f"ops's rollback of version {newer}" in now.stdout
