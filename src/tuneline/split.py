"""Split stage: deterministic train / validation / test assignment from a hash of the question.

The bucket of a question depends only on the question and the salt, never on the other rows, so
adding data later never moves an existing question between splits: the test set stays frozen.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from tuneline.params import SplitParams
from tuneline.prepare import question_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitReport:
    train: int
    validation: int
    test: int
    leaked_questions: int  # questions present in test and in train/validation: must be 0


def assign_split(question: str, params: SplitParams) -> str:
    """'train', 'validation' or 'test' for one question, stable across runs and data growth."""
    digest = hashlib.sha256(f"{params.salt}\x00{question_key(question)}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    if bucket < params.test_fraction:
        return "test"
    if bucket < params.test_fraction + params.validation_fraction:
        return "validation"
    return "train"


def split_records(
    records: list[dict], params: SplitParams, train: Path, validation: Path, test: Path
) -> SplitReport:
    """Write the three splits as JSONL and check that no question crosses into the test set."""
    parts: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    for record in records:
        parts[assign_split(record["question"], params)].append(record)
    for name, path in (("train", train), ("validation", validation), ("test", test)):
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in parts[name])
    test_keys = {question_key(r["question"]) for r in parts["test"]}
    seen = {question_key(r["question"]) for r in parts["train"] + parts["validation"]}
    report = SplitReport(
        train=len(parts["train"]),
        validation=len(parts["validation"]),
        test=len(parts["test"]),
        leaked_questions=len(test_keys & seen),
    )
    log.info("split: %s", report)
    return report
