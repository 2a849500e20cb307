"""The real training flow, end to end, on a tiny model and tiny data in a throwaway project.

Checks what the issue asks of a run: a registered `challenger` in MLflow, approval moving
`champion`, lineage naming raw files whose sha256 matches the disk, `dvc status` clean, and a
failed validation gate stopping the flow with the failing check named.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]

TINY = {  # a few seconds per stage on 2 CPU cores
    "validate": {"min_rows": 100},
    "demo_model": {"vocab_size": 400, "hidden_size": 64, "layers": 1, "heads": 2},
    "train": {"max_epochs": 2, "batch_size": 16, "max_length": 192},
    "evaluate": {
        "max_examples": 12,
        "max_new_tokens": 8,
        "latency_examples": 2,
        "samples_to_show": 3,
    },
    "promotion": {"approval_timeout_s": 2},  # the flow's wait for a reviewer ends, still pending
}


def _cli(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "tuneline", "--project", str(project), *args],
        capture_output=True,
        text=True,
        cwd=project,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"tuneline {args} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done


def _make_project(root: Path, overrides: dict) -> Path:
    """A fresh git + DVC project with the repository's pipeline and `overrides` in params.yaml."""
    root.mkdir()
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in overrides.items():
        params[section].update(values)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc = [sys.executable, "-m", "dvc"]
    for cmd in (
        ["git", "init", "-q"],
        [*dvc, "init", "-q"],
        [*dvc, "config", "core.analytics", "false"],
        [*dvc, "remote", "add", "-d", "local", str(root / ".dvc-storage")],
    ):
        subprocess.run(cmd, cwd=root, check=True, capture_output=True)
    return root


@pytest.fixture(scope="module")
def prefect_server():
    """One temporary Prefect API (SQLite) for the module; flows run against it."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def test_training_flow_registers_a_challenger_that_a_reviewer_promotes(tmp_path, prefect_server):
    from flows.training import FLOW_STAGES, training_flow

    project = _make_project(tmp_path / "project", TINY)
    sample = project / "incoming" / "support.csv"
    _cli(project, "sample-data", str(sample), "--rows", "300")
    _cli(project, "demo-model", "--rows", "300")

    result = training_flow(project_dir=str(project), sources=[str(sample)], reason="test")

    assert result["stages"] == list(FLOW_STAGES)
    assert result["version"] == "1"
    listing = _cli(project, "review", "list").stdout
    assert "challenger" in listing and "pending" in listing
    evaluation = json.loads((project / "reports/evaluation/evaluation.json").read_text())
    assert set(evaluation["models"]) == {"base", "candidate"}  # no champion yet
    assert evaluation["examples"] == 12
    prepared = json.loads((project / "reports/prepare.json").read_text())
    assert prepared["rows_read"] == 300 == prepared["rows_kept"] + prepared["rows_quarantined"]
    assert prepared["quarantined_by_reason"]["exact_duplicate"] >= 1

    status = subprocess.run(
        [sys.executable, "-m", "dvc", "status"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "up to date" in status, status

    approved = _cli(
        project,
        "review",
        "approve",
        "1",
        "--comment",
        "read the samples",
        "--reviewer",
        "test-reviewer",
        "--override",  # a 2-epoch tiny model stays under the quality floors: gates fail
        "tiny test model",
    )
    assert "champion -> version 1" in approved.stdout
    listing = _cli(project, "review", "list").stdout
    assert "approved" in listing and "champion" in listing and "challenger" not in listing

    chain = json.loads(_cli(project, "lineage", "champion", "--format", "json").stdout)
    assert chain["model"]["version"] == "1"
    assert chain["approval"]["reviewer"] == "test-reviewer"
    assert chain["validation"]["success"] is True
    assert chain["data"]["data/split/train.jsonl"]  # dvc.lock hash of the training data
    (source,) = chain["raw_sources"]
    on_disk = hashlib.sha256((project / source["path"]).read_bytes()).hexdigest()
    assert source["sha256"] == on_disk and source["matches_disk"] is True
    assert chain["base_model"]["weight_sha256"]  # the local base is pinned by content

    # Monitoring: held-out questions are not drift; long, digit-heavy log lines are.
    same = project / "traffic_same.jsonl"
    same.write_text((project / "data/split/test.jsonl").read_text())
    assert _cli(project, "drift", str(same), check=False).returncode == 0
    odd = project / "traffic_odd.csv"
    odd.write_text(
        "text\n" + "".join(f"ERR-{i} 0x{i:08x} at 10.0.{i}.1 failed {i * 7}\n" for i in range(200))
    )
    drifted = _cli(project, "drift", str(odd), "--column", "text", check=False)
    assert drifted.returncode == 5 and "DRIFT" in drifted.stdout
    from flows.monitoring import monitoring_flow

    (project / "data/traffic").mkdir(parents=True)
    log_lines = odd.read_text().splitlines()[1:]  # the production log `tuneline predict` writes
    (project / "data/traffic/predictions.jsonl").write_text(
        "".join(json.dumps({"question": q, "answer": "-"}) + "\n" for q in log_lines)
    )
    watched = monitoring_flow(project_dir=str(project), retrain=False)
    assert watched["drifted"] is True and watched["retrained"] is None

    # Running again with nothing changed: every stage is skipped and no second version appears.
    result = training_flow(project_dir=str(project), reason="test again")
    evaluation = json.loads((project / "reports/evaluation/evaluation.json").read_text())
    assert result["version"] == "1"
    assert evaluation["champion_version"] is None  # unchanged adapter: the champion itself
    listing = _cli(project, "review", "list").stdout.splitlines()[1:]  # below the header
    assert [line.split()[0] for line in listing] == ["1"]


def test_failed_validation_gate_stops_the_flow_naming_the_check(tmp_path, prefect_server):
    from flows.training import training_flow
    from tuneline.errors import GateFailed

    project = _make_project(tmp_path / "project", TINY | {"validate": {"min_rows": 100_000}})
    sample = project / "incoming" / "support.csv"
    _cli(project, "sample-data", str(sample), "--rows", "200")
    _cli(project, "demo-model", "--rows", "200")  # prepare counts tokens with its tokenizer

    with pytest.raises(GateFailed, match="enough_rows"):
        training_flow(project_dir=str(project), sources=[str(sample)], reason="test")
    assert not (project / "data/split/train.jsonl").exists()  # nothing after the gate ran
    assert (project / "reports/validation/qa_data.html").is_file()


def test_stage_cli_reports_a_failed_gate_with_its_exit_code(tmp_path):
    project = _make_project(tmp_path / "project", {"validate": {"min_rows": 100_000}})
    sample = project / "incoming" / "support.csv"
    _cli(project, "sample-data", str(sample), "--rows", "100")
    _cli(project, "demo-model", "--rows", "100")
    _cli(project, "ingest", str(sample))
    _cli(project, "stage", "prepare")
    done = _cli(project, "stage", "validate", check=False)
    assert done.returncode == 4
    assert "enough_rows" in done.stderr and "Traceback" not in done.stderr
    assert os.path.exists(project / "data/raw.dvc")
