"""Validate stage: a Great Expectations suite for Q/A data, generated from params.yaml thresholds.

A failed critical expectation stops the pipeline with each failing check named; warnings are
reported and let it go on.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from tuneline import pii
from tuneline.errors import GateFailed
from tuneline.expectations import (
    CheckOutcome,
    ExpectationSpec,
    ValidationSummary,
    import_gx_in_background,
    run_expectations,
)
from tuneline.params import ValidateParams
from tuneline.prepare import read_jsonl

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

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


def _counted(outcome: CheckOutcome) -> str:
    if not outcome.unexpected_count:
        return outcome.observed
    lines = ", ".join(str(row) for row in outcome.example_rows)
    where = f"; first at lines {lines}" if lines else ""
    return f"{outcome.unexpected_count} rows, {outcome.observed}{where}"


def validate_records(prepared: Path, params: ValidateParams, report_dir: Path) -> ValidationSummary:
    """Run the suite on prepared records; GateFailed names each failed critical check."""
    gx_ready = import_gx_in_background()
    table = _read_prepared_with_arrow(prepared)  # pyarrow, GIL released: overlaps the import
    candidates = None if table is None else _pii_candidates(table)  # RE2 scans, likewise
    gx_ready.result()  # what follows runs Python: sharing the GIL with the import slows both
    frame = _frame(prepared, table)
    if table is None:
        frame["has_personal_data"] = [
            pii.has_pii(q) or pii.has_pii(a)
            for q, a in zip(frame["question"], frame["answer"], strict=True)
        ]
    else:  # has_pii only where the vectorised superset test says a hit is possible
        frame["has_personal_data"] = _personal_data_flags(table, candidates)
    summary = run_expectations(frame, build_specs(params), report_dir)
    for outcome in summary.failed_warning:
        log.warning(
            "validate: warning %s failed (%s): %s", outcome.name, outcome.observed, outcome.reason
        )
    if not summary.success:
        failed = "; ".join(f"{o.name} ({_counted(o)}): {o.reason}" for o in summary.failed_critical)
        raise GateFailed(
            f"data validation failed: {failed}. Report: {summary.report_html}; "
            f"lines are those of {prepared}; rows removed before validation are counted by "
            "reason in reports/prepare.json"
        )
    return summary


_COLUMNS = ["id", "question", "answer", "category"]


def _frame(path: Path, table: pa.Table | None) -> pd.DataFrame:
    """The frame GX checks: `table` as pandas ArrowDtype columns (no Python string per value;
    GX's null tests and row filters and our length checks then run as pyarrow kernels), or
    the file read by `read_jsonl` without one."""
    import pandas as pd

    if table is None:
        frame = pd.DataFrame(read_jsonl(path), columns=_COLUMNS)
    else:
        frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    frame.index = pd.RangeIndex(1, len(frame) + 1)  # a check's example rows: lines of the file
    return frame


def _read_prepared_with_arrow(path: Path) -> pa.Table | None:
    """pyarrow's multi-threaded JSON reader, on files where it provably agrees with
    `json.loads` per line: one object per line (no blank line, no carriage return, no raw
    control character, no byte-order mark) and the four columns present as strings in every
    record (pyarrow refuses duplicate keys, other types and bad escapes, so those go to
    Python too, which gives its own messages)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.json as pj

    if not path.is_file():
        return None
    with pa.memory_map(str(path)) as mapped:  # the page cache's own pages: no copy to fault in
        data = mapped.read_buffer()  # keeps the mapping alive after the file is closed
    raw = np.frombuffer(data, dtype=np.uint8)
    if not len(raw) or raw[:3].tobytes() == b"\xef\xbb\xbf":
        return None
    control_bytes, line_breaks = _control_bytes(raw)
    lines = line_breaks + int(raw[-1] != _LINE_BREAK)
    if control_bytes != line_breaks:
        return None  # a carriage return, tab or other control byte
    schema = pa.schema([(name, pa.large_string()) for name in _COLUMNS])
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    try:
        table = pj.read_json(
            pa.BufferReader(data),
            read_options=pj.ReadOptions(block_size=_JSON_BLOCK_BYTES),
            parse_options=options,
        )
    except pa.ArrowInvalid:
        return None
    if table.num_rows != lines or any(column.null_count for column in table.columns):
        return None  # a blank line, or a record without one of the columns
    return table


_LINE_BREAK = 0x0A
# JSON bytes parsed per block (so per chunk of each column): larger than pyarrow's 1 MB default,
# fewer chunks for the scans and GX that follow.
_JSON_BLOCK_BYTES = 16 << 20
_SCAN_BYTES = 1 << 22  # bytes compared at a time: a small temporary stays in the CPU cache


def _control_bytes(raw: np.ndarray) -> tuple[int, int]:
    """How many bytes of `raw` (uint8) are below 0x20, line breaks included, and how many are
    line breaks (numpy counts several times faster than `bytes.count`)."""
    import numpy as np

    control_bytes = line_breaks = 0
    for start in range(0, len(raw), _SCAN_BYTES):
        block = raw[start : start + _SCAN_BYTES]
        control_bytes += int(np.count_nonzero(block < 0x20))
        line_breaks += int(np.count_nonzero(block == _LINE_BREAK))
    return control_bytes, line_breaks


def _pii_candidates(table: pa.Table) -> np.ndarray:
    """Positions of the records whose question or answer could hold personal data (the two
    RE2 scans run at once: pyarrow releases the GIL)."""
    import numpy as np

    from tuneline.prepare_columnar import concurrently

    in_question, in_answer = concurrently(
        lambda: pii.candidate_mask(table.column("question")),
        lambda: pii.candidate_mask(table.column("answer")),
    )
    return np.flatnonzero(in_question | in_answer)


def _personal_data_flags(table: pa.Table, candidates: np.ndarray | None = None) -> np.ndarray:
    """has_pii(question) or has_pii(answer) per record; Python runs only on `candidates`
    (`_pii_candidates(table)` when not given)."""
    import numpy as np

    from tuneline.prepare_columnar import rows_of

    flags = np.zeros(table.num_rows, dtype=bool)
    maybe = _pii_candidates(table) if candidates is None else candidates
    if len(maybe):
        questions = rows_of(table.column("question"), maybe).to_pylist()
        answers = rows_of(table.column("answer"), maybe).to_pylist()
        flags[maybe] = [
            pii.has_pii(q) or pii.has_pii(a) for q, a in zip(questions, answers, strict=True)
        ]
    return flags
