"""The validate stage on small prepared files: the pyarrow reader and the gate's messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tuneline import validate
from tuneline.errors import GateFailed
from tuneline.params import ValidateParams
from tuneline.validate import _control_bytes, _read_prepared_with_arrow, validate_records

PARAMS = ValidateParams(
    min_rows=3,
    question_chars=(5, 1000),
    answer_chars=(2, 20),
    allowed_categories=(),
    pii="critical",
)


def _write_prepared(path: Path, answers: list[str], tail: str = "\n") -> None:
    records = [
        {"id": f"{i:016x}", "question": f"Question number {i}?", "answer": answer, "category": ""}
        for i, answer in enumerate(answers)
    ]
    lines = [json.dumps(record, ensure_ascii=False) for record in records]
    path.write_text("\n".join(lines) + tail, encoding="utf-8")


def test_a_too_long_answer_fails_answer_length_with_its_count_and_row(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    # 20 code points pass however many bytes they take; 21 do not
    _write_prepared(path, ["Fine.", "😀" * 20, "x" * 21, "Also fine.", "é" * 25])
    assert _read_prepared_with_arrow(path) is not None  # the fast path is the one tested
    with pytest.raises(GateFailed) as caught:
        validate_records(path, PARAMS, tmp_path / "report")
    assert (
        "answer_length (2 rows, 2 of 5 values unexpected; lengths 21, 25; first at lines 3, 5)"
        in str(caught.value)
    )
    report = json.loads((tmp_path / "report" / "qa_data.json").read_text(encoding="utf-8"))
    (outcome,) = [o for o in report["outcomes"] if o["name"] == "answer_length"]
    assert outcome["unexpected_count"] == 2 and outcome["example_rows"] == [3, 5]
    assert report["failed_critical"] == ["answer_length"]


def test_the_same_file_passes_within_the_limits(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    _write_prepared(path, ["Fine.", "😀" * 20, "Also fine."], tail="")  # no final line break
    assert _read_prepared_with_arrow(path) is not None
    summary = validate_records(path, PARAMS, tmp_path / "report")
    assert summary.success and summary.rows == 3


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf" + b'{"id": "a"}\n'])
def test_reader_leaves_empty_and_bom_files_to_python(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_bytes(content)
    assert _read_prepared_with_arrow(path) is None


def test_control_bytes_are_counted_across_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "_SCAN_BYTES", 7)  # many blocks, a line break on an edge
    data = b'{"a": 1}\n{"b": "x\ty"}\r\n\n\x00end'
    raw = np.frombuffer(data, dtype=np.uint8)
    below_space = sum(byte < 0x20 for byte in data)
    assert _control_bytes(raw) == (below_space, data.count(b"\n"))
