"""Unit tests for the synthetic support-ticket generator (tuneline.sample_data).

Defect counts are recomputed here from the CSV as written, independently of the generator's own
bookkeeping, so a summary that drifts from the data fails these tests.
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tuneline.sample_data import (
    COLUMNS,
    SampleDataSummary,
    generate_support_rows,
    write_sample_csv,
)

# Same shape as the PII check a data-quality stage would run; deliberately not imported from
# the generator so the two cannot agree by construction.
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def _read_rows(path: Path) -> list[dict[str, str]]:
    """Read the CSV back the way a downstream stage would."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _count_defects(rows: list[dict[str, str]]) -> dict[str, int]:
    """Recount each planted defect from the rows alone."""
    triples = Counter((row["category"], row["question"], row["answer"]) for row in rows)
    answers_per_question: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        answers_per_question[row["question"]].add(row["answer"])
    return {
        "exact_duplicate": sum(count - 1 for count in triples.values()),
        "empty_answer": sum(1 for row in rows if not row["answer"].strip()),
        "email": sum(1 for row in rows if EMAIL_RE.search(row["question"] + row["answer"])),
        "conflict": sum(1 for answers in answers_per_question.values() if len(answers) > 1),
    }


@pytest.fixture(scope="module")
def default_sample(tmp_path_factory: pytest.TempPathFactory) -> SampleDataSummary:
    """The default-size sample, written once for the module (the generator is deterministic)."""
    return write_sample_csv(tmp_path_factory.mktemp("sample") / "nested" / "support.csv")


@pytest.fixture(scope="module")
def default_rows(default_sample: SampleDataSummary) -> list[dict[str, str]]:
    """The default sample as read back from disk."""
    return _read_rows(default_sample.path)


def test_same_seed_gives_byte_identical_file(tmp_path: Path) -> None:
    # Guards DVC caching: a regenerated sample must not look like new data.
    first = write_sample_csv(tmp_path / "a.csv", n_pairs=300, seed=11)
    second = write_sample_csv(tmp_path / "b.csv", n_pairs=300, seed=11)
    assert first.path.read_bytes() == second.path.read_bytes()


def test_other_seed_gives_different_file(tmp_path: Path) -> None:
    first = write_sample_csv(tmp_path / "a.csv", n_pairs=300, seed=11)
    second = write_sample_csv(tmp_path / "b.csv", n_pairs=300, seed=12)
    assert first.path.read_bytes() != second.path.read_bytes()


@pytest.mark.parametrize("n_pairs", [50, 333, 1200])
def test_row_count_includes_defect_rows(tmp_path: Path, n_pairs: int) -> None:
    summary = write_sample_csv(tmp_path / "support.csv", n_pairs=n_pairs)
    assert summary.rows == n_pairs
    assert len(_read_rows(summary.path)) == n_pairs


def test_header_and_ids(
    default_sample: SampleDataSummary, default_rows: list[dict[str, str]]
) -> None:
    # Downstream stages address columns by name and rows by ticket id.
    with default_sample.path.open(encoding="utf-8", newline="") as handle:
        assert tuple(next(csv.reader(handle))) == COLUMNS
    ticket_ids = [row["ticket_id"] for row in default_rows]
    assert len(set(ticket_ids)) == len(ticket_ids)
    assert all(re.fullmatch(r"T\d{6}", ticket_id) for ticket_id in ticket_ids)


def test_created_at_is_iso_date_in_2026(default_rows: list[dict[str, str]]) -> None:
    assert all(re.fullmatch(r"2026-\d{2}-\d{2}", row["created_at"]) for row in default_rows)


def test_categories_are_balanced(
    default_sample: SampleDataSummary, default_rows: list[dict[str, str]]
) -> None:
    # A category with too few rows would vanish from a stratified holdout split.
    counts = Counter(row["category"] for row in default_rows)
    assert dict(counts) == default_sample.categories
    assert len(counts) >= 6
    assert all(count >= 0.05 * len(default_rows) for count in counts.values())


def test_planted_defects_match_summary(
    default_sample: SampleDataSummary, default_rows: list[dict[str, str]]
) -> None:
    # The data-quality stage is tested against these; each kind must be present at least once.
    recounted = _count_defects(default_rows)
    assert recounted == default_sample.defects
    assert recounted["exact_duplicate"] >= 2
    assert recounted["empty_answer"] >= 2
    assert recounted["email"] >= 2
    assert recounted["conflict"] == 1


def test_empty_answers_include_blank_and_whitespace(default_rows: list[dict[str, str]]) -> None:
    # A check that only tests answer == "" would miss the whitespace-only row.
    empties = [row["answer"] for row in default_rows if not row["answer"].strip()]
    assert "" in empties
    assert any(answer and not answer.strip() for answer in empties)


def test_duplicates_get_their_own_ticket_id(default_rows: list[dict[str, str]]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for row in default_rows:
        key = (row["question"], row["answer"])
        if key in seen:
            assert row["ticket_id"] != seen[key]
        seen[key] = row["ticket_id"]


def test_questions_are_nearly_all_distinct(default_rows: list[dict[str, str]]) -> None:
    # Many repeated questions would let the holdout leak into training.
    questions = [row["question"].lower() for row in default_rows]
    assert len(set(questions)) >= 0.95 * len(questions)


def test_answers_are_varied(default_rows: list[dict[str, str]]) -> None:
    # A handful of canned answers would make the model look good while learning nothing.
    assert len({row["answer"] for row in default_rows}) >= 100


def test_csv_round_trips_embedded_newlines(default_rows: list[dict[str, str]]) -> None:
    assert any("\n" in row["answer"] for row in default_rows)
    assert default_rows == generate_support_rows()


def test_generate_is_deterministic_in_memory() -> None:
    assert generate_support_rows(n_pairs=120, seed=3) == generate_support_rows(n_pairs=120, seed=3)


def test_too_few_pairs_is_refused() -> None:
    with pytest.raises(ValueError, match="n_pairs must be at least 50"):
        generate_support_rows(n_pairs=49)
