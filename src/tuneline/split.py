"""Split stage: deterministic train / validation / test assignment from a hash of the question.

Within every category the hash is uniform, so each category is split in the configured
proportions in expectation (stratified without depending on other rows); the report gives the
per-category counts and warns about a sizeable category with no test question.

The bucket of a question depends only on the question and the salt, never on the other rows, so
adding data later never moves an existing question between splits: the test set stays frozen.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from tuneline import atomic
from tuneline.errors import DataError
from tuneline.params import SplitParams
from tuneline.prepare import question_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitReport:
    train: int
    validation: int
    test: int
    leaked_questions: int  # questions present in test and in train/validation: must be 0
    by_category: dict[str, dict[str, int]]  # category -> {train, validation, test}
    categories_without_test: list[str]  # categories of >= 30 rows with no test question


def assign_split(question: str, params: SplitParams) -> str:
    """'train', 'validation' or 'test' for one question, stable across runs and data growth."""
    digest = hashlib.sha256(f"{params.salt}\x00{question_key(question)}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    if bucket < params.test_fraction:
        return "test"
    if bucket < params.test_fraction + params.validation_fraction:
        return "validation"
    return "train"


def _refuse_empty_parts(parts: dict[str, list[dict]], params: SplitParams) -> None:
    """Stop before anything is written or trained when a split is empty: training needs train
    and validation rows, and evaluation on an empty test set would fail only after training.
    Bad input (too few records for the fractions), so a DataError (exit 3), not a failed gate."""
    empty = [name for name, rows in parts.items() if not rows]
    if not empty:
        return
    total = sum(len(rows) for rows in parts.values())
    counts = ", ".join(f"{name} {len(rows)}" for name, rows in parts.items())
    raise DataError(
        f"split: the {' and '.join(empty)} split(s) would be empty ({counts}; {total} prepared "
        f"records in all, split.validation_fraction {params.validation_fraction}, "
        f"split.test_fraction {params.test_fraction}). Add data (`tuneline ingest`), or change "
        "those fractions (or split.salt) in params.yaml so that every split gets records"
    )


def split_records(
    records: list[dict], params: SplitParams, train: Path, validation: Path, test: Path
) -> SplitReport:
    """Write the three splits as JSONL and check that no question crosses into the test set."""
    parts: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    for record in records:
        parts[assign_split(record["question"], params)].append(record)
    _refuse_empty_parts(parts, params)
    with atomic.group():  # the three splits change together: never a test set of another run
        for name, path in (("train", train), ("validation", validation), ("test", test)):
            with atomic.open_output(path) as handle:
                handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in parts[name])
    test_keys = {question_key(r["question"]) for r in parts["test"]}
    seen = {question_key(r["question"]) for r in parts["train"] + parts["validation"]}
    by_category: dict[str, dict[str, int]] = {}
    for name, rows in parts.items():
        for record in rows:
            counts = by_category.setdefault(record.get("category") or "-", dict.fromkeys(parts, 0))
            counts[name] += 1
    report = SplitReport(
        train=len(parts["train"]),
        validation=len(parts["validation"]),
        test=len(parts["test"]),
        leaked_questions=len(test_keys & seen),
        by_category=dict(sorted(by_category.items())),
        categories_without_test=sorted(
            c for c, n in by_category.items() if n["test"] == 0 and sum(n.values()) >= 30
        ),
    )
    for category in report.categories_without_test:
        log.warning("split: category %r has no held-out test question", category)
    log.info("split: %s", report)
    return report
