"""The columnar prepare path and the fast validate reader agree with the row path, byte for byte.

Property style: random rows mixing what the cleaning rules look at (unicode, zero-width and
bidirectional characters, C0/C1 control characters and NUL, odd spaces and line breaks, quotes,
personal data, duplicates, conflicts, artefacts, over-long text) go through both paths; outputs
must be identical. The vectorised pre-filters are checked to never miss what the full Python
check would flag.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import random
import re
from pathlib import Path

import pyarrow as pa
import pytest

from tuneline import pii, prepare_columnar
from tuneline.errors import DataError, GateFailed
from tuneline.params import ColumnMap, PrepareParams, ValidateParams
from tuneline.prepare import normalize_text, prepare_records
from tuneline.validate import (
    _frame,
    _personal_data_flags,
    _read_prepared_with_arrow,
    validate_records,
)

PARAMS = PrepareParams(
    columns=ColumnMap(question="question", answer="answer", category="category"),
    sources={},
    conflict_policy="keep-latest",
    pii_policy="redact",
    max_bad_row_share=0.05,
    max_question_chars=1000,
    max_answer_chars=2000,
)
VALIDATE = ValidateParams(
    min_rows=10,
    question_chars=(1, 1000),
    answer_chars=(1, 2000),
    allowed_categories=(),
    pii="warning",
)

PIECES = [
    "How do I return boots",
    "hello",
    "Où est ma commande",
    "Где мой заказ",
    "配送はいつですか",
    "a\u200bb",
    "\u202eevil",
    "e\u0301",
    "\u00a0nbsp",
    "tab\there",
    "line\r\nbreak",
    "para\n\n\n\nbreak",
    "  padded  ",
    'say "hi"',
    "back\\slash",
    "ctl\x01x",
    "nul\x00byte",
    "bell\x07 del\x7f esc\x1b[31m",
    "c1\x85nel\x9bcsi\x80",
    "ls\u2028sep ps\u2029para cr\ronly\nlf ff\x0cvt\x0bfs\x1cus\x1f",
    "e\x00\u0301",
    "4111 1111 11\x0011 1111",
    "jane\x00.doe@exam\x1bple.com",
    "４１１１ １１１１ １１１１ １１１１",
    "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ",
    "+44\u00a020\u00a07946\u00a00958",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "jane.doe@example.com",
    "+44 20 7946 0958",
    "555-123-4567",
    "4111 1111 1111 1111",
    "GB82 WEST 1234 5698 7654 32",
    "sk-abcdefghijklmnopqrstuvwxyz123",
    "password: hunter2hunter2",
    "to\u212aen=abcdefghijklmnop",
    "ORD-123456",
    "2026-03-14",
    "<noinput>",
    "N/A",
    "ſecret: abcdefghijklmn",
    "",
    " ",
    "x" * 40,
]


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(PIECES) for _ in range(rng.randint(0, 4)))


def _random_rows(rng: random.Random, count: int) -> list[list[str]]:
    """Rows with repeated questions (some with the same answer, some not) and all the oddities."""
    rows: list[list[str]] = []
    for i in range(count):
        if rows and rng.random() < 0.2:  # a repeat: exact, near (case/punctuation) or conflicting
            _, category, question, answer = rows[rng.randrange(len(rows))]
            question = rng.choice([question, question.upper(), question + "?"])
            answer = rng.choice([answer, answer + "!", _text(rng)])
        else:
            category, question, answer = (
                rng.choice(["billing", "", " Shipping "]),
                *(_text(rng) for _ in range(2)),
            )
        rows.append([f"T{i}", category, question, answer])
    return rows


def _write_csv(path: Path, rows: list[list[str]], newline: str = "\n") -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator=newline)
        writer.writerow(["ticket_id", "category", "question", "answer"])
        writer.writerows(rows)


def _run(raw: Path, out: Path, params: PrepareParams, fits=None) -> tuple[object, bytes, bytes]:
    try:
        report = prepare_records(raw, params, out / "qa.jsonl", out / "quarantine.jsonl", fits)
    except DataError as exc:
        return str(exc), b"", b""
    return report, (out / "qa.jsonl").read_bytes(), (out / "quarantine.jsonl").read_bytes()


def _both_paths(tmp_path: Path, params: PrepareParams, monkeypatch, fits=None):
    """(columnar result, row result) for the files under tmp_path/raw."""
    assert prepare_columnar.read_sources(sorted((tmp_path / "raw").iterdir()), params, {}), (
        "the columnar path should take these files"
    )
    columnar = _run(tmp_path / "raw", tmp_path / "columnar", params, fits)
    monkeypatch.setattr(prepare_columnar, "read_sources", lambda *args: None)
    rows = _run(tmp_path / "raw", tmp_path / "rows", params, fits)
    monkeypatch.undo()
    return columnar, rows


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    ("pii_policy", "conflict_policy"),
    [("redact", "keep-latest"), ("drop", "drop"), ("redact", "fail"), ("fail", "keep-latest")],
)
def test_columnar_and_row_paths_write_identical_files(
    tmp_path: Path, monkeypatch, seed: int, pii_policy: str, conflict_policy: str
) -> None:
    rng = random.Random(seed)
    (tmp_path / "raw").mkdir()
    _write_csv(tmp_path / "raw" / "a.csv", _random_rows(rng, 150), rng.choice(["\n", "\r\n"]))
    _write_csv(tmp_path / "raw" / "b.csv", _random_rows(rng, 60))
    params = dataclasses.replace(
        PARAMS,
        pii_policy=pii_policy,
        conflict_policy=conflict_policy,
        max_question_chars=rng.choice([60, 1000]),
        max_answer_chars=rng.choice([80, 2000]),
    )
    columnar, rows = _both_paths(tmp_path, params, monkeypatch)
    assert columnar == rows


def test_records_written_in_many_slices_are_the_same(tmp_path: Path, monkeypatch) -> None:
    """write_records joins and writes the lines a slice of rows at a time."""
    (tmp_path / "raw").mkdir()
    _write_csv(tmp_path / "raw" / "a.csv", _random_rows(random.Random(10), 120))
    monkeypatch.setattr(prepare_columnar, "_WRITE_ROWS", 7)
    columnar = _run(tmp_path / "raw", tmp_path / "columnar", PARAMS)
    monkeypatch.setattr(prepare_columnar, "read_sources", lambda *args: None)
    rows = _run(tmp_path / "raw", tmp_path / "rows", PARAMS)
    assert columnar == rows
    assert len(columnar[1].splitlines()) > 3 * 7


def test_context_check_sees_the_same_rows(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "raw").mkdir()
    _write_csv(tmp_path / "raw" / "a.csv", _random_rows(random.Random(9), 200))
    columnar, rows = _both_paths(
        tmp_path, PARAMS, monkeypatch, fits=lambda q, a: len(q) + len(a) < 60
    )
    assert columnar == rows
    assert "too_long_for_context" in columnar[0].quarantined_by_reason


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("blank_line.csv", "question,answer\nq one,a one\n\nq two,a two\n"),
        ("wrong_width.csv", "question,answer\nq one,a one,extra\nq two,a two\n"),
        ("duplicate_header.csv", "question,answer,answer\nq,a,b\n"),
        ("not_csv.jsonl", '{"question": "q", "answer": "a"}\n'),
        ("header_only.csv", "question,answer\n"),
        ("nested.csv", "question,meta\nq,a\n"),  # needs a mapping the row path reports
    ],
)
def test_sources_the_columnar_path_cannot_prove_go_the_row_path(
    tmp_path: Path, name: str, content: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert prepare_columnar.read_sources([path], PARAMS, {}) is None


def test_csv_read_by_pyarrow_equals_the_csv_module(tmp_path: Path) -> None:
    """Random quoting, line ends, NUL and BOM: whenever the columnar reader takes a file, its
    records are exactly what the csv module yields."""
    rng = random.Random(3)
    alphabet = ["a", ",", '"', "\n", "\r", "\r\n", " ", "é", '""', "\x00"]
    taken = 0
    for i in range(1000):
        cells_text = ""
        for _ in range(rng.randint(1, 4)):
            cells = []
            for _ in range(rng.choice([2, 2, 3])):
                value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5)))
                cells.append('"' + value.replace('"', '""') + '"' if rng.random() < 0.5 else value)
            cells_text += ",".join(cells) + rng.choice(["\n", "\r\n", "\r", ""])
        path = tmp_path / f"f{i}.csv"
        path.write_bytes(
            rng.choice([b"", b"\xef\xbb\xbf"]) + ("question,answer\n" + cells_text).encode()
        )
        source = prepare_columnar._read_csv_source(path, PARAMS, "auto")
        if source is None:
            continue
        taken += 1
        with path.open(encoding="utf-8-sig", newline="") as handle:
            expected = list(csv.reader(handle))[1:]
        assert [list(row.values()) for row in source.table.to_pylist()] == expected, cells_text
    assert taken > 50


def _random_texts(rng: random.Random, count: int) -> list[str]:
    return [_text(rng) + rng.choice(["", " 0", "12", "\n", "\n\n", "é"]) for _ in range(count)]


def test_pii_candidate_mask_never_misses_a_hit() -> None:
    texts = _random_texts(random.Random(5), 3000) + [
        "call 1-800-555-1234 now",
        "K\u212aey: abcdefghijklmnop",
        "api_KEY = 'abcdefghijklmnopq'",
        "ghp_" + "a" * 36,
        "xoxb-1234567890ab",
        "AKIA" + "A" * 16,
        "AIza" + "a" * 35,
        "eyJhbGciOi.eyJzdWIi.sig",
        "GB82WEST12345698765432",
        "pay to DE89 3704 0044 0532 0130 00 today",
        "NL91ABNA0417164300",
        "４１１１ １１１１ １１１１ １１１１",
        "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ",
        "call +44\u00a020\u00a07946\u00a00958",
        "𝟒𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏",
        "password： hunter2hunter2",
        "key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ]
    mask = pii.candidate_mask(pa.array(texts, pa.large_string()))
    flagged = [text for text in texts if pii.has_pii(text)]
    assert len(flagged) > 100
    for text, maybe in zip(texts, mask, strict=True):
        assert maybe or not pii.has_pii(text), text
    assert all(mask[-9:-6])  # the IBANs
    assert all(mask[-6:]) and all(pii.has_pii(text) for text in texts[-6:])  # look-alikes, key


def test_pii_candidate_mask_passes_over_text_with_look_alikes_that_cannot_hide_a_hit() -> None:
    """A no-break space without a digit, a ligature or Cyrillic text: not candidates."""
    texts = ["Bonjour\u00a0! Où est ma commande\u00a0?", "Здравствуйте", "a ﬀ b"]
    assert list(pii.candidate_mask(pa.array(texts, pa.large_string()))) == [False, False, True]


def _number_like(rng: random.Random) -> str:
    """Groups of digits joined the ways numbers are written (and some they are not), half of
    them given a Luhn check digit, with odd characters around."""
    groups = ["".join(rng.choice("0123456789") for _ in range(rng.randint(1, 6)))]
    for _ in range(rng.randint(0, 5)):
        groups += [rng.choice(["", " ", "-", ".", ") ", " (", "+", "  ", "/"])]
        groups += ["".join(rng.choice("0123456789") for _ in range(rng.randint(1, 6)))]
    number = "".join(groups)
    if rng.random() < 0.5:
        digits = [int(c) for c in number if c.isdigit()]
        total = sum(
            d if i % 2 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits[-2::-1])
        )
        number = number[:-1] + str(-total % 10)
    before = rng.choice(["", " ", "+", "(", "x", "#", "call "])
    return before + number + rng.choice(["", " ", ".", "x", ", ok"])


def _card_like(rng: random.Random) -> str:
    """A Luhn-valid card number in one of the printed layouts."""
    layout = rng.choice([(4, 4, 4, 4), (4, 6, 5), (4, 6, 4), (4, 4, 4, 4, 3), (13,), (16,), (19,)])
    digits = [rng.randint(2, 6)] + [rng.randint(0, 9) for _ in range(sum(layout) - 1)]
    total = sum(
        d if i % 2 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits[-2::-1])
    )
    digits[-1] = -total % 10
    text, sep = "".join(map(str, digits)), rng.choice(" -")
    groups, start = [], 0
    for width in layout:
        groups.append(text[start : start + width])
        start += width
    return rng.choice(["card ", "", "("]) + sep.join(groups) + rng.choice(["", ".", " ok"])


def test_pii_candidate_mask_never_misses_a_card_or_phone_number() -> None:
    """Random strings of digits and separators: every one has_pii flags is a candidate."""
    rng = random.Random(21)
    texts = [_number_like(rng) for _ in range(20_000)]
    texts += [f"call {a}" for a in ("020 7946 0958", "07700 900123", "06 12 34 56 78")]
    texts += ["3782 822463 10005", "4111111111111111", "+442079460958", "(555) 1234567"]
    texts += [_card_like(rng) for _ in range(2_000)]
    mask = pii.candidate_mask(pa.array(texts, pa.large_string()))
    flagged = [text for text in texts if pii.has_pii(text)]
    assert len(flagged) > 500
    missed = [text for text, maybe in zip(texts, mask, strict=True) if not maybe]
    assert [text for text in missed if pii.has_pii(text)] == []


def test_pii_candidate_mask_passes_over_bare_order_and_tracking_numbers() -> None:
    texts = ["Order ORD-866758, tracking number 232292048764.", "invoice 5551234567", "1234567"]
    assert not any(pii.candidate_mask(pa.array(texts, pa.large_string())))


def test_pii_candidate_mask_passes_over_discount_codes() -> None:
    """Codes like SPRING25 share an IBAN's first four characters but are not candidates."""
    texts = ["Why won't SPRING25 apply?", "The code TRAIL10 only applies to full-price items."]
    assert not any(pii.candidate_mask(pa.array(texts, pa.large_string())))


def test_case_variants_cover_every_character_python_folds_to_a_secret_name_letter() -> None:
    """The RE2 superset spells secret names with explicit characters: they must include every
    code point that re.IGNORECASE matches to one of the letters."""
    import pyarrow.compute as pc

    everything = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    for letter in set("".join(pii._SECRET_NAME_WORDS)):
        folded = sorted(set(re.findall("(?i)" + letter, everything)))
        assert len(folded) >= 2
        spelled = pc.match_substring_regex(pa.array(folded), rf"\A{pii._any_case(letter)}\z")
        assert all(spelled.to_pylist()), (letter, folded)


def test_already_normal_text_is_what_normalize_text_leaves_unchanged() -> None:
    import pyarrow.compute as pc

    rng = random.Random(8)
    texts = _random_texts(rng, 3000) + ["Ω", "Å", "ﬁ", "が", "ｶ", "x\u0301", "\u3000x"]
    normal = pc.match_substring_regex(
        pa.array(texts, pa.large_string()), prepare_columnar.already_normal_re2()
    ).to_pylist()
    assert sum(normal) > 500
    for text, is_normal in zip(texts, normal, strict=True):
        assert not is_normal or normalize_text(text) == text, repr(text)


def test_json_escaped_matches_json_dumps() -> None:
    rng = random.Random(4)
    texts = _random_texts(rng, 2000) + ["\x00\x1f\x7f", "\u2028", '"\\', "\t\b\f\r", ""]
    texts += ['a\x01"\nb', "\x1f", 'x\n"\\']
    escaped = prepare_columnar.json_escaped(pa.chunked_array([pa.array(texts, pa.large_string())]))
    assert ['"' + e + '"' for e in escaped.to_pylist()] == [
        json.dumps(t, ensure_ascii=False) for t in texts
    ]


def test_json_escaped_without_the_encoder_matches_json_dumps(monkeypatch) -> None:
    """Text whose only control character is the line break is escaped by numpy alone."""
    rng = random.Random(5)
    texts = [t for t in _random_texts(rng, 2000) if not re.search("[\\x00-\\x09\\x0b-\\x1f]", t)]
    texts += ['"\\"', "\n\n", "a\nb", 'ü"ß\\\n', "", "\u2028\x7f"]
    monkeypatch.setattr(prepare_columnar, "_json_body", _fail)
    chunks = [texts[:700], [], texts[700:], ["plain"]]
    escaped = prepare_columnar.json_escaped(
        pa.chunked_array([pa.array(chunk, pa.large_string()) for chunk in chunks])
    )
    assert ['"' + e + '"' for e in escaped.to_pylist()] == [
        json.dumps(t, ensure_ascii=False) for chunk in chunks for t in chunk
    ]


def _fail(*args: object) -> str:
    raise AssertionError("the per-text encoder ran")


def test_record_ids_match_record_id() -> None:
    from tuneline.prepare import record_id

    rng = random.Random(12)
    questions = _random_texts(rng, 2000) + ["", "?!", "ÉCOLE", "ǅ", "ﬁ\x1ca"]
    ascii_edges = [" - a -- b - ", "A\x1cB\x1fC\x0bD", "\tTab\r\nEnd\x0c", "x!y", "!", " ", "  "]
    with_nul = ["a\x00b", "Where IS it?"]
    chunks = [questions, ascii_edges, [], with_nul, ascii_edges[::-1]]
    keys = prepare_columnar.record_keys(
        pa.chunked_array([pa.array(chunk, pa.large_string()) for chunk in chunks])
    )
    ids = prepare_columnar.hex_ids(keys)
    assert ids.to_pylist() == [record_id(q) for chunk in chunks for q in chunk]
    no_keys = prepare_columnar.record_keys(pa.chunked_array([], pa.large_string()))
    assert prepare_columnar.hex_ids(no_keys).to_pylist() == []


def _write_prepared(path: Path, records: list[dict], tail: str = "") -> None:
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n" + tail, encoding="utf-8")


def test_fast_validate_reader_builds_the_same_frame_and_flags(tmp_path: Path) -> None:
    rng = random.Random(6)
    records = [
        {"id": f"{i:016x}", "question": q, "answer": a, "category": "", "source": "x", "row": i}
        for i, (q, a) in enumerate(
            zip(_random_texts(rng, 500), _random_texts(rng, 500), strict=True)
        )
    ]
    path = tmp_path / "qa.jsonl"
    _write_prepared(path, records)
    table = _read_prepared_with_arrow(path)  # the two steps validate_records takes
    frame = _frame(path, table)
    assert table is not None
    expected = [{k: r[k] for k in ("id", "question", "answer", "category")} for r in records]
    assert frame.to_dict("records") == expected
    flags = [pii.has_pii(r["question"]) or pii.has_pii(r["answer"]) for r in records]
    assert list(_personal_data_flags(table)) == flags
    assert any(flags)


@pytest.mark.parametrize(
    "tail",
    [
        "\n",  # a blank line
        '{"id": "x", "question": "q"}\n',  # a record without all columns
        '{"id": "x", "question": 5, "answer": "a", "category": ""}\n',
        '{"id": "x", "question": "q", "answer": "a", "answer": "b", "category": ""}\n',
        '{"id": "x", "question": "q\\ud800", "answer": "a", "category": ""}\n',
        '{"id": "x",\t"question": "q", "answer": "a", "category": ""}\r\n',
    ],
)
def test_fast_validate_reader_leaves_other_files_to_python(tmp_path: Path, tail: str) -> None:
    path = tmp_path / "qa.jsonl"
    _write_prepared(path, [{"id": "a", "question": "q", "answer": "a", "category": ""}], tail)
    assert _read_prepared_with_arrow(path) is None


def test_validation_reports_match_between_readers(tmp_path: Path, monkeypatch) -> None:
    from tuneline import validate

    rng = random.Random(2)
    records = [
        {"id": f"{i % 290:016x}", "question": q, "answer": a, "category": "c"}
        for i, (q, a) in enumerate(
            zip(_random_texts(rng, 300), _random_texts(rng, 300), strict=True)
        )
    ]
    path = tmp_path / "qa.jsonl"
    _write_prepared(path, records)
    params = VALIDATE
    reports = {}
    for reader in ("fast", "python"):
        if reader == "python":
            monkeypatch.setattr(validate, "_read_prepared_with_arrow", lambda path: None)
        with pytest.raises(GateFailed, match="question_unique"):
            validate_records(path, params, tmp_path / reader)
        report = json.loads((tmp_path / reader / "qa_data.json").read_text(encoding="utf-8"))
        reports[reader] = {key: report[key] for key in report if key != "timestamp"}
    assert reports["fast"] == reports["python"]
    assert "no_personal_data" in reports["fast"]["failed_warning"]


@pytest.mark.parametrize("seed", range(4))
def test_patched_equals_applying_the_change_row_by_row(seed: int) -> None:
    """Random chunking, sliced chunks (non-zero array offsets), masks and new lengths (empty
    included): the spliced buffers hold exactly what a row-by-row change would."""
    rng = random.Random(seed)
    texts = _random_texts(rng, 400)
    cuts = sorted(rng.sample(range(1, 400), 5))
    whole = pa.array(["padding"] * 3 + texts, pa.large_string()).slice(3)
    chunks = [whole.slice(a, b - a) for a, b in zip([0, *cuts], [*cuts, 400], strict=True)]
    mask = [rng.random() < 0.3 for _ in texts]

    def change(text: str) -> str:
        return (text[::-1] + "é") * (len(text) % 3)

    patched = prepare_columnar._patched(pa.chunked_array(chunks), mask, change)
    expected = [change(t) if m else t for t, m in zip(texts, mask, strict=True)]
    assert patched.to_pylist() == expected
    assert all(chunk.validate(full=True) is None for chunk in patched.chunks)


def test_patched_keeps_a_chunk_whose_texts_did_not_change() -> None:
    """A masked row the change leaves as it was (a question beside an answer with personal
    data) costs no copy of its chunk; a chunk with a real change is rebuilt."""
    first = pa.array(["a@b.example", "plain"], pa.large_string())
    second = pa.array(["plain too", "also plain"], pa.large_string())
    patched = prepare_columnar._patched(
        pa.chunked_array([first, second]),
        [True, True, True, False],
        lambda text: text.replace("@", " at "),
    )
    assert patched.to_pylist() == ["a at b.example", "plain", "plain too", "also plain"]
    assert patched.chunk(1) is second or patched.chunk(1).buffers()[2].address == (
        second.buffers()[2].address
    )
    assert patched.chunk(0).buffers()[2].address != first.buffers()[2].address


def test_the_quote_pairing_shortcut_never_vouches_for_a_file_strict_parsing_refuses(
    tmp_path: Path,
) -> None:
    """`quotes_plainly_paired` lets the columnar path skip the full strict-quoting parse; it may
    say "not proven" too often, never "sound" when the csv module's strict parse fails."""
    from tuneline.prepare_columnar import quotes_plainly_paired
    from tuneline.sources import csv_quoting_is_sound

    rng = random.Random(7)
    path = tmp_path / "f.csv"
    vouched = 0
    for _ in range(3000):
        text = "".join(rng.choice('a,"\n\r\x00é') for _ in range(rng.randint(0, 14)))
        path.write_text(("\ufeff" if rng.random() < 0.3 else "") + text, encoding="utf-8")
        if quotes_plainly_paired(path):
            vouched += 1
            assert csv_quoting_is_sound(path), repr(text)
    assert vouched > 300  # it does vouch for plain files, or it would save nothing

    path.write_text('q,a\n"How?","Line one\nline two, ""quoted"""\n', encoding="utf-8")
    assert quotes_plainly_paired(path)
    path.write_text('q,a\n"How?","broken "quote\nWhy?,Because\n', encoding="utf-8")
    assert not quotes_plainly_paired(path) and not csv_quoting_is_sound(path)
