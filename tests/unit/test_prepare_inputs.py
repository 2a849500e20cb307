"""prepare_records on each kind of bad or unusual input: the row lands in quarantine with its
reason (rows read = kept + quarantined), or, when the whole file cannot be used, the stage stops
with a message naming the file and what to do, and writes nothing.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tuneline.errors import DataError
from tuneline.params import ColumnMap, PrepareParams, SourceParams
from tuneline.prepare import PrepareReport, prepare_records

PARAMS = PrepareParams(
    columns=ColumnMap(question="question", answer="answer", category="category"),
    sources={},
    conflict_policy="keep-latest",
    pii_policy="redact",
    max_bad_row_share=0.5,
    max_question_chars=200,
    max_answer_chars=200,
)

CARD, EMAIL, PHONE = "4111 1111 1111 1111", "jane@example.org", "+44 20 7946 0958"


@dataclasses.dataclass
class Prepared:
    report: PrepareReport
    kept: list[dict]
    quarantined: list[dict]

    def reasons(self) -> dict[tuple[str, int], str]:
        return {(q["source"], q["row"]): q["reason"] for q in self.quarantined}

    def kept_rows(self) -> set[tuple[str, int]]:
        return {(k["source"], k["row"]) for k in self.kept}


def _raw_dir(tmp_path: Path, files: dict[str, bytes | str]) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir(parents=True)
    for name, content in files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        (raw / name).write_bytes(data)
    return raw


def _outputs(raw: Path) -> tuple[Path, Path]:
    return raw.parent / "out" / "qa.jsonl", raw.parent / "out" / "quarantine.jsonl"


def _run(raw: Path, params: PrepareParams = PARAMS, **kwargs: object) -> Prepared:
    out, quarantine = _outputs(raw)
    report = prepare_records(raw, params, out, quarantine, **kwargs)  # type: ignore[arg-type]
    prepared = Prepared(report, _read(out), _read(quarantine))
    # nothing lost: every row read is kept or quarantined, and the files agree with the report
    assert report.rows_read == report.rows_kept + report.rows_quarantined
    assert (report.rows_kept, report.rows_quarantined) == (
        len(prepared.kept),
        len(prepared.quarantined),
    )
    return prepared


def _refused(raw: Path, params: PrepareParams = PARAMS, **kwargs: object) -> str:
    """The message of a run that must stop; checks it wrote nothing and kept the sources."""
    before = {p.name: p.read_bytes() for p in raw.iterdir()}
    with pytest.raises(DataError) as info:
        prepare_records(raw, params, *_outputs(raw), **kwargs)  # type: ignore[arg-type]
    assert not (raw.parent / "out").exists(), "a refused run must not leave half its output"
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == before
    return info.value.message


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _jsonl(*records: dict) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


# --- shapes and formats ----------------------------------------------------------------------


def test_parquet_source_is_read_and_reconciled(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    raw = _raw_dir(tmp_path, {})
    table = pa.table(
        {
            "question": ["Do you ship abroad?", "Is there a warranty?", None],
            "answer": ["Yes, to 30 countries.", None, "Orphan answer."],
            "category": ["shipping", "warranty", "misc"],
        }
    )
    pq.write_table(table, raw / "export.parquet")
    result = _run(raw)
    assert result.report.sources == {"export.parquet": "columns"}
    assert result.report.rows_read == 3
    assert [(k["question"], k["answer"], k["category"]) for k in result.kept] == [
        ("Do you ship abroad?", "Yes, to 30 countries.", "shipping")
    ]
    assert result.reasons() == {
        ("export.parquet", 2): "empty_answer",  # null answer
        ("export.parquet", 3): "empty_question",  # null question
    }


@pytest.mark.parametrize("how", ["formats", "override"])
def test_parquet_under_another_name_is_read_by_declared_format(tmp_path: Path, how: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    raw = _raw_dir(tmp_path, {})
    pq.write_table(pa.table({"question": ["Hi?"], "answer": ["Hello."]}), raw / "export.dat")
    if how == "formats":  # what ingest recorded in data/sources.json
        result = _run(raw, formats={"export.dat": "parquet"})
    else:
        params = dataclasses.replace(PARAMS, sources={"export.dat": SourceParams(format="parquet")})
        result = _run(raw, params)
    assert [(k["question"], k["answer"]) for k in result.kept] == [("Hi?", "Hello.")]


def test_chat_messages_become_first_exchange_pairs(tmp_path: Path) -> None:
    content = _jsonl(
        {
            "messages": [
                {"role": "system", "content": "You are the support assistant."},
                {"role": "user", "content": "Where is my   order?"},
                {"role": "assistant", "content": "It ships today."},
                {"role": "user", "content": "Thanks"},
                {"role": "assistant", "content": "You're welcome."},
            ],
            "topic": "orders",
        },
        {"messages": [{"role": "user", "content": "Hello? Anyone?"}]},  # never answered
    )
    result = _run(_raw_dir(tmp_path, {"chats.jsonl": content}))
    assert result.report.sources == {"chats.jsonl": "chat"}
    assert [(k["question"], k["answer"], k["category"]) for k in result.kept] == [
        ("Where is my order?", "It ships today.", "orders")
    ]
    assert result.reasons() == {("chats.jsonl", 2): "unmappable_record"}
    # the quarantined row keeps its original fields, so it can be fixed at the source
    assert result.quarantined[0]["fields"]["messages"][0]["content"] == "Hello? Anyone?"


def test_alpaca_artefacts_and_inputs(tmp_path: Path) -> None:
    records = [
        {"instruction": "Name a colour.", "input": "", "output": "Blue."},
        {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour."},
        {"instruction": "Describe a cloud.", "input": '"<noinput>"', "output": "White, soft."},
        {"instruction": "Draw a cat.", "input": "", "output": "<noinput>"},
        {"instruction": "Paint a dog.", "input": "", "output": " <nooutput> "},
        {"instruction": "Convert 20 inches to cm.", "input": "", "output": ""},
        {"instruction": "Is it free?", "input": "", "output": "N/A"},  # a real answer
    ]
    result = _run(_raw_dir(tmp_path, {"alpaca.json": json.dumps(records)}))
    assert result.report.sources == {"alpaca.json": "alpaca"}
    assert [k["question"] for k in result.kept] == [
        "Name a colour.",
        "Translate to French.\n\nGood morning",
        "Describe a cloud.",  # the artefact input is not appended
        "Is it free?",
    ]
    assert result.reasons() == {
        ("alpaca.json", 4): "artefact_answer",
        ("alpaca.json", 5): "artefact_answer",
        ("alpaca.json", 6): "empty_answer",
    }


SEED = _jsonl(
    {"instruction": "Сколько будет 2+2?", "instances": [{"input": "", "output": "4"}]},
    {"instruction": "Переведи.", "instances": [{"input": "Good morning", "output": "Доброе утро"}]},
    {"instruction": "Пустой пример.", "instances": []},  # nothing to map
)
NESTED = SourceParams(
    question="instruction", context="instances.0.input", answer="instances.0.output"
)


def test_nested_records_map_through_source_params(tmp_path: Path) -> None:
    params = dataclasses.replace(PARAMS, sources={"seed.jsonl": NESTED})
    result = _run(_raw_dir(tmp_path, {"seed.jsonl": SEED}), params)
    assert result.report.sources == {"seed.jsonl": "columns"}
    assert [(k["question"], k["answer"]) for k in result.kept] == [
        ("Сколько будет 2+2?", "4"),
        ("Переведи.\n\nGood morning", "Доброе утро"),
    ]
    assert result.reasons() == {("seed.jsonl", 3): "unmappable_record"}


def test_nested_records_without_mapping_are_refused_with_the_paths(tmp_path: Path) -> None:
    message = _refused(_raw_dir(tmp_path, {"seed.jsonl": SEED}))
    assert "seed.jsonl" in message
    assert "nested" in message and "instances.0.output" in message
    assert "prepare:\n  sources:\n    seed.jsonl:" in message  # where to put the mapping


def test_questions_only_file_is_refused(tmp_path: Path) -> None:
    content = "text,category\nHow do I top up?,top_up\nCard not working,card\n"
    message = _refused(_raw_dir(tmp_path, {"traffic.csv": content}))
    assert "traffic.csv" in message
    assert "no answer field" in message
    assert "['category', 'text']" in message


def test_one_unmappable_file_stops_the_run_even_after_good_files(tmp_path: Path) -> None:
    raw = _raw_dir(
        tmp_path,
        {"a_good.csv": "question,answer\nHi?,Hello.\n", "b_traffic.csv": "text\nHi?\n"},
    )
    message = _refused(raw)
    assert "b_traffic.csv" in message and "no answer field" in message


# --- encodings and CSV layout ----------------------------------------------------------------

LATIN = "question,answer\nCafé ouvert?,Oui – de 9 à 17h.\n".encode("cp1252")


def test_cp1252_file_is_refused_without_encoding(tmp_path: Path) -> None:
    message = _refused(_raw_dir(tmp_path, {"latin.csv": LATIN}))
    assert "latin.csv" in message
    assert f"offset {LATIN.index('é'.encode('cp1252'))})" in message
    assert "encoding" in message and "cp1252" in message  # what to set


def test_cp1252_file_reads_with_source_encoding(tmp_path: Path) -> None:
    params = dataclasses.replace(PARAMS, sources={"latin.csv": SourceParams(encoding="cp1252")})
    raw = _raw_dir(tmp_path, {"latin.csv": LATIN})
    result = _run(raw, params)
    assert [(k["question"], k["answer"]) for k in result.kept] == [
        ("Café ouvert?", "Oui – de 9 à 17h.")
    ]
    assert (raw / "latin.csv").read_bytes() == LATIN  # raw data is never rewritten


def test_csv_with_bom_and_crlf_inside_quoted_fields(tmp_path: Path) -> None:
    content = (
        "\ufeffquestion,answer,category\r\n"
        '"Can I return\r\nan opened item?","Yes.\r\n\r\n\r\nKeep the receipt.",returns\r\n'
        "Do you price-match?,No.,billing\r\n"
    ).encode()
    assert content.startswith(b"\xef\xbb\xbf")
    result = _run(_raw_dir(tmp_path, {"bom.csv": content}))
    assert result.report.rows_read == 2
    assert [(k["row"], k["question"], k["answer"], k["category"]) for k in result.kept] == [
        (1, "Can I return\nan opened item?", "Yes.\n\nKeep the receipt.", "returns"),
        (2, "Do you price-match?", "No.", "billing"),
    ]


# --- malformed records and the bad-row share -------------------------------------------------

RAGGED = (
    "question,answer\n"
    "Is it open?,Yes.\n"
    "Too,many,cells\n"  # 2 malformed
    "Is it far?,No.\n"
    "Just one cell\n"  # 4 malformed
)


def test_malformed_records_below_the_limit_are_quarantined_with_their_line(tmp_path: Path) -> None:
    params = dataclasses.replace(PARAMS, max_bad_row_share=0.5)  # 2 of 4 is exactly the limit
    result = _run(_raw_dir(tmp_path, {"ragged.csv": RAGGED}), params)
    assert result.reasons() == {
        ("ragged.csv", 2): "malformed_record",
        ("ragged.csv", 4): "malformed_record",
    }
    errors = [q["fields"]["_error"] for q in result.quarantined]
    assert errors == ["3 cells for 2 columns (line 3)", "1 cells for 2 columns (line 5)"]


def test_too_many_malformed_records_stop_the_stage(tmp_path: Path) -> None:
    params = dataclasses.replace(PARAMS, max_bad_row_share=0.25)
    message = _refused(_raw_dir(tmp_path, {"ragged.csv": RAGGED}), params)
    assert "ragged.csv" in message
    assert "2 of 4 records are malformed" in message
    assert "prepare.max_bad_row_share" in message  # the knob
    assert "fix the export, or raise the threshold" in message  # what to do


def test_malformed_jsonl_line_is_quarantined(tmp_path: Path) -> None:
    content = '{"question": "Hi?", "answer": "Hello."}\n{"question": "Broken", "answer": \n'
    result = _run(_raw_dir(tmp_path, {"t.jsonl": content}))
    assert result.reasons() == {("t.jsonl", 2): "malformed_record"}
    assert "malformed JSON at line 2" in result.quarantined[0]["fields"]["_error"]


# --- duplicates and conflicts ----------------------------------------------------------------

CONFLICT = (
    "question,answer\n"
    "What are your opening hours?,9 to 5.\n"  # 1 superseded by row 2
    "what are your opening hours,9 to 6.\n"  # 2 the latest answer
    "Do you ship abroad?,Yes.\n"  # 3 no conflict
)


def test_keep_latest_keeps_the_later_answer(tmp_path: Path) -> None:
    result = _run(_raw_dir(tmp_path, {"support.csv": CONFLICT}))
    assert result.kept_rows() == {("support.csv", 2), ("support.csv", 3)}
    assert result.reasons() == {("support.csv", 1): "conflicting_answer"}
    assert result.report.conflicting_questions == 1


def test_keep_latest_follows_ingestion_order_across_files(tmp_path: Path) -> None:
    files = {
        "a.csv": "question,answer\nIs it open?,Yes.\n",
        "b.csv": "question,answer\nIs it open?,No.\n",
    }
    newest_a = _run(_raw_dir(tmp_path / "1", files), order=["b.csv", "a.csv"])
    assert [(k["source"], k["answer"]) for k in newest_a.kept] == [("a.csv", "Yes.")]
    assert newest_a.reasons() == {("b.csv", 1): "conflicting_answer"}
    newest_b = _run(_raw_dir(tmp_path / "2", files), order=["a.csv", "b.csv"])
    assert [(k["source"], k["answer"]) for k in newest_b.kept] == [("b.csv", "No.")]
    assert newest_b.reasons() == {("a.csv", 1): "conflicting_answer"}


def test_drop_policy_quarantines_every_row_of_a_conflicting_question(tmp_path: Path) -> None:
    params = dataclasses.replace(PARAMS, conflict_policy="drop")
    result = _run(_raw_dir(tmp_path, {"support.csv": CONFLICT}), params)
    assert result.kept_rows() == {("support.csv", 3)}
    assert result.reasons() == {
        ("support.csv", 1): "conflicting_answer",
        ("support.csv", 2): "conflicting_answer",
    }
    assert result.report.conflicting_questions == 1


def test_fail_policy_names_the_conflict_and_the_alternatives(tmp_path: Path) -> None:
    params = dataclasses.replace(PARAMS, conflict_policy="fail")
    message = _refused(_raw_dir(tmp_path, {"support.csv": CONFLICT}), params)
    assert "1 question(s) have conflicting answers" in message
    assert "support.csv row 1" in message
    assert "prepare.conflict_policy" in message and "keep-latest | drop" in message


def test_fail_policy_lets_plain_duplicates_through(tmp_path: Path) -> None:
    params = dataclasses.replace(PARAMS, conflict_policy="fail")
    content = "question,answer\nIs it open?,Yes.\nis it open,yes\n"
    result = _run(_raw_dir(tmp_path, {"support.csv": content}), params)
    assert result.kept_rows() == {("support.csv", 2)}
    assert result.reasons() == {("support.csv", 1): "near_duplicate"}
    assert result.report.conflicting_questions == 0


def test_exact_duplicate_keeps_the_later_copy(tmp_path: Path) -> None:
    content = "question,answer\nIs it open?,Yes.\nIs it open?,Yes.\nIs it open?,Yes.\n"
    result = _run(_raw_dir(tmp_path, {"support.csv": content}))
    assert result.kept_rows() == {("support.csv", 3)}
    assert result.reasons() == {
        ("support.csv", 1): "exact_duplicate",
        ("support.csv", 2): "exact_duplicate",
    }


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ("How do I reset my password?,Use the link.", "how do i RESET my password ,Use the link."),
        ("Is it open?,Yes we are.", 'Is it open?,"Yes, we are!"'),  # answer differs in punctuation
        ("Is it  open?,Yes.", "Is it open?,Yes."),  # equal once normalised
    ],
)
def test_near_duplicate_keeps_the_later_copy(tmp_path: Path, earlier: str, later: str) -> None:
    content = f"question,answer\n{earlier}\n{later}\n"
    result = _run(_raw_dir(tmp_path, {"support.csv": content}))
    assert result.kept_rows() == {("support.csv", 2)}
    reason = result.reasons()[("support.csv", 1)]
    # normalising whitespace makes row 1 of the last case identical to row 2: exact, not near
    assert reason == ("exact_duplicate" if "  " in earlier else "near_duplicate")
    assert result.report.conflicting_questions == 0


# --- personal data ---------------------------------------------------------------------------

PII_ROWS = (
    "question,answer\n"
    "Do you deliver on Sundays?,No.\n"
    f'"My card {CARD} was charged twice, reach me at {EMAIL}","We will call you on {PHONE}."\n'
)


def test_redact_policy_replaces_personal_data_and_counts_it(tmp_path: Path) -> None:
    result = _run(_raw_dir(tmp_path, {"support.csv": PII_ROWS}))
    redacted = next(k for k in result.kept if k["row"] == 2)
    assert redacted["question"] == "My card [CARD] was charged twice, reach me at [EMAIL]"
    assert redacted["answer"] == "We will call you on [PHONE]."
    assert result.report.pii_redacted == {"card": 1, "email": 1, "phone": 1}
    written = json.dumps(result.kept) + repr(result.report)
    assert CARD not in written and EMAIL not in written and PHONE not in written


def test_drop_policy_quarantines_rows_with_personal_data(tmp_path: Path) -> None:
    params = dataclasses.replace(PARAMS, pii_policy="drop")
    result = _run(_raw_dir(tmp_path, {"support.csv": PII_ROWS}), params)
    assert result.kept_rows() == {("support.csv", 1)}
    assert result.reasons() == {("support.csv", 2): "personal_data"}
    assert result.report.pii_redacted == {}
    assert EMAIL not in json.dumps(result.kept)


def test_fail_policy_names_the_row_without_repeating_the_personal_data(tmp_path: Path) -> None:
    params = dataclasses.replace(PARAMS, pii_policy="fail")
    message = _refused(_raw_dir(tmp_path, {"support.csv": PII_ROWS}), params)
    assert "support.csv row 2" in message
    assert "prepare.pii_policy" in message and "redact | drop" in message
    assert CARD not in message and EMAIL not in message and PHONE not in message


@pytest.mark.parametrize("value", [CARD, EMAIL, PHONE])
def test_each_kind_of_personal_data_alone_is_caught(tmp_path: Path, value: str) -> None:
    params = dataclasses.replace(PARAMS, pii_policy="drop")
    content = f'question,answer\nWhat is on file?,"It is {value}."\n'
    result = _run(_raw_dir(tmp_path, {"support.csv": content}), params)
    assert result.reasons() == {("support.csv", 1): "personal_data"}


# --- the training context --------------------------------------------------------------------


def test_rows_that_do_not_fit_the_context_are_quarantined(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []

    def fits(question: str, answer: str) -> bool:
        seen.append((question, answer))
        return len(question) + len(answer) <= 40

    content = (
        "question,answer\n"
        "Is it open?,Yes.\n"
        'Can I change the delivery address after ordering?,"Yes, until it ships."\n'
        f"Mail?,{EMAIL}\n"
    )
    result = _run(_raw_dir(tmp_path, {"support.csv": content}), fits_context=fits)
    assert result.kept_rows() == {("support.csv", 1), ("support.csv", 3)}
    assert result.reasons() == {("support.csv", 2): "too_long_for_context"}
    # the check sees the text that will be trained on: normalised and redacted
    assert ("Mail?", "[EMAIL]") in seen


def test_rows_quarantined_earlier_are_not_sent_to_the_context_check(tmp_path: Path) -> None:
    calls: list[str] = []

    def fits(question: str, answer: str) -> bool:
        calls.append(question)
        return True

    content = "question,answer\nIs it open?,Yes.\nEmpty?,\n"
    _run(_raw_dir(tmp_path, {"support.csv": content}), fits_context=fits)
    assert calls == ["Is it open?"]
