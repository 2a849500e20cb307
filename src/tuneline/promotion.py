"""Register stage: turn the pipeline's reports into a registered candidate with its evidence."""

from __future__ import annotations

import json
from pathlib import Path

from tuneline import dvc_tools, layout, registry, tracking
from tuneline.params import load_params


def _read(root: Path, path: Path) -> dict:
    return json.loads((root / path).read_text(encoding="utf-8"))


def register_from_reports(root: Path, reason: str) -> dict:
    """Attach validation/prepare evidence to the training run and register it as challenger."""
    import mlflow

    params = load_params(root / "params.yaml")
    run_id = _read(root, layout.TRAIN_REPORT)["run_id"]
    validation = _read(root, layout.VALIDATION_JSON)
    evaluation = _read(root, layout.EVAL_JSON)
    prepared = _read(root, layout.PREPARE_REPORT)
    with tracking.run(params.project, root, run_id=run_id):
        mlflow.log_artifact(str(root / layout.VALIDATION_JSON), "reports")
        mlflow.log_artifact(str(root / layout.PREPARE_REPORT), "reports")
        mlflow.log_artifact(str(root / layout.DVC_LOCK), "lineage")  # now with train/evaluate
        mlflow.set_tag("trigger.reason", reason)
    failed = [o["name"] for o in validation.get("outcomes", []) if not o.get("success")]
    candidate = evaluation["models"]["candidate"]
    tags = (
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
            "trigger.reason": reason,
        }
        | {f"test.candidate.{k}": f"{v:.4f}" for k, v in candidate.items()}
    )
    version = registry.register_candidate(params.project, root, run_id, tags)
    return {
        "model_name": params.project.model_name,
        "version": version,
        "run_id": run_id,
        "table": evaluation["table_markdown"],
        "evaluation_report": str(root / layout.EVAL_DIR / "evaluation.md"),
        "prepare": f"{prepared['rows_kept']} kept, {prepared['rows_quarantined']} quarantined "
        f"{prepared['quarantined_by_reason']}",
    }
