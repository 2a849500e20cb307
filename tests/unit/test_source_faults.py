"""Faulty CSV exports read without losing a row: fields longer than the csv module's default
limit, a field longer than ours, and a broken quote that swallows the rows after it. The row
reader (sources.read_rows) and prepare (both paths) must agree and account for every row.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuneline import prepare_columnar, sources
from tuneline.params import ColumnMap, PrepareParams
from tuneline.prepare import prepare_records
from tuneline.sources import read_rows

PARAMS = PrepareParams(
    columns=ColumnMap(question="question", answer="answer", category=None),
    sources={},
    conflict_policy="keep-latest",
    pii_policy="redact",
    max_bad_row_share=0.5,
    max_question_chars=1000,
    max_answer_chars=2000,
)
HEADER = "id,question,answer\n"


def _csv(tmp_path: Path, body: str, name: str = "export.csv") -> Path:
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    path = raw / name
    path.write_text(HEADER + body, encoding="utf-8", newline="")
    return path


def _prepare(tmp_path: Path, out: str) -> tuple[object, list[dict], list[dict]]:
    folder = tmp_path / out
    report = prepare_records(
        tmp_path / "raw", PARAMS, folder / "qa.jsonl", folder / "quarantine.jsonl"
    )
    kept = [json.loads(line) for line in (folder / "qa.jsonl").open(encoding="utf-8")]
    quarantined = [json.loads(line) for line in (folder / "quarantine.jsonl").open()]
    return report, kept, quarantined


def _both_prepare_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple:
    """prepare's result as it runs (columnar where it can) and on the row path only; equal."""
    as_run = _prepare(tmp_path, "as_run")
    monkeypatch.setattr(prepare_columnar, "read_sources", lambda *args: None)
    rows_only = _prepare(tmp_path, "rows")
    monkeypatch.undo()
    assert as_run == rows_only
    as_run_bytes = [
        (tmp_path / "as_run" / n).read_bytes() for n in ("qa.jsonl", "quarantine.jsonl")
    ]
    rows_bytes = [(tmp_path / "rows" / n).read_bytes() for n in ("qa.jsonl", "quarantine.jsonl")]
    assert as_run_bytes == rows_bytes
    return as_run


def test_fields_over_the_csv_module_default_are_read_and_quarantined_as_too_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 3 MB answer and a 1M-character question: the csv module's 131,072-character default
    raised _csv.Error and refused the whole file."""
    _csv(
        tmp_path,
        '1,Where is my order?,"It ships today."\n'
        f'2,Long answer?,"{"lorem ipsum " * 250_000}"\n'
        f"3,{'why ' * 250_000},Because.\n"
        "4,Can I return boots?,Within 30 days.\n",
    )
    rows = list(read_rows(tmp_path / "raw" / "export.csv"))
    assert [len(r.fields["answer"]) for r in rows] == [15, 3_000_000, 8, 15]
    report, kept, quarantined = _both_prepare_paths(tmp_path, monkeypatch)
    assert [r["row"] for r in kept] == [1, 4]
    assert [(q["row"], q["reason"]) for q in quarantined] == [
        (2, "answer_too_long"),
        (3, "question_too_long"),
    ]
    assert len(quarantined[0]["fields"]["answer"]) == 3_000_000  # kept whole: nothing lost


def test_a_field_over_our_limit_makes_only_its_record_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "CSV_FIELD_LIMIT", 1000)
    _csv(tmp_path, f"1,Q1?,A1.\n2,Q2?,{'x' * 5000}\n3,Q3?,A3.\n")
    rows = list(read_rows(tmp_path / "raw" / "export.csv"))
    assert [r.row for r in rows] == [1, 2, 3]
    assert rows[1].fields["_error"] == "field larger than field limit (1000) (line 3)"
    assert rows[2].fields == {"id": "3", "question": "Q3?", "answer": "A3."}
    report, kept, quarantined = _both_prepare_paths(tmp_path, monkeypatch)
    assert [r["row"] for r in kept] == [1, 3]
    assert [(q["row"], q["reason"]) for q in quarantined] == [(2, "malformed_record")]


BROKEN_SAME_WIDTH = (
    '1,"Where is my order?","It ships today."\n'
    '2,"Can I pay later?,Only with a card.\n'  # the question's closing quote is missing
    '3,"Do you ship abroad?","Yes, to 40 countries."\n'
    '4,"Is the shop open on Sunday?","No."\n'
    '5,"How do I return boots?","Within 30 days."\n'
)


def test_a_broken_quote_is_reported_with_its_lines_and_the_swallowed_rows_recovered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read as the csv module does, row 2 swallows row 3 and still has three cells: a garbage
    question is kept silently and the good row 3 is lost."""
    _csv(tmp_path, BROKEN_SAME_WIDTH)
    rows = list(read_rows(tmp_path / "raw" / "export.csv"))
    assert [r.fields.get("id") for r in rows] == ["1", None, "3", "4", "5"]
    error = rows[1].fields["_error"]
    assert error.startswith("broken quoting: a quote opened on line 3")
    assert "lines 3-4 (2 physical lines)" in error and "line 4 were read again as 1 row" in error
    assert rows[2].fields["question"] == "Do you ship abroad?"
    report, kept, quarantined = _both_prepare_paths(tmp_path, monkeypatch)
    assert [r["question"] for r in kept] == [
        "Where is my order?",
        "Do you ship abroad?",
        "Is the shop open on Sunday?",
        "How do I return boots?",
    ]
    assert [(q["row"], q["reason"]) for q in quarantined] == [(2, "malformed_record")]
    assert quarantined[0]["fields"]["_error"] == error


def test_a_quote_never_closed_swallows_to_the_end_and_every_row_is_recovered(
    tmp_path: Path,
) -> None:
    _csv(tmp_path, '1,"Q1?","A1."\n2,"Q2?,A2.\n3,Q3?,A3.\n4,Q4?,A4.\n5,Q5?,A5.\n')
    rows = list(read_rows(tmp_path / "raw" / "export.csv"))
    errors = [r.fields["_error"] for r in rows if "_error" in r.fields]
    assert len(errors) == 1 and "lines 3-6 (4 physical lines)" in errors[0]
    assert "lines 4-6 were read again as 3 row(s)" in errors[0]
    good = [r.fields for r in rows if "_error" not in r.fields]
    assert [f["id"] for f in good] == ["1", "3", "4", "5"]


def test_a_proper_multi_line_field_is_not_taken_for_a_broken_quote(tmp_path: Path) -> None:
    body = '1,"Steps?","1. Open settings, then billing\n2. Click ""Cancel""\n3, 4, 5"\n2,Q2?,A2.\n'
    _csv(tmp_path, body)
    rows = list(read_rows(tmp_path / "raw" / "export.csv"))
    assert [r.fields.get("id") for r in rows] == ["1", "2"]
    assert rows[0].fields["answer"] == '1. Open settings, then billing\n2. Click "Cancel"\n3, 4, 5'


def test_the_columnar_path_leaves_a_file_with_broken_quoting_to_the_row_path(
    tmp_path: Path,
) -> None:
    good = _csv(tmp_path, '1,"Q1?","two\nlines"\n2,Q2?,A2.\n', name="good.csv")
    broken = _csv(tmp_path, BROKEN_SAME_WIDTH, name="broken.csv")
    assert prepare_columnar.read_sources([good], PARAMS, {}) is not None
    assert prepare_columnar.read_sources([broken], PARAMS, {}) is None
