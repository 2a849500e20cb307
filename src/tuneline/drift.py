"""Drift of incoming questions against the training questions, via Evidently, behind our types.

Raw question text is not compared directly: each question is reduced to offline text
descriptors (length, word count, share of non-letter characters) and Evidently tests each
descriptor's distribution for drift. The questions drifted when the share of drifted
descriptors reaches our threshold. Nothing outside this module touches an Evidently object;
`evidently` (5-7 s to import) and pandas are imported inside functions.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tuneline import atomic

logger = logging.getLogger(__name__)

_TEXT_COLUMN = "question"
# Descriptor columns compared for drift. Only descriptors that need no nltk download:
# OOVWordsPercentage and Sentiment fetch word lists at run time and fail offline.
DESCRIPTOR_COLUMNS = ("text_length", "word_count", "non_letter_char_pct")
_VALUE_DRIFT_TYPE = "evidently:metric_v2:ValueDrift"
_DRIFTED_COUNT_TYPE = "evidently:metric_v2:DriftedColumnsCount"


@dataclass(frozen=True)
class DriftSummary:
    """Whether current questions drifted from the reference ones, with the reports written."""

    drifted: bool  # share >= threshold
    share: float  # share of drifted descriptor columns (DriftedColumnsCount share)
    threshold: float
    drifted_columns: tuple[str, ...]
    column_scores: dict[str, float]  # p-value (K-S, <= 1000 rows) or distance, per column
    reference_rows: int
    current_rows: int
    report_html: Path
    report_json: Path


@dataclass(frozen=True)
class _ColumnDrift:
    """Evidently's verdict on one descriptor column."""

    score: float
    method: str  # e.g. "K-S p_value" (drift when below threshold) or a distance (above)
    threshold: float
    drifted: bool


def detect_question_drift(
    reference: list[str], current: list[str], report_dir: Path, threshold: float = 0.5
) -> DriftSummary:
    """Compare current questions with reference ones; write question_drift.html/.json.

    `threshold` is the share of descriptor columns that must drift for the questions to
    count as drifted (0.5 = at least half of them).
    """
    for name, questions in (("reference", reference), ("current", current)):
        if not questions:
            raise ValueError(f"{name} questions are empty: drift needs at least one question")
    if not 0 < threshold <= 1:
        raise ValueError(f"drift threshold is a share of columns in (0, 1], got {threshold}")
    report_dir.mkdir(parents=True, exist_ok=True)
    report_html = report_dir / "question_drift.html"
    with atomic.group():  # the HTML and JSON reports change together
        share, columns, evidently_version = _run_evidently(
            reference, current, threshold, report_html
        )
        summary = _summary(reference, current, threshold, share, columns, report_dir)
        _write_json_report(summary, columns, evidently_version)
    logger.log(
        logging.WARNING if summary.drifted else logging.INFO,
        "question drift: %s (share %.2f of %d columns, threshold %.2f; drifted: %s); report %s",
        "DRIFTED" if summary.drifted else "none",
        summary.share,
        len(columns),
        threshold,
        ", ".join(summary.drifted_columns) or "none",
        summary.report_html,
    )
    return summary


def _summary(
    reference: list[str],
    current: list[str],
    threshold: float,
    share: float,
    columns: dict[str, _ColumnDrift],
    report_dir: Path,
) -> DriftSummary:
    """The typed result of one drift check (paths are where the reports are written)."""
    return DriftSummary(
        drifted=share >= threshold,
        share=share,
        threshold=threshold,
        drifted_columns=tuple(name for name, column in columns.items() if column.drifted),
        column_scores={name: column.score for name, column in columns.items()},
        reference_rows=len(reference),
        current_rows=len(current),
        report_html=report_dir / "question_drift.html",
        report_json=report_dir / "question_drift.json",
    )


def _run_evidently(
    reference: list[str], current: list[str], threshold: float, report_html: Path
) -> tuple[float, dict[str, _ColumnDrift], str]:
    """Run DataDriftPreset on the descriptor columns, save its HTML; return share, columns."""
    import evidently
    from evidently import Report
    from evidently.presets import DataDriftPreset

    report = Report(
        [DataDriftPreset(columns=list(DESCRIPTOR_COLUMNS), drift_share=threshold)],
        include_tests=True,  # per-column pass/fail, which is Evidently's own drift decision
    )
    snapshot = report.run(
        current_data=_descriptor_dataset(current), reference_data=_descriptor_dataset(reference)
    )
    result = snapshot.dict()
    share = _drifted_share(result["metrics"])
    columns = _column_drifts(result["metrics"], result["tests"])
    with atomic.output_path(report_html) as temp:
        snapshot.save_html(str(temp))  # given a Path, save_html silently writes nothing
    return share, columns, evidently.__version__


def _descriptor_dataset(questions: list[str]) -> Any:
    """An Evidently Dataset of the questions plus one column per offline descriptor."""
    import pandas as pd
    from evidently import DataDefinition, Dataset
    from evidently.descriptors import NonLetterCharacterPercentage, TextLength, WordCount

    length_alias, words_alias, non_letter_alias = DESCRIPTOR_COLUMNS
    return Dataset.from_pandas(
        pd.DataFrame({_TEXT_COLUMN: list(questions)}),
        data_definition=DataDefinition(text_columns=[_TEXT_COLUMN]),
        descriptors=[
            TextLength(_TEXT_COLUMN, alias=length_alias),
            WordCount(_TEXT_COLUMN, alias=words_alias),
            NonLetterCharacterPercentage(_TEXT_COLUMN, alias=non_letter_alias),
        ],
    )


def _drifted_share(metrics: list[dict[str, Any]]) -> float:
    """The share from the DriftedColumnsCount metric (Evidently has no dataset-drift flag)."""
    for metric in metrics:
        if metric["config"]["type"] == _DRIFTED_COUNT_TYPE:
            return float(metric["value"]["share"])
    raise RuntimeError("Evidently returned no DriftedColumnsCount metric; has its API changed?")


def _column_drifts(
    metrics: list[dict[str, Any]], tests: list[dict[str, Any]]
) -> dict[str, _ColumnDrift]:
    """Per-column score and method from ValueDrift metrics, verdict from their tests."""
    failed = {
        test["metric_config"]["params"]["column"]
        for test in tests
        if test["metric_config"]["params"]["type"] == _VALUE_DRIFT_TYPE and test["status"] == "FAIL"
    }
    columns = {
        metric["config"]["column"]: _ColumnDrift(
            score=float(metric["value"]),  # numpy scalar in the snapshot
            method=str(metric["config"]["method"]),
            threshold=float(metric["config"]["threshold"]),
            drifted=metric["config"]["column"] in failed,
        )
        for metric in metrics
        if metric["config"]["type"] == _VALUE_DRIFT_TYPE
    }
    if set(columns) != set(DESCRIPTOR_COLUMNS):
        raise RuntimeError(
            f"Evidently reported drift for {sorted(columns)}, expected {list(DESCRIPTOR_COLUMNS)}"
        )
    return columns


def _write_json_report(
    summary: DriftSummary, columns: dict[str, _ColumnDrift], evidently_version: str
) -> None:
    """Our own JSON record: plain floats, null for a score that is not finite."""
    record = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "evidently_version": evidently_version,
        "drifted": summary.drifted,
        "share": summary.share,
        "threshold": summary.threshold,
        "reference_rows": summary.reference_rows,
        "current_rows": summary.current_rows,
        "drifted_columns": list(summary.drifted_columns),
        "columns": {
            name: {
                "score": column.score if math.isfinite(column.score) else None,
                "method": column.method,
                "column_threshold": column.threshold,
                "drifted": column.drifted,
            }
            for name, column in columns.items()
        },
    }
    text = json.dumps(record, indent=2, allow_nan=False)
    atomic.write_text(summary.report_json, text + "\n")
