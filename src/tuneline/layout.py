"""Where every stage reads and writes, relative to the project root.

dvc.yaml names the same paths; tests/unit/test_pipeline.py keeps them in step.
"""

from __future__ import annotations

from pathlib import Path

RAW_DIR = Path("data/raw")  # DVC-tracked as a whole (data/raw.dvc)
SOURCES_MANIFEST = Path("data/sources.json")  # provenance of every ingested file (git)
PREPARED = Path("data/prepared/qa.jsonl")
QUARANTINE = Path("data/prepared/quarantine.jsonl")
PREPARE_REPORT = Path("reports/prepare.json")
VALIDATION_DIR = Path("reports/validation")
VALIDATION_JSON = VALIDATION_DIR / "qa_data.json"  # suite name + .json
SPLIT_DIR = Path("data/split")
TRAIN = SPLIT_DIR / "train.jsonl"
VALIDATION = SPLIT_DIR / "validation.jsonl"
TEST = SPLIT_DIR / "test.jsonl"  # held out: only the evaluate stage reads it
SPLIT_REPORT = Path("reports/split.json")
ADAPTER_DIR = Path("models/adapter")
TRAIN_REPORT = Path("reports/train.json")
EVAL_DIR = Path("reports/evaluation")
EVAL_JSON = EVAL_DIR / "evaluation.json"
DRIFT_DIR = Path("reports/drift")
REVIEW_HISTORY = Path("mlruns/review_history.jsonl")  # append-only record of every decision
DVC_LOCK = Path("dvc.lock")


def find_project_root(start: Path | None = None) -> Path:
    """The nearest folder upwards holding params.yaml and dvc.yaml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "params.yaml").is_file() and (folder / "dvc.yaml").is_file():
            return folder
    raise FileNotFoundError(
        f"no tuneline project (params.yaml + dvc.yaml) at or above {here}; cd into the project"
    )
