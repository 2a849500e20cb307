"""dvc.yaml, tuneline.stages.PIPELINE and the Prefect training flow describe one pipeline.

dvc.yaml is what `dvc repro` runs; PIPELINE is what the code and the flow believe it runs. If they
drift, DVC skips a stage that should re-run (a missing dep or param) or the flow runs stages in
another order than the lineage records say.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tuneline.stages import PIPELINE, StageSpec

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dvc_stages() -> dict[str, dict[str, Any]]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


@pytest.fixture(scope="module")
def params_yaml() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def _paths(entries: list[Any]) -> list[str]:
    """Paths of a deps/outs/metrics list, whose entries are 'path' or {'path': {options}}."""
    out = []
    for entry in entries:
        if isinstance(entry, dict):
            out.extend(entry)
        else:
            out.append(entry)
    return out


def _params_keys(stage: dict[str, Any]) -> list[str]:
    """params entries: 'key' (from params.yaml) or {'file.yaml': [keys]} (other files)."""
    keys = []
    for entry in stage.get("params", []):
        if isinstance(entry, dict):
            for file, file_keys in entry.items():
                keys.extend(f"{file}:{key}" for key in file_keys)
        else:
            keys.append(entry)
    return keys


def _spec(name: str) -> StageSpec:
    return next(s for s in PIPELINE if s.name == name)


def test_stage_names_and_order_match(dvc_stages: dict[str, dict[str, Any]]) -> None:
    assert list(dvc_stages) == [s.name for s in PIPELINE]


@pytest.mark.parametrize("name", [s.name for s in PIPELINE])
def test_stage_matches_dvc_yaml(dvc_stages: dict[str, dict[str, Any]], name: str) -> None:
    spec, stage = _spec(name), dvc_stages[name]
    assert stage["cmd"] == spec.cmd
    assert _paths(stage.get("deps", [])) == list(spec.deps)
    assert _params_keys(stage) == list(spec.params)
    assert _paths(stage.get("outs", [])) == list(spec.outs)
    assert _paths(stage.get("metrics", [])) == list(spec.metrics)


def test_dvc_stages_use_no_fields_the_spec_does_not_model(
    dvc_stages: dict[str, dict[str, Any]],
) -> None:
    # e.g. `plots` or `outs_persist` added to dvc.yaml only would escape the comparison above
    allowed = {"cmd", "deps", "params", "outs", "metrics"}
    extra = {name: sorted(set(stage) - allowed) for name, stage in dvc_stages.items()}
    assert {name: keys for name, keys in extra.items() if keys} == {}


def test_metrics_are_not_cached(dvc_stages: dict[str, dict[str, Any]]) -> None:
    # metrics live in git so `dvc metrics diff` works without a pull
    for name, stage in dvc_stages.items():
        for entry in stage.get("metrics", []):
            assert isinstance(entry, dict), f"{name}: metric {entry} should set cache: false"
            assert all(options == {"cache": False} for options in entry.values()), name


def test_flow_stages_are_ingest_then_dvc_stages_then_register(
    dvc_stages: dict[str, dict[str, Any]],
) -> None:
    from flows.training import FLOW_STAGES

    assert FLOW_STAGES == ("ingest", *dvc_stages, "register")


def test_every_source_dep_exists(dvc_stages: dict[str, dict[str, Any]]) -> None:
    source_deps = [
        dep
        for stage in dvc_stages.values()
        for dep in _paths(stage.get("deps", []))
        if dep.startswith("src/")
    ]
    assert source_deps  # the check below must have something to check
    missing = [dep for dep in source_deps if not (ROOT / dep).is_file()]
    assert missing == []


def test_each_stage_depends_on_its_own_module(dvc_stages: dict[str, dict[str, Any]]) -> None:
    # a stage whose own code is not a dep would not re-run when that code changes
    for name, stage in dvc_stages.items():
        assert f"src/tuneline/{name}.py" in _paths(stage.get("deps", [])), name


def test_every_params_key_exists_in_params_yaml(
    dvc_stages: dict[str, dict[str, Any]], params_yaml: dict[str, Any]
) -> None:
    checked = 0
    for name, stage in dvc_stages.items():
        for key in _params_keys(stage):
            assert ":" not in key, f"{name}: {key} reads a file other than params.yaml"
            node: Any = params_yaml
            for part in key.split("."):
                assert isinstance(node, dict) and part in node, f"{name}: {key} not in params.yaml"
                node = node[part]
            checked += 1
    assert checked > 0


def test_only_the_evaluate_stage_reads_the_held_out_test_set():
    """The practice: the test split stays untouched until the end, so no earlier stage reads it."""
    from tuneline import layout
    from tuneline.stages import PIPELINE

    readers = [stage.name for stage in PIPELINE if str(layout.TEST) in stage.deps]
    assert readers == ["evaluate"]
    train_source = (ROOT / "src/tuneline/train.py").read_text(encoding="utf-8")
    assert "layout.TEST" not in train_source and "test.jsonl" not in train_source
