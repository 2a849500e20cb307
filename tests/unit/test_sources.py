"""read_rows on files written byte by byte: every record comes back with its 1-based number, a
malformed one comes back flagged (never dropped), and a file that cannot be read at all fails
with its name, where it broke and what to do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tuneline.errors import DataError
from tuneline.sources import read_rows

_CHUNK = 1 << 22  # read_rows checks UTF-8 in chunks of this many bytes


def _write(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _rows(path: Path, fmt: str = "auto", encoding: str | None = None) -> list[tuple[int, dict]]:
    return [(r.row, r.fields) for r in read_rows(path, fmt, encoding)]


# --- CSV -------------------------------------------------------------------------------------


def test_csv_with_bom_keeps_the_first_header_clean(tmp_path: Path) -> None:
    path = _write(tmp_path, "bom.csv", "\ufeffquestion,answer\r\nHi?,Hello.\r\n")
    assert _rows(path) == [(1, {"question": "Hi?", "answer": "Hello."})]


def test_csv_quoted_crlf_stays_inside_one_record(tmp_path: Path) -> None:
    content = 'question,answer\r\n"Line one\r\nline two?","A\r\n\r\nB"\r\nNext?,Yes.\r\n'
    path = _write(tmp_path, "crlf.csv", content)
    rows = _rows(path)
    assert [number for number, _ in rows] == [1, 2]  # two records, not five lines
    assert rows[0][1] == {"question": "Line one\r\nline two?", "answer": "A\r\n\r\nB"}


@pytest.mark.parametrize(
    ("line", "cells"),
    [("Too,many,cells", 3), ("Too few", 1)],
)
def test_csv_record_with_wrong_cell_count_is_flagged_not_dropped(
    tmp_path: Path, line: str, cells: int
) -> None:
    path = _write(tmp_path, "ragged.csv", f"question,answer\nOk?,Yes.\n{line}\nAlso ok?,Yes.\n")
    rows = _rows(path)
    assert [number for number, _ in rows] == [1, 2, 3]  # every record accounted for
    assert rows[1][1] == {"_error": f"{cells} cells for 2 columns (line 3)"}
    assert rows[2][1] == {"question": "Also ok?", "answer": "Yes."}


def test_csv_blank_line_is_not_a_record(tmp_path: Path) -> None:
    path = _write(tmp_path, "blank.csv", "question,answer\nA?,a.\n\nB?,b.\n")
    assert [fields["question"] for _, fields in _rows(path)] == ["A?", "B?"]
    assert sum(1 for _ in read_rows(path)) == 2


def test_csv_without_header_is_a_data_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "empty.csv", "")
    with pytest.raises(DataError) as info:
        _rows(path)
    assert "empty.csv" in info.value.message and "no header" in info.value.message


# --- JSONL and JSON --------------------------------------------------------------------------


def test_jsonl_malformed_and_non_object_lines_are_flagged_with_their_line(tmp_path: Path) -> None:
    content = '{"question": "A?", "answer": "a."}\n{"question": \n\n[1, 2]\n{"question": "B?"}\n'
    path = _write(tmp_path, "t.jsonl", content)
    rows = _rows(path)
    assert [number for number, _ in rows] == [1, 2, 4, 5]  # line numbers; the blank line skipped
    assert rows[1][1]["_error"].startswith("malformed JSON at line 2")
    assert rows[2][1] == {"_error": "line 4: expected a JSON object, got list"}
    assert rows[3][1] == {"question": "B?"}


def test_jsonl_with_bom_parses_its_first_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "bom.jsonl", '\ufeff{"question": "A?", "answer": "a."}\n')
    assert _rows(path) == [(1, {"question": "A?", "answer": "a."})]


def test_json_array_items_are_numbered_and_non_objects_flagged(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.json", '[{"instruction": "A", "output": "a"}, "stray"]')
    assert _rows(path) == [
        (1, {"instruction": "A", "output": "a"}),
        (2, {"_error": "item 2: expected a JSON object, got str"}),
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('[{"a": 1},\n{"a": ', "malformed JSON at line 2"),
        ('{"a": 1}', "expected one JSON array of objects, got dict"),
    ],
)
def test_unreadable_json_file_names_file_and_problem(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = _write(tmp_path, "broken.json", content)
    with pytest.raises(DataError) as info:
        _rows(path)
    assert "broken.json" in info.value.message and expected in info.value.message


# --- Parquet ---------------------------------------------------------------------------------


def test_parquet_rows_come_back_in_order_with_nulls(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "export.parquet"
    table = pa.table({"question": ["A?", "B?", "Ц?"], "answer": ["a.", None, "ц."]})
    pq.write_table(table, path, row_group_size=2)  # two row groups: numbering must run on
    assert _rows(path) == [
        (1, {"question": "A?", "answer": "a."}),
        (2, {"question": "B?", "answer": None}),
        (3, {"question": "Ц?", "answer": "ц."}),
    ]


def test_parquet_under_another_extension_reads_with_explicit_format(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "export.bin"
    pq.write_table(pa.table({"question": ["A?"], "answer": ["a."]}), path)
    assert _rows(path, "parquet") == [(1, {"question": "A?", "answer": "a."})]


def test_file_that_is_not_parquet_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "fake.parquet", "question,answer\nA?,a.\n")
    with pytest.raises(DataError) as info:
        _rows(path)
    assert "fake.parquet" in info.value.message and "not a readable Parquet file" in (
        info.value.message
    )


# --- formats and encodings -------------------------------------------------------------------


def test_unsupported_extension_lists_the_supported_ones(tmp_path: Path) -> None:
    path = _write(tmp_path, "export.xlsx", b"PK\x03\x04")
    with pytest.raises(DataError) as info:
        _rows(path)
    message = info.value.message
    assert "export.xlsx" in message and "'.xlsx'" in message
    assert "'.csv'" in message and "'.parquet'" in message  # what to use instead


def test_unknown_explicit_format_names_the_valid_ones(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", "question,answer\n")
    with pytest.raises(DataError) as info:
        _rows(path, "xml")
    assert "'xml'" in info.value.message and "'jsonl'" in info.value.message


def test_non_utf8_names_file_offset_and_the_encoding_setting(tmp_path: Path) -> None:
    content = "question,answer\nCafé?,Oui.\n".encode("cp1252")
    path = _write(tmp_path, "latin.csv", content)
    with pytest.raises(DataError) as info:
        _rows(path)
    message = info.value.message
    assert "latin.csv" in message
    assert f"offset {content.index('é'.encode('cp1252'))})" in message
    assert "prepare.sources.latin.csv.encoding" in message  # what to do, for this very file


def test_non_utf8_reads_with_the_given_encoding(tmp_path: Path) -> None:
    content = "question,answer\nCafé – 5€?,Oui.\n".encode("cp1252")
    path = _write(tmp_path, "latin.csv", content)
    assert _rows(path, encoding="cp1252") == [(1, {"question": "Café – 5€?", "answer": "Oui."})]


def test_invalid_byte_across_a_chunk_boundary_names_its_own_offset(tmp_path: Path) -> None:
    # the lead byte of a two-byte character is the last byte of one chunk; the bad continuation
    # byte starts the next: the offset must point at the lead byte, as for any other position
    content = b"question,answer\n" + b"a" * (_CHUNK - 17) + b"\xc3\x28,x\n"
    bad = content.index(b"\xc3")
    assert bad == _CHUNK - 1
    path = _write(tmp_path, "big.csv", content)
    with pytest.raises(DataError) as info:
        _rows(path)
    assert f"offset {bad})" in info.value.message


def test_truncated_last_character_names_where_it_starts_and_what_to_do(tmp_path: Path) -> None:
    content = b"question,answer\nq,caf\xc3"  # the file was cut inside the two bytes of 'é'
    path = _write(tmp_path, "cut.csv", content)
    with pytest.raises(DataError) as info:
        _rows(path)
    message = info.value.message
    assert "cut.csv" in message
    assert f"offset {len(content) - 1})" in message
    assert "encoding" in message  # what to do, as for any other non-UTF-8 byte
