"""Monitoring: new production questions compared with the questions the model was trained on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tuneline import layout
from tuneline.drift import DriftSummary, detect_question_drift  # Evidently loads on call
from tuneline.errors import DataError
from tuneline.params import Params
from tuneline.prepare import normalize_text, read_jsonl
from tuneline.sources import read_rows


def read_questions(path: Path, column: str) -> list[str]:
    """The non-empty questions of a traffic file (CSV/JSONL/JSON) under `column`."""
    if not path.is_file():
        raise DataError(f"{path}: no such traffic file")
    questions = []
    for row in read_rows(path):
        if column not in row.fields:
            raise DataError(
                f"{path} row {row.row}: no '{column}' column (found {sorted(row.fields)}); "
                "set prepare.columns.question in params.yaml"
            )
        text = normalize_text(str(row.fields[column] or ""))
        if text:
            questions.append(text)
    if not questions:
        raise DataError(f"{path}: no non-empty questions to compare")
    return questions


def check_drift(
    params: Params, root: Path, current: Path, column: str | None = None
) -> DriftSummary:
    """Evidently drift report of `current` questions against the training split's questions."""
    reference = [r["question"] for r in read_jsonl(root / layout.TRAIN)]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return detect_question_drift(
        reference,
        read_questions(current, column or params.prepare.columns.question),
        root / layout.DRIFT_DIR / stamp,
        threshold=params.monitor.drift_threshold,
    )
