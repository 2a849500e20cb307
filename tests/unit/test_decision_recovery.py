"""A decision or rollback killed at any step ends fully recorded, never half.

A subprocess makes the decision with TUNELINE_CRASH_AT naming one step of `approval.STEPS`, so
it exits like `kill -9` right after that step; this is done for every step, for an approval and
for a rollback. After each kill the half-done state must be flagged (never silently
inconsistent), and recovery (`approval.recover`, the same decision given again, or any review
command) must end in one full record: aliases, the version's tags, the history and its anchors
agreeing (`history.audit`, which `tuneline verify` uses).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import tiny_candidates as tiny

from tuneline import approval, history, lineage, registry
from tuneline.approval import DecisionRequest, Identity
from tuneline.errors import RegistryError
from tuneline.params import load_params

KIM = Identity("kim", "self-declared")
OPS = Identity("ops", "self-declared")
DECIDER = """\
import sys
from pathlib import Path
from tuneline import approval
from tuneline.approval import DecisionRequest, Identity
from tuneline.params import load_params

root, action = Path(sys.argv[1]), sys.argv[2]
params = load_params(root / "params.yaml")
if action == "rollback":
    approval.rollback(params, root, "wrong prices", Identity("ops", "self-declared"))
else:
    who = Identity("kim", "self-declared")
    approval.decide(params, root, DecisionRequest(action, True, "ship it", who, "cli"))
"""


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv(approval.CRASH_ENV, raising=False)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        return tiny.make_project(tmp_path_factory.mktemp("recovery") / "project")


def _killed_at(project: Path, step: str, action: str) -> None:
    """Run the decision in a subprocess that exits 137 right after `step`."""
    script = project / "decide.py"
    script.write_text(DECIDER)
    env = os.environ | {approval.CRASH_ENV: step, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(script), str(project), action],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 137, f"step {step!r} was never reached:\n{done.stderr[-2000:]}"


def _params(project: Path):  # noqa: ANN202 - Params
    return load_params(project / "params.yaml")


def _approve(project: Path, version: str, who: Identity = KIM, comment: str = "ship it") -> None:
    request = DecisionRequest(version, True, comment, who, "cli")
    approval.decide(_params(project), project, request)


def _assert_flagged(project: Path, step: str) -> bool:
    """Half-done is visible (the audit names the interrupted decision), or nothing was written
    (killed before the intent: the registry and history are as they were). True if half-done."""
    problems = history.audit(_params(project).project, project).problems
    if step == approval.STEPS[0]:
        assert not problems, (step, problems)
        return False
    assert any("interrupted" in p for p in problems), (step, problems)
    return True


def _assert_fully_recorded(project: Path, version: str, decision: str, step: str) -> None:
    """One record on the version, the same as the history's last line, anchored, aliases right."""
    p = _params(project).project
    audit = history.audit(p, project)
    assert audit.ok, (step, audit.problems)
    tags = registry.resolve_version(p, project, version).tags
    tag = history.RECORD_TAGS[decision]
    assert tags["review.status"] == decision, step
    entries, broken = approval.read_history(project)
    assert not broken and entries[-1]["version"] == version, step
    assert entries[-1]["decision"] == decision, step
    assert json.loads(tags[tag]) == {k: v for k, v in entries[-1].items() if k != "prev_sha256"}
    assert history.INTENT_TAG not in (registry.model_tags(p, project) or {}), step


def test_every_step_of_an_approval_can_be_killed_and_completed(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tuneline.cli import main

    for i, step in enumerate(approval.STEPS):
        before = tiny.champion(project)
        version = tiny.register(project, before)
        _killed_at(project, step, version)
        half_done = _assert_flagged(project, step)
        if i % 3 == 0:  # recovery on its own, then the same decision (a no-op if recovered)
            recovered = approval.recover(_params(project).project, project)
            assert (recovered is not None and recovered.version == version) == half_done, step
            _approve(project, version)
        elif i % 3 == 1:  # the reviewer gives the same decision again
            _approve(project, version)
        else:  # any review command recovers first; history --at then names the new champion
            at = datetime.now(UTC).isoformat(timespec="seconds")
            assert main(["--project", str(project), "review", "history", "--at", at]) == 0
            out = capsys.readouterr().out
            assert f"version {version}, approved by kim" in out, (step, out)
        _assert_fully_recorded(project, version, "approved", step)
        assert tiny.champion(project) == version, step
        chain = lineage.trace(_params(project).project, project, version)
        assert chain["approval"]["decision"] == "approved", step
        aliases = registry.aliases(_params(project).project, project)
        assert aliases.get("previous-champion") == before and "challenger" not in aliases


def test_every_step_of_a_rollback_can_be_killed_and_completed(project: Path) -> None:
    for step in approval.STEPS:
        older = tiny.champion(project) or ""
        if older == "":
            older = tiny.register(project, None)
            _approve(project, older)
        newer = tiny.register(project, older)
        _approve(project, newer)
        _killed_at(project, step, "rollback")
        if _assert_flagged(project, step):
            with pytest.raises(RegistryError, match="interrupted rollback was completed first"):
                approval.rollback(_params(project), project, "again", OPS)  # not twice
        else:
            approval.rollback(_params(project), project, "wrong prices", OPS)
        _assert_fully_recorded(project, newer, "rolled-back", step)
        assert tiny.champion(project) == older, step


def test_recovery_refuses_when_an_alias_was_moved_outside_tuneline_meanwhile(
    project: Path,
) -> None:
    from mlflow import MlflowClient

    p = _params(project).project
    before = tiny.champion(project)
    version = tiny.register(project, before)
    _killed_at(project, "intent", version)
    stray = tiny.register(project, before)
    MlflowClient().set_registered_model_alias(p.model_name, "champion", stray)

    with pytest.raises(RegistryError, match="alias champion is at .* moved outside tuneline"):
        approval.recover(p, project)
    assert history.INTENT_TAG in (registry.model_tags(p, project) or {})  # kept, not guessed
    MlflowClient().set_registered_model_alias(p.model_name, "champion", str(before))
    approval.recover(p, project)
    _assert_fully_recorded(project, version, "approved", "after the alias was put back")


def test_a_decision_is_refused_while_the_history_disagrees_with_its_anchor(
    project: Path,
) -> None:
    p = _params(project).project
    version = tiny.register(project, tiny.champion(project))
    path = project / "mlruns/review_history.jsonl"
    kept = path.read_bytes()
    path.write_bytes(b"".join(line + b"\n" for line in kept.splitlines()[:-1]))
    try:
        with pytest.raises(RegistryError, match="nothing recorded: .* anchors"):
            _approve(project, version)
        assert registry.resolve_version(p, project, version).tags["review.status"] == "pending"
    finally:
        path.write_bytes(kept)
    _approve(project, version)
    _assert_fully_recorded(project, version, "approved", "after the history was restored")
