"""The Evidently wrapper on a few hundred synthetic support questions."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tuneline.drift import DESCRIPTOR_COLUMNS, DriftSummary, detect_question_drift

_WORDS = "how do i reset my password where is order refund the shipping account login".split()


def _short_questions(n: int, seed: int) -> list[str]:
    """Plain questions of 3-8 words, all letters but the question mark."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(_WORDS, k=rng.randint(3, 8))) + "?" for _ in range(n)]


def _long_noisy_questions(n: int, seed: int) -> list[str]:
    """Questions of 20-40 words full of order numbers and symbols."""
    rng = random.Random(seed)
    return [
        " ".join(rng.choices(_WORDS, k=rng.randint(20, 40)))
        + f" #{rng.randint(10_000, 99_999)} ($$$) ref:{rng.randint(100, 999)}-{rng.randint(1, 9)}!"
        for _ in range(n)
    ]


@pytest.fixture(scope="module")
def same_distribution(tmp_path_factory: pytest.TempPathFactory) -> DriftSummary:
    report_dir = tmp_path_factory.mktemp("same")
    return detect_question_drift(
        _short_questions(300, seed=1), _short_questions(300, seed=2), report_dir
    )


def test_same_distribution_is_not_drifted(same_distribution: DriftSummary) -> None:
    assert not same_distribution.drifted
    assert same_distribution.share < same_distribution.threshold == 0.5
    assert same_distribution.reference_rows == same_distribution.current_rows == 300
    assert set(same_distribution.column_scores) == set(DESCRIPTOR_COLUMNS)
    # scores are plain floats, not numpy scalars
    assert all(type(score) is float for score in same_distribution.column_scores.values())


def test_reports_are_written(same_distribution: DriftSummary) -> None:
    assert same_distribution.report_html.stat().st_size > 0
    assert "<html" in same_distribution.report_html.read_text(encoding="utf-8")[:2000].lower()
    record = json.loads(same_distribution.report_json.read_text(encoding="utf-8"))
    assert record["drifted"] is False
    assert record["share"] == same_distribution.share
    assert record["evidently_version"] == "0.7.23"
    assert set(record["columns"]) == set(DESCRIPTOR_COLUMNS)
    assert record["columns"]["text_length"]["method"]  # says how to read the score


def test_short_vs_long_noisy_questions_drift(tmp_path: Path) -> None:
    summary = detect_question_drift(
        _short_questions(300, seed=1), _long_noisy_questions(200, seed=3), tmp_path
    )
    assert summary.drifted
    assert summary.share == 1.0
    assert set(summary.drifted_columns) == set(DESCRIPTOR_COLUMNS)
    assert summary.current_rows == 200
    # K-S p-values on a few hundred rows: near zero when distributions differ this much
    assert all(score < 0.05 for score in summary.column_scores.values())


@pytest.mark.parametrize(("threshold", "drifted"), [(0.3, True), (0.5, False), (1.0, False)])
def test_threshold_is_a_share_of_drifted_columns(
    tmp_path: Path, threshold: float, drifted: bool
) -> None:
    # digits in place of "o": same length and word count, more non-letter characters,
    # so exactly one of the three descriptor columns drifts
    reference = _short_questions(300, seed=1)
    current = [q.replace("o", "0") for q in _short_questions(300, seed=2)]
    summary = detect_question_drift(reference, current, tmp_path, threshold=threshold)
    assert summary.drifted_columns == ("non_letter_char_pct",)
    assert summary.share == pytest.approx(1 / 3)
    assert summary.threshold == threshold
    assert summary.drifted is drifted


@pytest.mark.parametrize(
    ("reference", "current", "which"),
    [([], ["q?"], "reference"), (["q?"], [], "current")],
)
def test_empty_input_names_which(
    tmp_path: Path, reference: list[str], current: list[str], which: str
) -> None:
    with pytest.raises(ValueError, match=f"{which} questions are empty"):
        detect_question_drift(reference, current, tmp_path)


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.5])
def test_threshold_outside_zero_one_is_refused(tmp_path: Path, threshold: float) -> None:
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        detect_question_drift(["a?"], ["b?"], tmp_path, threshold=threshold)
