"""A throwaway tuneline project for training tests: tiny demo base, tiny Q/A splits, params.yaml.

Plain LoRA (`quantization: none`) on a ~100k-parameter Llama: a few seconds per epoch on CPU.
Used by tests/unit/test_train*.py and tests/integration/test_train_resume.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
TRAIN_OVERRIDES: dict[str, Any] = {
    "quantization": "none",  # 4-bit on CPU is ~6.5x slower; the code path is the same
    "lora_r": 4,
    "lora_alpha": 8,
    "lora_dropout": 0.1,  # on, so the resume test also checks the dropout RNG is restored
    "max_epochs": 3,
    "early_stopping_patience": 2,
    "learning_rate": 0.01,
    "batch_size": 8,
    "max_length": 64,
    "pack_length": 128,  # 2 x max_length, as in params.yaml: 8 examples per step still
    "checkpoint_steps": 3,
    "tracking_wait_s": 0,
}


def tiny_demo_params() -> Any:
    from tuneline.params import DemoModelParams

    return DemoModelParams(
        vocab_size=400,
        hidden_size=64,
        layers=2,
        heads=4,
        max_positions=128,
        pretrain_epochs=0,
        seed=3,
    )


def support_rows(n: int, seed: int) -> list[dict[str, str]]:
    """Question/answer pairs from the project's deterministic sample generator (defects dropped)."""
    from tuneline.sample_data import generate_support_rows

    rows = generate_support_rows(n_pairs=max(n + 20, 60), seed=seed)
    keep = [r for r in rows if r["answer"].strip() and "@" not in r["question"]]
    return [{"question": r["question"], "answer": r["answer"]} for r in keep[:n]]


def build_base(folder: Path) -> Path:
    """The tiny demo base (random weights, BPE trained on sample questions and answers)."""
    from tuneline.base_model import build_demo_model

    rows = support_rows(200, seed=11)
    corpus = [r["question"] for r in rows] + [r["answer"] for r in rows]
    return build_demo_model(corpus, folder, tiny_demo_params())


def make_project(
    root: Path,
    base: Path,
    n_train: int = 48,
    n_val: int = 16,
    train: dict[str, Any] | None = None,
    project: dict[str, Any] | None = None,
) -> Path:
    """params.yaml + dvc.yaml + data/split/{train,validation}.jsonl + models/demo-base."""
    root.mkdir(parents=True, exist_ok=True)
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["train"].update(TRAIN_OVERRIDES | (train or {}))
    params["project"].update(project or {})
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    shutil.copytree(base, root / "models" / "demo-base")
    rows = support_rows(n_train + n_val, seed=5)
    split = root / "data" / "split"
    split.mkdir(parents=True)
    for name, part in (("train", rows[:n_train]), ("validation", rows[n_train:])):
        lines = "".join(json.dumps(r) + "\n" for r in part)
        (split / f"{name}.jsonl").write_text(lines, encoding="utf-8")
    return root
