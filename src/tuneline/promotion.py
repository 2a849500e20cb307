"""Register stage: turn the pipeline's reports into a registered candidate with its evidence.

The version's tags hold what a decision needs later: gate results, the champion the evaluation
compared against (for compare-and-set), the adapter's sha256, data hashes from dvc.lock, sha256
of every report the reviewer reads, and who started training (no self-approval).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tuneline import dvc_tools, layout, registry, tracking
from tuneline.base_model import sha256_file
from tuneline.errors import DataError
from tuneline.params import load_params

# Reports whose sha256 is recorded with every decision: what the reviewer saw.
EVIDENCE = (
    layout.EVAL_JSON,
    layout.EVAL_DIR / "evaluation.md",
    layout.PREPARE_REPORT,
    layout.VALIDATION_JSON,
    layout.TRAIN_REPORT,
)


def _read(root: Path, path: Path) -> dict:
    return json.loads((root / path).read_text(encoding="utf-8"))


def _log_pack_with_reason(root: Path, pack: dict[str, Path], reason: str) -> None:
    """Log the reviewer pack to the active run, rebuilt with why this run happened (the evaluate
    stage runs under `dvc repro` and cannot know; with drift as the reason, the pack gains the
    drift summary). Rebuilt in a temporary folder: reports/evaluation is DVC-tracked."""
    import tempfile

    import mlflow

    from tuneline import reviewer_pack

    if not pack:  # an evaluation from before the pack existed
        return
    with tempfile.TemporaryDirectory() as tmp:
        for path in reviewer_pack.render(root, reason=reason, out_dir=Path(tmp)):
            mlflow.log_artifact(str(path), "reviewer_pack")


def register_from_reports(root: Path, reason: str) -> dict:
    """Attach validation/prepare evidence to the training run and register it as challenger."""
    import mlflow

    params = load_params(root / "params.yaml")
    run_id = _read(root, layout.TRAIN_REPORT)["run_id"]
    validation = _read(root, layout.VALIDATION_JSON)
    evaluation = _read(root, layout.EVAL_JSON)
    prepared = _read(root, layout.PREPARE_REPORT)
    pack = reviewer_pack_paths(root, evaluation)
    with tracking.run(params.project, root, run_id=run_id) as active:
        mlflow.log_artifact(str(root / layout.VALIDATION_JSON), "reports")
        mlflow.log_artifact(str(root / layout.PREPARE_REPORT), "reports")
        mlflow.log_artifact(str(root / layout.DVC_LOCK), "lineage")  # now with train/evaluate
        _log_pack_with_reason(root, pack, reason)
        mlflow.set_tag("trigger.reason", reason)
        run_tags = active.data.tags
    approval_required = bool(
        evaluation.get("approval_required", params.promotion.require_human_approval)
    )
    tags = (
        _evidence_tags(root, run_id, validation, evaluation, prepared, reason)
        | gate_tags(evaluation)
        | _pack_tags(run_id, pack)
        | {
            "approval.required": str(approval_required).lower(),
            "training.started_by": run_tags.get("tuneline.started_by")
            or run_tags.get("mlflow.user", "unknown"),
            "training.started_by_identity": run_tags.get("tuneline.started_by_identity", "os-user"),
            "adapter.sha256": _adapter_sha256(run_id),
        }
    )
    version = registry.register_candidate(params.project, root, run_id, tags)
    status = registry.resolve_version(params.project, root, version).tags.get("review.status")
    return {
        "model_name": params.project.model_name,
        "version": version,
        "status": status,
        "run_id": run_id,
        "approval_required": approval_required,
        "gates_passed": evaluation.get("gates_passed"),
        "table": evaluation["table_markdown"],
        "evaluation_report": str(root / layout.EVAL_DIR / "evaluation.md"),
        "reviewer_pack": {kind: str(root / p) for kind, p in pack.items()},
        "prepare": f"{prepared['rows_kept']} kept, {prepared['rows_quarantined']} quarantined "
        f"{prepared['quarantined_by_reason']}",
    }


def _evidence_tags(
    root: Path, run_id: str, validation: dict, evaluation: dict, prepared: dict, reason: str
) -> dict[str, str]:
    failed = [o["name"] for o in validation.get("outcomes", []) if not o.get("success")]
    candidate = evaluation["models"]["candidate"]
    seen = evaluation.get("champion_seen")
    return (
        tracking.git_state(root)
        | {
            f"data.{path}": md5
            for path, md5 in dvc_tools.lock_hashes(root).items()
            if not path.startswith("src/")  # code is pinned by the git commit
        }
        | {
            "validation.success": str(validation.get("success")).lower(),
            "validation.failed_checks": ",".join(failed) or "none",
            "prepare.rows": f"{prepared['rows_kept']} kept / {prepared['rows_read']} read",
            "evaluation.champion_version": str(evaluation.get("champion_version")),
            "evaluation.champion_seen": str(seen) if seen is not None else "none",
            "evidence.sha256": json.dumps(report_hashes(root, evaluation), sort_keys=True),
            "trigger.reason": reason,
        }
        | {
            f"test.candidate.{k}": f"{v:.4f}"
            for k, v in candidate.items()
            if isinstance(v, int | float)  # scores only, not nested breakdowns
        }
    )


def _pack_tags(run_id: str, pack: dict[str, Path]) -> dict[str, str]:
    """Links from the version to the reviewer pack logged to its run."""
    return {
        f"review.pack.{kind}": f"runs:/{run_id}/reviewer_pack/{p.name}" for kind, p in pack.items()
    }


def gate_tags(evaluation: dict) -> dict[str, str]:
    """The gate results of the evaluation as version tags (absent in reports made before gates)."""
    gates = evaluation.get("gates")
    if gates is None:
        return {}
    for i, gate in enumerate(gates):
        if not isinstance(gate, dict) or not {"name", "passed"} <= set(gate):
            raise DataError(
                f"{layout.EVAL_JSON}: gates[{i}] is {gate!r}; each gate needs 'name', 'passed' "
                "and 'detail'; re-run `tuneline stage evaluate`"
            )
    passed = evaluation.get("gates_passed", all(g["passed"] for g in gates))
    return {
        "gates.passed": str(bool(passed)).lower(),
        "gates.json": json.dumps(gates),
        "gates.failed": ",".join(g["name"] for g in gates if not g["passed"]) or "none",
    }


def reviewer_pack_paths(root: Path, evaluation: dict) -> dict[str, Path]:
    """kind (html, markdown) -> the reviewer pack file named by the evaluation, if it exists."""
    named: dict[str, Any] = evaluation.get("reviewer_pack") or {}
    found = {}
    for kind, relative in named.items():
        if not (root / relative).is_file():
            raise DataError(
                f"{layout.EVAL_JSON}: reviewer_pack.{kind} names {relative}, which does not "
                "exist; re-run `tuneline stage evaluate`"
            )
        found[kind] = Path(relative)
    return found


def report_hashes(root: Path, evaluation: dict) -> dict[str, str]:
    """sha256 of each report the reviewer reads (evaluation, reviewer pack, data checks)."""
    paths = [*EVIDENCE, *reviewer_pack_paths(root, evaluation).values()]
    return {str(p): sha256_file(root / p) for p in paths if (root / p).is_file()}


def _adapter_sha256(run_id: str) -> str:
    """The digest of the adapter files as logged to the run (what the version serves)."""
    from tuneline.approval import adapter_digest

    return adapter_digest(registry.download_adapter(f"runs:/{run_id}/adapter"))
