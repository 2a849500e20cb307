"""Validate stage: a Great Expectations suite for Q/A data, generated from params.yaml thresholds.

A failed critical expectation stops the pipeline with each failing check named; warnings are
reported and let it go on.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tuneline import pii
from tuneline.errors import GateFailed
from tuneline.expectations import ExpectationSpec, ValidationSummary, run_expectations
from tuneline.params import ValidateParams
from tuneline.prepare import read_jsonl

log = logging.getLogger(__name__)


def build_specs(params: ValidateParams) -> list[ExpectationSpec]:
    """The Q/A suite; each check's `reason` says what it guards against."""
    q_min, q_max = params.question_chars
    a_min, a_max = params.answer_chars
    specs = [
        ExpectationSpec(
            "enough_rows",
            "row_count_between",
            None,
            "critical",
            {"min_value": params.min_rows, "max_value": None},
            "too few examples to teach the model anything reliable",
        ),
        ExpectationSpec(
            "question_not_null",
            "not_null",
            "question",
            "critical",
            {},
            "a pair without a question trains nothing",
        ),
        ExpectationSpec(
            "answer_not_null",
            "not_null",
            "answer",
            "critical",
            {},
            "a pair without an answer teaches the model to say nothing",
        ),
        ExpectationSpec(
            "question_length",
            "length_between",
            "question",
            "critical",
            {"min_value": q_min, "max_value": q_max},
            "truncated or runaway questions (broken exports, pasted logs)",
        ),
        ExpectationSpec(
            "answer_length",
            "length_between",
            "answer",
            "critical",
            {"min_value": a_min, "max_value": a_max},
            "one-word or over-long answers the model would imitate",
        ),
        ExpectationSpec(
            "question_unique",
            "unique",
            "id",
            "critical",
            {},
            "duplicates over-weight some answers and leak across splits",
        ),
        ExpectationSpec(
            "no_personal_data",
            "values_in_set",
            "has_personal_data",
            params.pii,
            {"value_set": [False]},
            "e-mails, phone, card, IBAN numbers or secrets a model could memorise and repeat",
        ),
    ]
    if params.allowed_categories:
        specs.append(
            ExpectationSpec(
                "category_allowed",
                "values_in_set",
                "category",
                "critical",
                {"value_set": list(params.allowed_categories)},
                "rows from a product line or source that should not be in this model",
            )
        )
    return specs


def _counted(unexpected: int, observed: str) -> str:
    return f"{unexpected} rows, {observed}" if unexpected else observed


def validate_records(prepared: Path, params: ValidateParams, report_dir: Path) -> ValidationSummary:
    """Run the suite on prepared records; GateFailed names each failed critical check."""
    import pandas as pd

    frame = pd.DataFrame(read_jsonl(prepared), columns=["id", "question", "answer", "category"])
    frame["has_personal_data"] = [
        pii.has_pii(q) or pii.has_pii(a)
        for q, a in zip(frame["question"], frame["answer"], strict=True)
    ]
    summary = run_expectations(frame, build_specs(params), report_dir)
    for outcome in summary.failed_warning:
        log.warning(
            "validate: warning %s failed (%s): %s", outcome.name, outcome.observed, outcome.reason
        )
    if not summary.success:
        failed = "; ".join(
            f"{o.name} ({_counted(o.unexpected_count, o.observed)}): {o.reason}"
            for o in summary.failed_critical
        )
        raise GateFailed(
            f"data validation failed: {failed}. Report: {summary.report_html}; "
            "rows removed before validation are counted by reason in reports/prepare.json"
        )
    return summary
