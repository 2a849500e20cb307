"""Prepare stage on synthetic raw files: every row is kept or quarantined with its reason, source
and row number, and the report reconciles. Inputs are written byte by byte so encoding, BOM and
quoting cases are exactly what a real export would contain.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tuneline.errors import DataError
from tuneline.params import ColumnMap, PrepareParams
from tuneline.prepare import normalize_text, prepare_records

PARAMS = PrepareParams(
    columns=ColumnMap(question="question", answer="answer", category="category"),
    sources={},
    conflict_policy="keep-latest",
    pii_policy="redact",
    max_bad_row_share=0.5,
    max_question_chars=40,
    max_answer_chars=60,
)


def _run(raw: Path, params: PrepareParams = PARAMS):  # noqa: ANN202 - (report, kept, quarantined)
    out, quarantine = raw.parent / "out" / "qa.jsonl", raw.parent / "out" / "quarantine.jsonl"
    report = prepare_records(raw, params, out, quarantine)
    return report, _read(out), _read(quarantine)


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _raw_dir(tmp_path: Path, files: dict[str, bytes | str]) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir(parents=True)
    for name, content in files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        (raw / name).write_bytes(data)
    return raw


# --- normalize_text -------------------------------------------------------------------------


def test_normalize_text_composes_to_nfc() -> None:
    decomposed = "cafe\u0301"  # 'e' + combining acute
    assert normalize_text(decomposed) == "caf\u00e9"


@pytest.mark.parametrize(
    "invisible",
    [
        "\u200b",
        "\u200c",
        "\u200d",
        "\u200e",
        "\u200f",
        "\u202a",
        "\u202e",
        "\u2060",
        "\u2066",
        "\u2069",
        "\ufeff",
        "\u061c",
    ],  # ARABIC LETTER MARK: the one bidi mark outside the U+200x/U+202x/U+206x ranges
)
def test_normalize_text_removes_zero_width_and_bidi(invisible: str) -> None:
    assert normalize_text(f"re{invisible}fund") == "refund"


def test_normalize_text_collapses_whitespace() -> None:
    assert normalize_text("  How   do\t\tI \u00a0 reset  ") == "How do I reset"


@pytest.mark.parametrize("space", ["\u2002", "\u2009", "\u202f", "\u3000"])
def test_normalize_text_collapses_unicode_spaces(space: str) -> None:
    # en, thin, narrow no-break and ideographic spaces arrive from word processors and CJK input;
    # left in, two equal answers compare unequal and a duplicate is reported as a conflict
    assert normalize_text(f"Open{space}{space}9-5, Mon{space}-{space}Fri") == "Open 9-5, Mon - Fri"


def test_normalize_text_keeps_line_breaks_but_trims_lines() -> None:
    assert normalize_text("first  line  \r\n   second\tline ") == "first line\nsecond line"


def test_normalize_text_keeps_one_blank_line_between_paragraphs() -> None:
    # a blank line separates paragraphs (steps of an answer); the model should learn that layout
    assert normalize_text("first  line  \r\n\n   second\tline ") == "first line\n\nsecond line"


@pytest.mark.parametrize(
    "gap",
    ["\n\n\n", "\n\n\n\n\n", "\n  \n\t\n", "\r\n\r\n\r\n", "\n\u00a0\n \n"],
)
def test_normalize_text_shrinks_runs_of_blank_lines_to_one(gap: str) -> None:
    # lines holding only spaces are blank too, so they cannot smuggle in a longer gap
    assert normalize_text(f"a{gap}b") == "a\n\nb"


def test_normalize_text_drops_leading_and_trailing_blank_lines() -> None:
    assert normalize_text("\n\n  Answer.  \n\n\n") == "Answer."


@pytest.mark.parametrize("control", ["\x0b", "\x0c", "\x1c", "\x1f"])
def test_normalize_text_turns_ascii_control_spaces_into_a_space(control: str) -> None:
    # vertical tab, form feed and the separators U+001C..1F are whitespace to Python; an ASCII-only
    # text must be cleaned like the same text with an accent somewhere (which is: "Café b")
    assert normalize_text(f"Café{control}b") == "Café b"
    assert normalize_text(f"Open{control}daily") == "Open daily"


@pytest.mark.parametrize(
    "control", ["\x00", "\x01", "\x07", "\x08", "\x0e", "\x1b", "\x7f", "\x80", "\x9b", "\x9f"]
)
def test_normalize_text_removes_control_characters(control: str) -> None:
    # NUL, bell, escape, DEL and the C1 controls never reach the training data
    assert normalize_text(f"Open{control} daily{control}") == "Open daily"
    assert normalize_text(f"Caf{control}é") == "Café"


@pytest.mark.parametrize("line_break", ["\r", "\r\n", "\x85", "\u2028", "\u2029"])
def test_normalize_text_turns_every_line_break_into_a_newline(line_break: str) -> None:
    assert normalize_text(f"Step one{line_break}Step two") == "Step one\nStep two"


def test_normalize_text_composes_a_mark_once_a_control_between_is_gone() -> None:
    # removing the NUL first leaves e + combining acute, which NFC makes one character
    assert normalize_text("Caf e\x00\u0301") == "Caf \u00e9"
    assert normalize_text(normalize_text("e\x00\u0301")) == normalize_text("e\x00\u0301")


def test_a_card_number_split_by_a_nul_is_still_redacted(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.jsonl").write_text(
        json.dumps({"question": "Charge 4111 1111 11\x0011 1111 please", "answer": "Done\x07."})
        + "\n",
        encoding="utf-8",
    )
    report = prepare_records(raw, PARAMS, tmp_path / "qa.jsonl", tmp_path / "q.jsonl")
    record = json.loads((tmp_path / "qa.jsonl").read_text(encoding="utf-8"))
    assert record["question"] == "Charge [CARD] please" and record["answer"] == "Done."
    assert report.pii_redacted == {"card": 1}


def test_normalize_text_leaves_cyrillic_unchanged() -> None:
    text = "Как вернуть заказ? Ёлка и йогурт"  # precomposed Ё and й must stay as they are
    assert normalize_text(text) == text


def test_normalize_text_composes_decomposed_cyrillic() -> None:
    # 'и' + combining breve is how some keyboards produce 'й'; NFC makes it one character
    assert normalize_text("\u0438\u0306") == "\u0439"


# --- prepare_records: one decision per row --------------------------------------------------

CSV_ROWS = (
    "question,answer,category\n"
    "  how do I RESET my   password? ,Call support.,account\n"  # 1 conflicting, superseded by 3
    "How do I reset my password?,Use the reset link.,account\n"  # 2 exact duplicate of 3
    "How do I reset my password?,Use the reset link.,account\n"  # 3 kept: the latest answer
    "Where is my order?,,orders\n"  # 4 empty answer
    'Can I pay later?,"   \t ",billing\n'  # 5 whitespace-only answer
    f"{'Why ' * 20}?,Because.,misc\n"  # 6 question too long
    f"What is the warranty?,{'long ' * 20},misc\n"  # 7 answer too long
    "Who do I mail?,Write to help@ridgeline.example please.,contact\n"  # 8 kept, redacted
    'do you ship abroad,"Yes, to 30 countries.",ship\n'  # 9 near duplicate of tickets.jsonl:1
)

JSONL_ROWS = (
    '{"question": "Do you ship abroad?", "answer": "Yes, to 30 countries.", "category": "ship"}\n'
    '{"question": "Broken line", "answer": \n'  # 2 malformed
    '{"question": "Can I return sale items?", "answer": "Within 14 days.", "category": "ret"}\n'
)


@pytest.fixture
def prepared(tmp_path: Path):  # noqa: ANN201 - (report, kept, quarantined)
    raw = _raw_dir(tmp_path, {"support.csv": CSV_ROWS, "tickets.jsonl": JSONL_ROWS})
    return _run(raw)


def _quarantined(quarantined: list[dict], source: str, row: int) -> dict:
    matches = [q for q in quarantined if q["source"] == source and q["row"] == row]
    assert len(matches) == 1, f"expected one quarantined row for {source}:{row}, got {matches}"
    return matches[0]


@pytest.mark.parametrize(
    ("source", "row", "reason"),
    [
        ("support.csv", 1, "conflicting_answer"),
        ("support.csv", 2, "exact_duplicate"),
        ("support.csv", 4, "empty_answer"),
        ("support.csv", 5, "empty_answer"),
        ("support.csv", 6, "question_too_long"),
        ("support.csv", 7, "answer_too_long"),
        ("support.csv", 9, "near_duplicate"),
        ("tickets.jsonl", 2, "malformed_record"),
    ],
)
def test_bad_row_goes_to_quarantine_with_reason_source_and_row(
    prepared,
    source: str,
    row: int,
    reason: str,  # noqa: ANN001
) -> None:
    _, kept, quarantined = prepared
    assert _quarantined(quarantined, source, row)["reason"] == reason
    assert (source, row) not in {(k["source"], k["row"]) for k in kept}


def test_good_rows_are_kept_with_their_origin(prepared) -> None:  # noqa: ANN001
    _, kept, _ = prepared
    assert {(k["source"], k["row"]) for k in kept} == {
        ("support.csv", 3),  # the latest of rows 1-3 (same question) wins
        ("support.csv", 8),
        ("tickets.jsonl", 1),  # read after support.csv, so it supersedes support.csv row 9
        ("tickets.jsonl", 3),
    }
    first = next(k for k in kept if k["source"] == "support.csv" and k["row"] == 3)
    assert first["question"] == "How do I reset my password?"
    assert first["answer"] == "Use the reset link."
    assert first["category"] == "account"


def test_kept_ids_are_unique(prepared) -> None:  # noqa: ANN001
    _, kept, _ = prepared
    assert len({k["id"] for k in kept}) == len(kept)


def test_email_is_redacted(prepared) -> None:  # noqa: ANN001
    report, kept, _ = prepared
    mailed = next(k for k in kept if k["source"] == "support.csv" and k["row"] == 8)
    assert mailed["answer"] == "Write to [EMAIL] please."
    assert all("@" not in k["question"] + k["answer"] for k in kept)
    assert report.pii_redacted == {"email": 1}


def test_report_reconciles_and_counts_by_reason(prepared) -> None:  # noqa: ANN001
    report, kept, quarantined = prepared
    assert report.rows_read == 12  # 9 CSV records + 3 JSONL lines
    assert report.rows_kept == len(kept) == 4
    assert report.rows_quarantined == len(quarantined) == 8
    assert report.rows_read == report.rows_kept + report.rows_quarantined
    assert report.reconciled
    assert report.quarantined_by_reason == {
        "answer_too_long": 1,
        "conflicting_answer": 1,
        "empty_answer": 2,
        "exact_duplicate": 1,
        "malformed_record": 1,
        "near_duplicate": 1,
        "question_too_long": 1,
    }
    assert report.conflicting_questions == 1
    assert report.sources == {"support.csv": "columns", "tickets.jsonl": "columns"}


def test_report_holds_no_redacted_personal_data(prepared) -> None:  # noqa: ANN001
    report, _, _ = prepared
    assert "help@ridgeline.example" not in repr(report)


def test_empty_question_is_quarantined(tmp_path: Path) -> None:
    raw = _raw_dir(tmp_path, {"a.csv": "question,answer,category\n\u200b ,Some answer.,x\n"})
    report, kept, quarantined = _run(raw)
    assert kept == []
    assert quarantined[0]["reason"] == "empty_question"
    assert report.reconciled


def test_numeric_answers_are_kept_alike(tmp_path: Path) -> None:
    # a JSON number is a real answer: 0 must not be taken for a missing one while 42 is kept
    content = (
        '{"question": "How many return fees?", "answer": 0}\n'
        '{"question": "How many stores?", "answer": 42}\n'
    )
    raw = _raw_dir(tmp_path, {"numbers.jsonl": content})
    _, kept, quarantined = _run(raw)
    assert quarantined == []
    assert sorted(k["answer"] for k in kept) == ["0", "42"]


def test_category_column_is_optional(tmp_path: Path) -> None:
    params = dataclasses.replace(PARAMS, columns=ColumnMap("question", "answer", ""))
    raw = _raw_dir(tmp_path, {"a.csv": "question,answer\nIs it open?,Yes.\n"})
    _, kept, _ = _run(raw, params)
    assert kept[0]["category"] == ""
    # and a configured category column the file lacks is no error either
    _, kept, _ = _run(_raw_dir(tmp_path / "2", {"a.csv": "question,answer\nIs it open?,Yes.\n"}))
    assert kept[0]["category"] == ""


def test_category_is_empty_when_a_record_lacks_the_field(tmp_path: Path) -> None:
    # the mapping is chosen from the first record; a later JSONL record without `category` has
    # no category, not the text of some internal sentinel object
    content = (
        '{"question": "Is it open?", "answer": "Yes.", "category": "store"}\n'
        '{"question": "Is it far?", "answer": "No."}\n'
    )
    raw = _raw_dir(tmp_path, {"a.jsonl": content})
    report, kept, _ = _run(raw)
    assert [(k["row"], k["category"]) for k in kept] == [(1, "store"), (2, "")]
    assert report.reconciled


def test_mapped_columns_are_read_under_other_names(tmp_path: Path) -> None:
    # `prompt`/`reply` is no shape tuneline recognises: only the configured columns can map it
    params = dataclasses.replace(PARAMS, columns=ColumnMap("prompt", "reply", ""))
    raw = _raw_dir(tmp_path, {"a.jsonl": '{"prompt": "Hi?", "reply": "Hello."}\n'})
    report, kept, _ = _run(raw, params)
    assert (kept[0]["question"], kept[0]["answer"]) == ("Hi?", "Hello.")
    assert report.sources == {"a.jsonl": "columns"}


# --- errors for people -----------------------------------------------------------------------


def test_unmappable_file_names_file_fields_found_and_the_mapping_to_add(tmp_path: Path) -> None:
    raw = _raw_dir(tmp_path, {"export.csv": "text,reply\nHow?,Like this.\n"})
    with pytest.raises(DataError) as info:
        _run(raw)
    message = info.value.message
    assert "export.csv" in message
    assert "['reply', 'text']" in message  # the fields the file has
    assert "question/answer" in message  # what it needs
    # what to do: the params.yaml block for this very file, with its own field names
    assert "sources:\n    export.csv:\n      question: text\n      answer: reply" in message
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_non_utf8_file_names_the_byte_offset(tmp_path: Path) -> None:
    content = "question,answer\nCafé?,Oui.\n".encode("cp1252")
    offset = content.index(b"\xe9")
    raw = _raw_dir(tmp_path, {"latin.csv": content})
    with pytest.raises(DataError) as info:
        _run(raw)
    assert "latin.csv" in info.value.message
    assert f"offset {offset}" in info.value.message
    assert "encoding" in info.value.message  # what to do: set the file's encoding
    assert not (tmp_path / "out").exists()
    assert (raw / "latin.csv").read_bytes() == content  # the source is left as it was


def test_empty_raw_dir_is_a_data_error(tmp_path: Path) -> None:
    raw = _raw_dir(tmp_path, {})
    with pytest.raises(DataError, match="no source files"):
        _run(raw)


# --- CSV details -----------------------------------------------------------------------------


def test_csv_with_bom_and_embedded_newlines_is_read_correctly(tmp_path: Path) -> None:
    content = (
        "\ufeffquestion,answer,category\r\n"
        '"How do I return\r\nan item?","Step one.\r\n\r\nStep two, then ""done"".",returns\r\n'
        "Second question?,Second answer.,misc\r\n"
    )
    raw = _raw_dir(tmp_path, {"bom.csv": content})
    report, kept, quarantined = _run(raw)
    assert quarantined == []
    assert report.rows_read == 2  # quoted newlines do not split a record
    first, second = sorted(kept, key=lambda k: k["row"])
    assert first["question"] == "How do I return\nan item?"
    assert first["answer"] == 'Step one.\n\nStep two, then "done".'  # paragraph kept, no \r
    assert first["category"] == "returns"  # the BOM did not become part of the first header
    assert (second["row"], second["question"]) == (2, "Second question?")
