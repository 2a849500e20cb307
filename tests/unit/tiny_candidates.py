"""A throwaway tuneline project with a tiny base model and adapter, and registered candidates.

Used by the review tests (unit and integration): no training, no DVC run. Each candidate is a
real MLflow run holding the tiny adapter, registered by the real `register_from_reports` from
report files written here in the shapes the pipeline writes (evaluation.json with gates).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CORPUS = [
    "You are the support assistant. Answer briefly.",
    "How do I reset my password?",
    "Use the reset link on the sign-in page.",
    "Where is my order?",
    "Track it from your account page under Orders.",
]
DVC_LOCK = {
    "schema": "2.0",
    "stages": {
        "split": {
            "cmd": "python -m tuneline stage split",
            "outs": [
                {"path": "data/split/train.jsonl", "md5": "0" * 32, "size": 1},
                {"path": "data/split/test.jsonl", "md5": "1" * 32, "size": 1},
            ],
        }
    },
}


def make_project(root: Path, promotion: dict[str, Any] | None = None) -> Path:
    """params.yaml + dvc.yaml from the repository, a tiny base, and one tiny LoRA adapter."""
    from tuneline.base_model import build_demo_model, resolve_base
    from tuneline.params import DemoModelParams, load_params

    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["model"].update({"source": "local", "base": "models/demo-base"})
    params["train"]["quantization"] = "none"  # the tiny base is 16 wide: no 4-bit blocks
    params["evaluate"]["max_new_tokens"] = 6
    params["promotion"].update(promotion or {})
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    tiny = DemoModelParams(
        vocab_size=300,
        hidden_size=16,
        layers=1,
        heads=2,
        max_positions=64,
        pretrain_epochs=0,
        seed=0,
    )
    base_dir = build_demo_model(CORPUS, root / "models/demo-base", tiny)
    _save_adapter(base_dir, root / "models/adapter")
    ref = resolve_base(load_params(root / "params.yaml").model, root)
    (root / "models/adapter/base_model.json").write_text(ref.to_json() + "\n")
    (root / "dvc.lock").write_text(yaml.safe_dump(DVC_LOCK))
    return root


def _save_adapter(base_dir: Path, out: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(str(base_dir))
    model = get_peft_model(base, LoraConfig(r=2, lora_alpha=4, target_modules="all-linear"))
    model.save_pretrained(str(out), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(base_dir)).save_pretrained(str(out))


def register(
    root: Path,
    champion_seen: str | None,
    gates_passed: bool = True,
    started_by: str | None = None,
    approval_required: bool = True,
    reason: str = "test",
) -> str:
    """One training run holding the adapter, registered as challenger; returns its version."""
    import mlflow

    from tuneline import tracking
    from tuneline.params import load_params
    from tuneline.promotion import register_from_reports

    params = load_params(root / "params.yaml")
    with tracking.run(params.project, root, run_name="train") as run:
        mlflow.log_artifacts(str(root / "models/adapter"), "adapter")
        mlflow.log_artifact(str(root / "params.yaml"), "lineage")
        mlflow.log_params({"train.quantization": "none"})
        if started_by is not None:
            mlflow.set_tag("tuneline.started_by", started_by)
    write_reports(root, run.info.run_id, champion_seen, gates_passed, approval_required)
    return str(register_from_reports(root, reason)["version"])


def write_reports(
    root: Path, run_id: str, champion_seen: str | None, gates_passed: bool, approval_required: bool
) -> None:
    """The reports register_from_reports reads, in the pipeline's shapes."""
    scores = {"exact_match": 0.1, "token_f1": 0.4, "rouge_l": 0.35}
    gates = [
        {"name": "min_token_f1", "passed": True, "detail": "0.40 >= 0.15"},
        {
            "name": "no_regression",
            "passed": gates_passed,
            "detail": "token_f1 0.40 vs champion 0.41 (max drop 0.02)",
        },
    ]
    pack = root / "reports/evaluation/reviewer_pack.md"
    pack.parent.mkdir(parents=True, exist_ok=True)
    pack.write_text(f"# Reviewer pack for run {run_id}\n")
    (root / "reports/evaluation/reviewer_pack.html").write_text(f"<h1>run {run_id}</h1>\n")
    reports = {
        "reports/train.json": {"run_id": run_id},
        "reports/validation/qa_data.json": {"success": True, "outcomes": []},
        "reports/prepare.json": {
            "rows_read": 10,
            "rows_kept": 9,
            "rows_quarantined": 1,
            "quarantined_by_reason": {"exact_duplicate": 1},
        },
        "reports/evaluation/evaluation.json": {
            "examples": 3,
            "models": {"base": scores, "candidate": scores},
            "champion_version": champion_seen,
            "champion_seen": champion_seen,
            "table_markdown": "| metric | before | after |",
            "gates": gates,
            "gates_passed": gates_passed,
            "approval_required": approval_required,
            "reviewer_pack": {
                "html": "reports/evaluation/reviewer_pack.html",
                "markdown": "reports/evaluation/reviewer_pack.md",
            },
        },
    }
    for relative, data in reports.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(json.dumps(data))


def champion(root: Path) -> str | None:
    """The current champion's version number, read fresh."""
    from tuneline import registry
    from tuneline.params import load_params

    return registry.aliases(load_params(root / "params.yaml").project, root).get("champion")
