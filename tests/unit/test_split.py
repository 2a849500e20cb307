"""Split stage on synthetic questions: deterministic, close to the configured fractions, and stable
as data grows, so a question once in the test set never turns up in training later.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuneline.errors import DataError
from tuneline.params import SplitParams
from tuneline.split import assign_split, split_records

PARAMS = SplitParams(validation_fraction=0.1, test_fraction=0.15, salt="unit-test")


def _records(start: int, stop: int) -> list[dict]:
    return [
        {
            "id": f"r{i}",
            "question": f"Question number {i} about order {i * 7919 % 1000}?",
            "answer": f"Answer {i}.",
        }
        for i in range(start, stop)
    ]


def _split(records: list[dict], folder: Path, params: SplitParams = PARAMS):  # noqa: ANN202
    paths = {name: folder / f"{name}.jsonl" for name in ("train", "validation", "test")}
    report = split_records(records, params, paths["train"], paths["validation"], paths["test"])
    return report, paths


def _assignment(paths: dict[str, Path]) -> dict[str, str]:
    """question -> split name, read back from the files the stage wrote."""
    out: dict[str, str] = {}
    for name, path in paths.items():
        for line in path.read_text(encoding="utf-8").splitlines():
            question = json.loads(line)["question"]
            assert question not in out, f"{question!r} written to two splits"
            out[question] = name
    return out


def test_same_input_gives_identical_split_files(tmp_path: Path) -> None:
    records = _records(0, 500)
    _, first = _split(records, tmp_path / "a")
    _, second = _split(records, tmp_path / "b")
    for name in first:
        assert first[name].read_bytes() == second[name].read_bytes()


def test_every_record_lands_in_exactly_one_split(tmp_path: Path) -> None:
    records = _records(0, 500)
    report, paths = _split(records, tmp_path)
    assert report.train + report.validation + report.test == len(records)
    assert set(_assignment(paths)) == {r["question"] for r in records}


def test_fractions_are_respected_within_two_points(tmp_path: Path) -> None:
    n = 5000
    report, _ = _split(_records(0, n), tmp_path)
    assert report.test / n == pytest.approx(PARAMS.test_fraction, abs=0.02)
    assert report.validation / n == pytest.approx(PARAMS.validation_fraction, abs=0.02)
    expected_train = 1 - PARAMS.test_fraction - PARAMS.validation_fraction
    assert report.train / n == pytest.approx(expected_train, abs=0.02)


def test_adding_records_never_moves_an_existing_question(tmp_path: Path) -> None:
    batch_a, batch_b = _records(0, 1000), _records(1000, 2500)
    _, paths_a = _split(batch_a, tmp_path / "a")
    _, paths_ab = _split(batch_a + batch_b, tmp_path / "ab")
    before, after = _assignment(paths_a), _assignment(paths_ab)
    moved = {q for q in before if after[q] != before[q]}
    assert moved == set()
    assert len(after) == 2500


def test_order_of_records_does_not_change_assignment(tmp_path: Path) -> None:
    records = _records(0, 800)
    _, forward = _split(records, tmp_path / "f")
    _, backward = _split(list(reversed(records)), tmp_path / "b")
    assert _assignment(forward) == _assignment(backward)


def test_case_and_whitespace_variants_land_in_the_same_split() -> None:
    for i in range(300):
        base = f"How do I change delivery address {i}?"
        variants = [
            base.upper(),
            base.lower(),
            f"  {base}  ",
            base.replace(" ", "  \t "),
            base.replace(" ", "\n"),
        ]
        assert {assign_split(v, PARAMS) for v in variants} == {assign_split(base, PARAMS)}


def test_salt_changes_the_assignment() -> None:
    # guards the salt actually being part of the hash: otherwise it could never reshuffle
    other = SplitParams(PARAMS.validation_fraction, PARAMS.test_fraction, salt="other-salt")
    questions = [f"Question {i}?" for i in range(200)]
    ours = [assign_split(q, PARAMS) for q in questions]
    assert ours != [assign_split(q, other) for q in questions]


def test_no_test_question_leaks_into_train_or_validation(tmp_path: Path) -> None:
    records = _records(0, 2000)
    # the same questions again in other spellings: they must follow their original into one split
    records += [dict(r, id=f"{r['id']}-v", question=r["question"].upper()) for r in records[:500]]
    report, paths = _split(records, tmp_path)
    assert report.leaked_questions == 0
    by_key: dict[str, set[str]] = {}
    for question, split in _assignment(paths).items():
        by_key.setdefault(" ".join(question.casefold().split()), set()).add(split)
    assert all(len(splits) == 1 for splits in by_key.values())


def _first_records_missing(split: str, params: SplitParams, count: int) -> list[dict]:
    """`count` records none of which lands in `split`."""
    pool = _records(0, 5000)
    return [r for r in pool if assign_split(r["question"], params) != split][:count]


@pytest.mark.parametrize("empty", ["train", "validation", "test"])
def test_an_empty_split_stops_at_split_time_naming_the_settings(tmp_path: Path, empty: str) -> None:
    """Caught before training (not when evaluation finds no test rows): exit 3, bad input."""
    records = _first_records_missing(empty, PARAMS, 12)
    with pytest.raises(DataError) as info:
        _split(records, tmp_path)
    message = info.value.message
    assert info.value.exit_code == 3
    assert f"the {empty} split(s) would be empty" in message
    assert "split.test_fraction" in message and "split.validation_fraction" in message
    assert f"{empty} 0" in message and "12 prepared records" in message
    assert not list(tmp_path.iterdir()), "nothing is written for a refused split"


def test_three_records_cannot_fill_three_splits(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="would be empty"):
        _split(_records(0, 2), tmp_path)
