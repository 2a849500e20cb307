"""The prepare stage on whole columns: the same decisions as `prepare._RowCleaner`, made with
pyarrow compute kernels (C, multi-threaded CSV parsing) so a million-row export takes seconds.

Python still makes every decision the row path makes, with the row path's own functions, but only
on the rows a cheap vectorised test says need it: text that is not already normal (printable
ASCII, single spaces, trimmed), text that could hold personal data (`pii.candidate_mask`), short
answers that could be artefacts, questions seen more than once. Every other row provably gets
the row path's answer, so the outputs are byte-identical (tests/unit/test_prepare_columnar.py
runs both paths on random rows and compares).

It takes a run only when every source qualifies: a UTF-8 CSV whose header has unique names and
maps to plain columns, that pyarrow parses with every record the header's width and no record
left blank (where the csv module and pyarrow provably agree). Anything else (other formats,
encodings, malformed or blank records, dotted or Alpaca mappings) goes the row path, which
also gives the precise error messages.
"""

from __future__ import annotations

import csv
import functools
import json
import unicodedata
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneline import pii
from tuneline.errors import DataError
from tuneline.mapping import FieldMap, choose_field_map, is_artefact
from tuneline.params import PrepareParams
from tuneline.sources import detect_format

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

# Scripts whose characters are mostly safe in normal text (see _safe_characters): Latin, Greek,
# Cyrillic, punctuation and symbols, CJK, Hangul syllables.
_SAFE_BLOCKS = (
    (0x00A0, 0x052F),
    (0x1E00, 0x1FFF),
    (0x2010, 0x2BFF),
    (0x3001, 0x30FF),
    (0x4E00, 0x9FFF),
    (0xAC00, 0xD7A3),
)
_ARTEFACT_MAX_CHARS = 24  # mapping.is_artefact never matches longer text
# What json.dumps(ensure_ascii=False) escapes; text without any of it is written as it is.
_JSON_ESCAPED = r'[\x00-\x1f"\\]'
_WRITE_CHUNK = 65_536  # JSONL lines joined and written at a time


@dataclass(frozen=True)
class CsvSource:
    """One source file read whole, with the mapping its first record chose."""

    path: Path
    table: pa.Table  # every column a string
    fmap: FieldMap


@dataclass
class FileResult:
    """Pass 1 on one file: its quarantined rows (in row order) and the rows that passed."""

    table: pa.Table
    quarantined: list[dict]
    redacted: Counter[str]
    kept: np.ndarray  # 0-based indices into `table` of the rows that passed
    ids: list[str]
    question: pa.ChunkedArray  # normalised (and redacted) text of the kept rows
    answer: pa.ChunkedArray
    category: pa.ChunkedArray
    json_question: pa.ChunkedArray  # the same, as JSON strings (quotes included)
    json_answer: pa.ChunkedArray
    json_category: pa.ChunkedArray


def read_sources(
    files: list[Path], params: PrepareParams, formats: dict[str, str]
) -> list[CsvSource] | None:
    """Every file as a CsvSource, or None when any one of them needs the row path."""
    sources = []
    for path in files:
        source = _read_csv_source(path, params, formats.get(path.name, "auto"))
        if source is None:
            return None
        sources.append(source)
    return sources


def _read_csv_source(path: Path, params: PrepareParams, fmt: str) -> CsvSource | None:
    """`path` parsed by pyarrow, when that provably equals what `sources.read_rows` yields."""
    override = params.sources.get(path.name)
    if override is not None and override.format != "auto":
        fmt = override.format
    if override is not None and override.encoding is not None:
        return None
    try:
        if (detect_format(path) if fmt == "auto" else fmt) != "csv":
            return None
    except DataError:
        return None
    header = _python_header(path)
    if header is None or len(header) < 2 or len(set(header)) != len(header):
        return None
    table = _arrow_csv(path, header)
    if table is None or table.num_rows == 0 or table.column_names != header:
        return None
    if not _every_record_has_text(table) or not _fields_within_csv_limit(table):
        return None
    first = {name: table.column(name)[0].as_py() for name in header}
    try:
        fmap = choose_field_map(path.name, first, params.columns, override)
    except DataError:
        return None  # the row path raises it, at the same point of the run
    mapped = [fmap.question, fmap.answer] + ([fmap.category] if fmap.category else [])
    if fmap.shape == "chat" or fmap.context or any(name not in header for name in mapped):
        return None
    return CsvSource(path, table, fmap)


def _python_header(path: Path) -> list[str] | None:
    """The header as the csv module reads it (None if the file is not UTF-8 or has none)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return next(csv.reader(handle), None)
    except (UnicodeDecodeError, csv.Error):
        return None


def _arrow_csv(path: Path, header: list[str]) -> pa.Table | None:
    """The CSV as a table of strings; None where pyarrow refuses it (bad UTF-8, wrong width)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    try:
        return pcsv.read_csv(
            path,
            parse_options=pcsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
            convert_options=pcsv.ConvertOptions(
                column_types={name: pa.large_string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError):
        return None


def _every_record_has_text(table: pa.Table) -> bool:
    """False when some record is all empty: pyarrow reads a blank line so, but the csv module
    skips it (while still counting it), so such files go the row path."""
    import pyarrow.compute as pc

    empty = None
    for column in table.columns:
        is_empty = pc.equal(pc.binary_length(column), 0)
        empty = is_empty if empty is None else pc.and_(empty, is_empty)
    return not pc.any(empty).as_py()


def _fields_within_csv_limit(table: pa.Table) -> bool:
    """The csv module raises on a field over csv.field_size_limit(); leave that to it."""
    import pyarrow.compute as pc

    limit = csv.field_size_limit()
    return all((pc.max(pc.binary_length(c)).as_py() or 0) <= limit for c in table.columns)


def concurrently(*calls: Callable[[], Any]) -> list[Any]:
    """Run calls on two threads and return their results in order. pyarrow's kernels release
    the GIL, so two columns are scanned at once, on both cores, while Python works."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]


@functools.cache
def already_normal_re2() -> str:
    """RE2 for text `normalize_text` returns unchanged: lines of safe characters, each trimmed
    and single-spaced, joined by one line break or one blank line, none at either end."""
    char = "[!-~" + _safe_characters() + "]"
    line = f"{char}+(?: {char}+)*"
    return rf"\A(?:{line}(?:\n\n?{line})*)?\z"


def _safe_characters() -> str:
    """Non-ASCII characters that `normalize_text` keeps whatever surrounds them, as an RE2
    class body: not whitespace, not invisible, already NFC and a starter (canonical combining
    class 0) that never composes with the character before it (no such one in _SAFE_BLOCKS)."""
    from tuneline.prepare import _INVISIBLE

    ranges: list[list[int]] = []
    for first, last in _SAFE_BLOCKS:
        for code in range(first, last + 1):
            char = chr(code)
            if (
                char.isspace()
                or _INVISIBLE.match(char)
                or unicodedata.combining(char)
                or not unicodedata.is_normalized("NFC", char)
            ):
                continue
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return "".join(rf"\x{{{a:X}}}-\x{{{b:X}}}" for a, b in ranges)


def normalized(texts: pa.ChunkedArray) -> pa.ChunkedArray:
    """`prepare.normalize_text` of every text; Python runs only on text not already normal."""
    import pyarrow.compute as pc

    from tuneline.prepare import normalize_text

    needs = pc.invert(pc.match_substring_regex(texts, already_normal_re2()))
    return _patched(texts, needs, normalize_text)


def _patched(texts: pa.ChunkedArray, mask: Any, change: Callable[[str], str]) -> pa.ChunkedArray:
    """`texts` with `change` applied where `mask` is True (a pyarrow or numpy bool array)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    mask = pa.array(mask, pa.bool_())
    if not pc.any(mask).as_py():
        return texts
    changed = [change(text) for text in texts.filter(mask).to_pylist()]
    replaced = pc.replace_with_mask(
        texts.combine_chunks(), mask, pa.array(changed, pa.large_string())
    )
    return pa.chunked_array([replaced])


def _lengths(texts: pa.ChunkedArray) -> np.ndarray:
    """Characters per text (code points, as Python's len counts them)."""
    import pyarrow.compute as pc

    return pc.utf8_length(texts).to_numpy()


def _where_python_says(texts: list[pa.ChunkedArray], rows: np.ndarray, test: Callable) -> Any:
    """Bool array over all rows: `test(*values)` on `rows`, False elsewhere."""
    import numpy as np

    result = np.zeros(len(texts[0]), dtype=bool)
    if len(rows):
        values = [t.take(rows).to_pylist() for t in texts]
        result[rows] = [bool(test(*row)) for row in zip(*values, strict=True)]
    return result


def clean_file(
    source: CsvSource,
    params: PrepareParams,
    fits_context: Callable[[str, str], bool] | None,
) -> FileResult:
    """Pass 1 of `_RowCleaner` on a whole file: the first failing check gives each row's reason."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from tuneline.prepare import record_id

    table, name = source.table, source.path.name
    n = table.num_rows
    already_normal_re2()  # built once, before the threads need it
    question, answer, category = concurrently(
        lambda: normalized(table.column(source.fmap.question)),
        lambda: normalized(table.column(source.fmap.answer)),
        lambda: (
            normalized(table.column(source.fmap.category))
            if source.fmap.category
            else pa.chunked_array([pc.fill_null(pa.nulls(n, pa.large_string()), "")])
        ),
    )
    q_len, a_len = _lengths(question), _lengths(answer)
    reason = np.full(n, "", dtype=object)

    def fail(mask: np.ndarray, why: str) -> np.ndarray:
        """Give `why` to the rows of `mask` still without a reason; return those still alive."""
        reason[mask & (reason == "")] = why
        return reason == ""

    alive = fail(q_len == 0, "empty_question")
    alive = fail(alive & (a_len == 0), "empty_answer")
    short = np.flatnonzero(alive & (a_len <= _ARTEFACT_MAX_CHARS))
    alive = fail(_where_python_says([answer], short, is_artefact), "artefact_answer")
    alive = fail(alive & (q_len > params.max_question_chars), "question_too_long")
    alive = fail(alive & (a_len > params.max_answer_chars), "answer_too_long")
    q_maybe, a_maybe = concurrently(
        lambda: pii.candidate_mask(question), lambda: pii.candidate_mask(answer)
    )
    maybe = alive & (q_maybe | a_maybe)
    found = _where_python_says(
        [question, answer], np.flatnonzero(maybe), lambda q, a: pii.has_pii(q) or pii.has_pii(a)
    )
    redacted: Counter[str] = Counter()
    if found.any():
        if params.pii_policy == "fail":
            first = int(np.flatnonzero(found)[0]) + 1
            raise DataError(
                f"{name} row {first}: personal data or a secret found and "
                "prepare.pii_policy is 'fail'; remove it at the source, or use redact | drop"
            )
        if params.pii_policy == "drop":
            alive = fail(found, "personal_data")
        else:
            question, answer = (_redacted(t, found, redacted) for t in (question, answer))
    if fits_context is not None:
        checked = np.flatnonzero(alive)
        fits = _where_python_says([question, answer], checked, fits_context)
        too_long = np.zeros(n, dtype=bool)
        too_long[checked] = ~fits[checked]
        alive = fail(too_long, "too_long_for_context")
    quarantined = [
        {"source": name, "row": int(i) + 1, "reason": reason[i], "fields": fields}
        for i, fields in zip(
            np.flatnonzero(~alive), table.take(np.flatnonzero(~alive)).to_pylist(), strict=True
        )
    ]
    kept = np.flatnonzero(alive)
    question, answer, category = (texts.take(kept) for texts in (question, answer, category))
    with ThreadPoolExecutor(max_workers=1) as pool:  # JSON-escape while Python hashes
        escaped = pool.submit(
            lambda: [json_strings(texts) for texts in (question, answer, category)]
        )
        ids = [record_id(q) for q in question.to_pylist()]
        json_question, json_answer, json_category = escaped.result()
    return FileResult(
        table=table,
        quarantined=quarantined,
        redacted=redacted,
        kept=kept,
        ids=ids,
        question=question,
        answer=answer,
        category=category,
        json_question=json_question,
        json_answer=json_answer,
        json_category=json_category,
    )


def _redacted(texts: pa.ChunkedArray, rows: np.ndarray, counts: Counter[str]) -> pa.ChunkedArray:
    """`texts` with personal data replaced on `rows`, counting what was replaced."""

    def redact(text: str) -> str:
        text, found = pii.redact_pii(text)
        counts.update(found)
        return text

    return _patched(texts, rows, redact)


def _lit(text: str) -> pa.Scalar:
    """A large_string scalar (pyarrow joins only strings of one width)."""
    import pyarrow as pa

    return pa.scalar(text, pa.large_string())


def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def json_strings(texts: pa.ChunkedArray) -> pa.ChunkedArray:
    """Each text as json.dumps(text, ensure_ascii=False) writes it, quotes included: the
    encoder itself runs only on text holding a character it escapes (quote, backslash, control)."""
    import pyarrow.compute as pc

    quoted = pc.binary_join_element_wise(_lit('"'), texts, _lit('"'), _lit(""))
    return _patched(quoted, pc.match_substring_regex(texts, _JSON_ESCAPED), _requoted)


def _requoted(quoted: str) -> str:
    """'"text"' -> the JSON string of text (json.dumps with ensure_ascii=False)."""
    return _json_string(quoted[1:-1])


@dataclass(frozen=True)
class ColumnsOutcome:
    """What prepare_records reports, from the columnar run."""

    rows_read: int
    rows_kept: int
    quarantined: list[dict]
    redacted: Counter[str]
    conflicts: int
    shapes: dict[str, str]
    distinct_answers: int
    top_answer_count: int


def prepare_columns(
    sources: list[CsvSource],
    params: PrepareParams,
    fits_context: Callable[[str, str], bool] | None,
    out_path: Path,
) -> ColumnsOutcome:
    """Both passes of the prepare stage on `sources` (oldest first); writes the kept records."""
    quarantined: list[dict] = []
    redacted: Counter[str] = Counter()
    shapes: dict[str, str] = {}
    results = []
    for source in sources:
        shapes[source.path.name] = source.fmap.shape
        result = clean_file(source, params, fits_context)
        quarantined += result.quarantined
        redacted.update(result.redacted)
        results.append(result)
    kept, conflicts = _resolve_duplicates(sources, results, params, quarantined)
    write_records(out_path, sources, results, kept)
    answers = _take(results, "answer", kept)
    top = answers.value_counts().field("counts") if len(answers) else None
    return ColumnsOutcome(
        rows_read=sum(source.table.num_rows for source in sources),
        rows_kept=len(kept),
        quarantined=quarantined,
        redacted=redacted,
        conflicts=conflicts,
        shapes=shapes,
        distinct_answers=len(top) if top is not None else 0,
        top_answer_count=max(top.to_numpy()) if top is not None else 0,
    )


def _resolve_duplicates(
    sources: list[CsvSource], results: list[FileResult], params: PrepareParams, quarantined: list
) -> tuple[np.ndarray, int]:
    """Pass 2: `prepare._resolve_groups` on the candidates whose id occurs more than once (a
    question seen once is kept as it is, which is what that function does with it); returns
    the kept candidates' positions in candidate order (= `seq`) and the conflict count."""
    import numpy as np

    from tuneline.prepare import QARecord, _Candidate, _resolve_groups

    ids = [record_id for result in results for record_id in result.ids]
    counts = Counter(ids)
    repeated = [seq for seq, record_id in enumerate(ids) if counts[record_id] > 1]
    starts = np.cumsum([0] + [len(result.ids) for result in results])
    candidates = []
    for seq in repeated:
        file = int(np.searchsorted(starts, seq, side="right")) - 1
        result, i = results[file], seq - int(starts[file])
        record = QARecord(
            result.ids[i],
            result.question[i].as_py(),
            result.answer[i].as_py(),
            result.category[i].as_py(),
            sources[file].path.name,
            int(result.kept[i]) + 1,
        )
        fields = result.table.slice(int(result.kept[i]), 1).to_pylist()[0]
        candidates.append(_Candidate(record, fields, seq))

    def quarantine(source: str, row: int, reason: str, fields: dict) -> None:
        quarantined.append({"source": source, "row": row, "reason": reason, "fields": fields})

    winners, conflicts = _resolve_groups(candidates, params, quarantine)
    keep = np.ones(len(ids), dtype=bool)
    keep[repeated] = False
    keep[[c.seq for c in winners]] = True
    return np.flatnonzero(keep), conflicts


def _take(results: list[FileResult], column: str, rows: np.ndarray) -> pa.ChunkedArray:
    """Column `column` of all files' candidates, at candidate positions `rows`."""
    import pyarrow as pa

    chunks = [chunk for result in results for chunk in getattr(result, column).chunks]
    combined = pa.chunked_array(chunks, pa.large_string())
    return combined.take(rows)


def write_records(
    path: Path, sources: list[CsvSource], results: list[FileResult], rows: np.ndarray
) -> None:
    """The kept records as JSONL, byte for byte what json.dumps(QARecord._asdict()) writes."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    file_of = np.repeat(np.arange(len(results)), [len(r.ids) for r in results])[rows]
    names = pa.array([_json_string(s.path.name) for s in sources], pa.large_string())
    record_numbers = np.concatenate([r.kept + 1 for r in results])[rows]
    ids = [record_id for result in results for record_id in result.ids]
    lines = pc.binary_join_element_wise(
        _lit('{"id": "'),
        pa.array([ids[i] for i in rows], pa.large_string()),
        _lit('", "question": '),
        _take(results, "json_question", rows),
        _lit(', "answer": '),
        _take(results, "json_answer", rows),
        _lit(', "category": '),
        _take(results, "json_category", rows),
        _lit(', "source": '),
        names.take(file_of),
        _lit(', "row": '),
        pc.cast(pa.array(record_numbers), pa.large_string()),
        _lit("}\n"),
        _lit(""),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for start in range(0, len(lines), _WRITE_CHUNK):
            handle.write("".join(lines.slice(start, _WRITE_CHUNK).to_pylist()))
