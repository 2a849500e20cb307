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
import hashlib
import unicodedata
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from json.encoder import encode_basestring  # what json.dumps(str, ensure_ascii=False) calls
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
_ID_BYTES = 8  # prepare.record_id keeps the first 16 hex digits of the SHA-256
_WRITE_ROWS = 65_536  # JSONL lines built (about 25 MB) and written at a time


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
    ids: pa.Array  # prepare.record_id of each kept question
    question: pa.ChunkedArray  # normalised (and redacted) text of the kept rows
    answer: pa.ChunkedArray
    category: pa.ChunkedArray
    json_question: pa.ChunkedArray  # the same, JSON-escaped (without the quotes)
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
        if not pc.any(empty).as_py():
            return True  # usually after the first column: an id is never empty
    return False


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
    """`texts` with `change` applied where `mask` is True (a pyarrow or numpy bool array).
    Chunk by chunk: a chunk without a masked row is kept as it is, uncopied."""
    import numpy as np
    import pyarrow as pa

    if isinstance(mask, pa.Array | pa.ChunkedArray):
        mask = mask.to_numpy(zero_copy_only=False)
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return texts
    chunks, start = [], 0
    for chunk in texts.chunks:
        rows = np.flatnonzero(mask[start : start + len(chunk)])
        start += len(chunk)
        if len(rows):
            chunk = _spliced(chunk, rows, [change(text) for text in chunk.take(rows).to_pylist()])
        chunks.append(chunk)
    return pa.chunked_array(chunks, pa.large_string())


def _spliced(texts: pa.Array, rows: np.ndarray, values: list[str]) -> pa.Array:
    """`texts` (a large_string array) with the texts at ascending positions `rows` replaced by
    `values`. The new text buffer is joined from runs of the old one and the new values, a
    few times faster than pyarrow's replace_with_mask, which copies every text one by one."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if texts.null_count:  # never here (no column holds nulls); the general kernel handles them
        mask = np.zeros(len(texts), dtype=bool)
        mask[rows] = True
        return pc.replace_with_mask(texts, pa.array(mask), pa.array(values, pa.large_string()))
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int64)[
        texts.offset : texts.offset + len(texts) + 1
    ]
    data = memoryview(texts.buffers()[2] or b"")
    encoded = [value.encode("utf-8") for value in values]
    lengths = np.diff(offsets)
    lengths[rows] = [len(value) for value in encoded]
    new_offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    pieces: list[bytes | memoryview] = []
    position = int(offsets[0])
    for start, end, value in zip(
        offsets[rows].tolist(), offsets[rows + 1].tolist(), encoded, strict=True
    ):
        pieces += (data[position:start], value)
        position = end
    pieces.append(data[position : int(offsets[-1])])
    return pa.LargeStringArray.from_buffers(
        len(texts), pa.py_buffer(new_offsets), pa.py_buffer(b"".join(pieces))
    )


def _lengths(texts: pa.ChunkedArray) -> np.ndarray:
    """Characters per text (code points, as Python's len counts them)."""
    import pyarrow.compute as pc

    return pc.utf8_length(texts).to_numpy()


def _where_python_says(texts: list[pa.ChunkedArray], rows: np.ndarray, test: Callable) -> Any:
    """Bool array over all rows: `test(*values)` on `rows` (ascending), False elsewhere."""
    import numpy as np

    result = np.zeros(len(texts[0]), dtype=bool)
    if len(rows):
        values = [rows_of(t, rows).to_pylist() for t in texts]
        result[rows] = [bool(test(*row)) for row in zip(*values, strict=True)]
    return result


def rows_of(texts: pa.ChunkedArray, rows: np.ndarray) -> pa.ChunkedArray:
    """`texts` at ascending positions `rows`, by a filter: a take on a chunked array first
    copies every chunk into one, which costs more than the rows themselves."""
    import numpy as np
    import pyarrow as pa

    wanted = np.zeros(len(texts), dtype=bool)
    wanted[rows] = True
    return texts.filter(pa.array(wanted))


def clean_file(
    source: CsvSource,
    params: PrepareParams,
    fits_context: Callable[[str, str], bool] | None,
) -> FileResult:
    """Pass 1 of `_RowCleaner` on a whole file: the first failing check gives each row's reason.

    Python hashes the questions into record ids on a second thread meanwhile: the checks are
    mostly pyarrow kernels, which release the GIL, so the two share both cores."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

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
    with ThreadPoolExecutor(max_workers=1) as pool:
        hashing = pool.submit(record_ids, question)
        checked = _check_rows(name, question, answer, params, fits_context)
        question, answer = checked.question, checked.answer
        escaped = [json_escaped(texts) for texts in (question, answer, category)]
        ids = hashing.result()
    if len(checked.redacted_rows):  # their question may have changed, and with it the id
        new_ids = record_ids(rows_of(question, checked.redacted_rows))
        ids = _spliced(ids, checked.redacted_rows, new_ids.to_pylist())
    alive = checked.alive
    quarantined = [
        {"source": name, "row": int(i) + 1, "reason": checked.reason[i], "fields": fields}
        for i, fields in zip(
            np.flatnonzero(~alive), table.filter(pa.array(~alive)).to_pylist(), strict=True
        )
    ]
    kept = np.flatnonzero(alive)
    columns = [question, answer, category, *escaped]
    if len(kept) < n:
        ids = ids.filter(pa.array(alive))
        columns = [rows_of(texts, kept) for texts in columns]
    question, answer, category, json_question, json_answer, json_category = columns
    return FileResult(
        table=table,
        quarantined=quarantined,
        redacted=checked.redacted,
        kept=kept,
        ids=ids,
        question=question,
        answer=answer,
        category=category,
        json_question=json_question,
        json_answer=json_answer,
        json_category=json_category,
    )


@dataclass(frozen=True)
class _CheckedRows:
    """The checks of pass 1 on one file: who failed why, and the texts after redaction."""

    alive: np.ndarray  # bool per row: passed every check
    reason: np.ndarray  # per row: the first check it failed ("" if none)
    question: pa.ChunkedArray
    answer: pa.ChunkedArray
    redacted_rows: np.ndarray  # positions whose texts went through redaction
    redacted: Counter[str]


def _check_rows(
    name: str,
    question: pa.ChunkedArray,
    answer: pa.ChunkedArray,
    params: PrepareParams,
    fits_context: Callable[[str, str], bool] | None,
) -> _CheckedRows:
    """`_RowCleaner._clean` on whole columns, in its order of checks."""
    import numpy as np

    n = len(question)
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
    redacted_rows = np.flatnonzero(found if params.pii_policy == "redact" else found[:0])
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
    return _CheckedRows(alive, reason, question, answer, redacted_rows, redacted)


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


def json_escaped(texts: pa.ChunkedArray) -> pa.ChunkedArray:
    """Each text as json.dumps(text, ensure_ascii=False) writes it, less the quotes around it:
    the encoder runs only on text holding a character it escapes (quote, backslash, control)."""
    import pyarrow.compute as pc

    return _patched(texts, pc.match_substring_regex(texts, _JSON_ESCAPED), _json_body)


def _json_body(text: str) -> str:
    """The JSON string of `text` without its quotes ('a"b' -> 'a\\"b')."""
    return encode_basestring(text)[1:-1]


def record_ids(questions: pa.ChunkedArray) -> pa.Array:
    """`prepare.record_id` of every question, as a string array: the same question key and
    SHA-256, with the hex digits written by numpy rather than by one Python string per row."""
    import numpy as np
    import pyarrow as pa

    from tuneline.prepare import question_key

    sha256 = hashlib.sha256
    digests = b"".join(
        [
            sha256(question_key(q).encode("utf-8")).digest()[:_ID_BYTES]
            for q in questions.to_pylist()
        ]
    )
    octets = np.frombuffer(digests, dtype=np.uint8)
    hex_digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    text = np.empty(2 * len(octets), dtype=np.uint8)  # two hex digits per byte, high nibble first
    text[0::2], text[1::2] = hex_digits[octets >> 4], hex_digits[octets & 0x0F]
    width = 2 * _ID_BYTES
    offsets = np.arange(0, width * len(questions) + 1, width, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(
        len(questions), pa.py_buffer(offsets), pa.py_buffer(text)
    )


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
    _, (distinct_answers, top_answer_count) = concurrently(
        lambda: write_records(out_path, sources, results, kept),
        lambda: _answer_counts(_take(results, "answer", kept)),
    )
    return ColumnsOutcome(
        rows_read=sum(source.table.num_rows for source in sources),
        rows_kept=len(kept),
        quarantined=quarantined,
        redacted=redacted,
        conflicts=conflicts,
        shapes=shapes,
        distinct_answers=distinct_answers,
        top_answer_count=top_answer_count,
    )


def _answer_counts(answers: pa.ChunkedArray) -> tuple[int, int]:
    """How many distinct answers, and how often the most repeated one occurs."""
    import pyarrow.compute as pc

    if not len(answers):
        return 0, 0
    counts = answers.value_counts().field("counts")
    return len(counts), int(pc.max(counts).as_py())


def _resolve_duplicates(
    sources: list[CsvSource], results: list[FileResult], params: PrepareParams, quarantined: list
) -> tuple[np.ndarray, int]:
    """Pass 2: `prepare._resolve_groups` on the candidates whose id occurs more than once (a
    question seen once is kept as it is, which is what that function does with it); returns
    the kept candidates' positions in candidate order (= `seq`) and the conflict count."""
    import numpy as np
    import pyarrow.compute as pc

    from tuneline.prepare import QARecord, _Candidate, _resolve_groups

    ids = _all_ids(results)
    counts = pc.value_counts(ids)
    seen_again = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    repeated = np.flatnonzero(pc.is_in(ids, seen_again).to_numpy(zero_copy_only=False))
    starts = np.cumsum([0] + [len(result.ids) for result in results])
    candidates = []
    for seq in repeated.tolist():
        file = int(np.searchsorted(starts, seq, side="right")) - 1
        result, i = results[file], seq - int(starts[file])
        record = QARecord(
            result.ids[i].as_py(),
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


def _all_ids(results: list[FileResult]) -> pa.ChunkedArray:
    """The record ids of all files' candidates, in candidate order."""
    import pyarrow as pa

    return pa.chunked_array([result.ids for result in results], pa.large_string())


def _take(results: list[FileResult], column: str, rows: np.ndarray) -> pa.ChunkedArray:
    """Column `column` of all files' candidates, at ascending candidate positions `rows`."""
    import pyarrow as pa

    chunks = [chunk for result in results for chunk in getattr(result, column).chunks]
    combined = pa.chunked_array(chunks, pa.large_string())
    return combined if _is_everything(rows, len(combined)) else rows_of(combined, rows)


def _is_everything(rows: np.ndarray, count: int) -> bool:
    """Whether sorted, distinct positions `rows` are all of 0..count-1 (a take would copy)."""
    return len(rows) == count


def write_records(
    path: Path, sources: list[CsvSource], results: list[FileResult], rows: np.ndarray
) -> None:
    """The kept records as JSONL, byte for byte what json.dumps(QARecord._asdict()) writes."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    file_of = np.repeat(np.arange(len(results)), [len(r.ids) for r in results])[rows]
    names = pa.array([encode_basestring(s.path.name) for s in sources], pa.large_string())
    record_numbers = np.concatenate([r.kept + 1 for r in results])[rows]
    ids = _all_ids(results)
    pieces = [
        _lit('{"id": "'),
        ids if _is_everything(rows, len(ids)) else rows_of(ids, rows),
        _lit('", "question": "'),
        _take(results, "json_question", rows),
        _lit('", "answer": "'),
        _take(results, "json_answer", rows),
        _lit('", "category": "'),
        _take(results, "json_category", rows),
        _lit('", "source": '),
        names.take(file_of),
        _lit(', "row": '),
        pc.cast(pa.array(record_numbers), pa.large_string()),
        _lit("}\n"),
        _lit(""),  # the separator binary_join_element_wise puts between the pieces
    ]

    def lines(start: int) -> list[pa.Array]:
        """The JSONL lines of rows start .. start + _WRITE_ROWS, as arrays of text."""
        joined = pc.binary_join_element_wise(
            *(p if isinstance(p, pa.Scalar) else p.slice(start, _WRITE_ROWS) for p in pieces)
        )
        return joined.chunks if isinstance(joined, pa.ChunkedArray) else [joined]

    path.parent.mkdir(parents=True, exist_ok=True)
    # Two threads join slices of rows (the kernel releases the GIL) while this one writes.
    with ThreadPoolExecutor(max_workers=2) as pool, path.open("wb") as handle:
        for chunks in pool.map(lines, range(0, len(rows), _WRITE_ROWS)):
            for chunk in chunks:
                handle.write(_utf8_bytes(chunk))


def _utf8_bytes(texts: pa.Array) -> memoryview:
    """All of a large_string array's text, concatenated, as UTF-8: its data buffer, uncopied."""
    import numpy as np

    if len(texts) == 0:
        return memoryview(b"")
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int64)[
        texts.offset : texts.offset + len(texts) + 1
    ]
    return memoryview(texts.buffers()[2])[offsets[0] : offsets[-1]]
