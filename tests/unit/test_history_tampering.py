"""`tuneline verify` catches every kind of tampering with the review history and the registry.

One project holds four real decisions (two approvals, a rejection, a rollback). Each test
tampers in one way, as someone with write access to the history file (or to the registry through
MlflowClient, outside tuneline) would, expects `verify` to exit 6 naming what changed, puts it
back and expects `verify` to pass again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import tiny_candidates as tiny
import yaml

from tuneline import approval, registry
from tuneline.approval import DecisionRequest, Identity
from tuneline.cli import main
from tuneline.params import load_params

HISTORY = "mlruns/review_history.jsonl"


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
        root = tiny.make_project(tmp_path_factory.mktemp("tamper") / "project")
    params = load_params(root / "params.yaml")

    def decide(version: str, approve: bool, who: str) -> None:
        reviewer = Identity(who, "self-declared")
        approval.decide(params, root, DecisionRequest(version, approve, "read it", reviewer, "cli"))

    first = tiny.register(root, None)
    decide(first, True, "kim")
    second = tiny.register(root, first)
    decide(second, True, "lee")
    decide(tiny.register(root, second), False, "kim")
    approval.rollback(params, root, "wrong prices", Identity("ops", "self-declared"))
    # verify also re-hashes DVC outputs: the tiny project's dvc.lock names files it never wrote
    (root / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": {}}))
    return root


@pytest.fixture
def history_file(project: Path) -> Iterator[Path]:
    """The history file, put back as it was after the test."""
    path = project / HISTORY
    kept = path.read_bytes()
    yield path
    path.write_bytes(kept)


def _verify(project: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["--project", str(project), "verify"])
    return code, capsys.readouterr().out


def _expect_caught(project: Path, capsys: pytest.CaptureFixture[str], *messages: str) -> None:
    code, out = _verify(project, capsys)
    assert code == 6, out
    for message in messages:
        assert message in out, out


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def _write(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def _edit(line: bytes, change: Callable[[dict], None]) -> bytes:
    entry = json.loads(line)
    change(entry)
    return json.dumps(entry, sort_keys=True).encode()


def _rechain(lines: list[bytes]) -> list[bytes]:
    """Every prev_sha256 recomputed, as an attacker who knows the format would."""
    out, previous = [], None
    for line in lines:
        entry = json.loads(line) | {"prev_sha256": previous}
        out.append(json.dumps(entry, sort_keys=True).encode())
        previous = hashlib.sha256(out[-1]).hexdigest()
    return out


def _comment(text: str) -> Callable[[dict], None]:
    return lambda entry: entry.update(comment=text)


def test_the_untouched_history_passes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _verify(project, capsys)
    assert code == 0 and "review history (4 decisions) against the registry" in out, out
    assert main(["--project", str(project), "review", "history"]) == 0


def test_an_edited_middle_line_is_caught(
    project: Path, history_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _lines(history_file)
    lines[1] = _edit(lines[1], _comment("approved after a full audit"))
    _write(history_file, lines)
    _expect_caught(project, capsys, "line 3 does not carry the sha256", "history line 2")


def test_an_edited_middle_line_with_every_hash_rechained_is_caught(
    project: Path, history_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _lines(history_file)
    lines[1] = _edit(lines[1], lambda e: e.update(reviewer="the-cto"))
    _write(history_file, _rechain(lines))
    _expect_caught(
        project,
        capsys,
        "is not the line version 2's review.record anchored",
        "not the one the registry anchored",
        "version 2's review.record differs from the history",
    )
    assert main(["--project", str(project), "review", "history"]) == 3  # shown there too


def test_an_edited_last_line_is_caught(
    project: Path, history_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _lines(history_file)
    lines[-1] = _edit(lines[-1], _comment("routine"))
    _write(history_file, lines)
    _expect_caught(project, capsys, "the last line (line 4) is not the one the registry anchored")


def test_a_deleted_last_line_is_caught(
    project: Path, history_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(history_file, _lines(history_file)[:-1])
    _expect_caught(
        project,
        capsys,
        "has 3 line(s); the registry anchors 4",
        "review.rollback is history line 4, but the history has 3 line(s)",
        "alias champion points at version 1, but the history says version 2",
    )


def test_a_deleted_history_file_is_caught(
    project: Path, history_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history_file.unlink()
    _expect_caught(project, capsys, "review_history.jsonl is missing; the registry anchors 4")


def test_an_alias_moved_outside_tuneline_is_caught(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow import MlflowClient

    p = load_params(project / "params.yaml").project
    champion = tiny.champion(project)
    client = MlflowClient()
    client.set_registered_model_alias(p.model_name, "champion", "3")  # the rejected one
    try:
        _expect_caught(
            project, capsys, "alias champion points at version 3, but the history says version 1"
        )
    finally:
        client.set_registered_model_alias(p.model_name, "champion", str(champion))
    assert _verify(project, capsys)[0] == 0


def test_an_edited_record_on_a_version_is_caught(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = load_params(project / "params.yaml").project
    kept = registry.resolve_version(p, project, "1").tags["review.record"]
    edited = json.loads(kept) | {"reviewer": "someone-else"}
    registry.set_tags(p, project, "1", {"review.record": json.dumps(edited)})
    try:
        _expect_caught(project, capsys, "history line 1: version 1's review.record differs")
    finally:
        registry.set_tags(p, project, "1", {"review.record": kept})
    assert _verify(project, capsys)[0] == 0


def test_a_status_set_without_a_decision_is_caught(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = load_params(project / "params.yaml").project
    pending = tiny.register(project, tiny.champion(project))
    registry.set_tags(p, project, pending, {"review.status": "approved"})  # "Promote" in the UI
    try:
        _expect_caught(project, capsys, f"version {pending} is 'approved' but its records say")
    finally:
        registry.set_tags(p, project, pending, {"review.status": "pending"})
    assert _verify(project, capsys)[0] == 0
