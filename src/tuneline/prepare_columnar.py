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
left blank (where the csv module and pyarrow provably agree), and, where a field holds a line
break, whose quoting is sound (no broken quote has swallowed rows). Anything else (other formats,
encodings, malformed or blank records, dotted or Alpaca mappings) goes the row path, which
also gives the precise error messages.
"""

from __future__ import annotations

import contextvars
import csv
import functools
import hashlib
import string
import unicodedata
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from json.encoder import encode_basestring  # what json.dumps(str, ensure_ascii=False) calls
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneline import atomic, pii
from tuneline import sources as source_files
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
# The bytes json.dumps(ensure_ascii=False) escapes in normalised text, and the letter after the
# backslash (every byte is itself but the line break).
_LINE_BREAK, _QUOTE, _BACKSLASH = 0x0A, 0x22, 0x5C
_ESCAPE_LETTER = bytes(range(256)).replace(b"\n", b"n")
_ID_BYTES = 8  # prepare.record_id keeps the first 16 hex digits of the SHA-256
_DIGEST_BYTES = hashlib.sha256().digest_size
# CSV bytes parsed per block, and so per chunk of every column: fewer, larger chunks than
# pyarrow's 1 MB default save per-chunk work in the kernels and loops that follow.
_CSV_BLOCK_BYTES = 16 << 20
_WRITE_ROWS = 65_536  # JSONL lines built (about 25 MB) and written at a time


@dataclass(frozen=True)
class CsvSource:
    """One source file read whole, with the mapping its first record chose."""

    path: Path
    table: pa.Table  # every column a string
    fmap: FieldMap


@dataclass
class FileResult:
    """Pass 1 on one file. The columns keep every row of the file (a filter would copy all of
    its text); `alive` says which rows passed."""

    table: pa.Table
    quarantined: list[dict]
    redacted: Counter[str]
    alive: np.ndarray  # bool per row: passed every check of pass 1
    ids: pa.Array  # prepare.record_id of each row's question
    keys: np.ndarray  # the same ids as uint64 (their first 8 digest bytes), for grouping
    question: pa.ChunkedArray  # normalised (and redacted) text of each row
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
    if _has_line_breaks(table) and not quotes_plainly_paired(path):
        if not source_files.csv_quoting_is_sound(path):
            return None  # a broken quote may have swallowed rows: the row path finds and reports
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
            read_options=pcsv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
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
    """The row path makes a record with a field over sources.CSV_FIELD_LIMIT characters an
    error; leave such files to it (bytes are at least as many as characters, so a file passing
    this has no such field)."""
    import pyarrow.compute as pc

    limit = source_files.CSV_FIELD_LIMIT
    return all((pc.max(pc.binary_length(c)).as_py() or 0) <= limit for c in table.columns)


def _has_line_breaks(table: pa.Table) -> bool:
    """Whether any field holds a line break: only such a record can span several lines, as a
    record that swallowed others because of a broken quote does."""
    import pyarrow.compute as pc

    return any(
        pc.any(pc.match_substring_regex(column, "[\r\n]")).as_py() for column in table.columns
    )


def quotes_plainly_paired(path: Path) -> bool:
    """True when every quote of the CSV opens a field or closes one as strict parsing wants, so
    `sources.csv_quoting_is_sound(path)` is true too, found by numpy over the raw bytes in a few
    milliseconds instead of a full csv parse. False means only "not proven": the exact scan runs.

    Quotes are taken in pairs: the 1st, 3rd, ... must open a field (after a delimiter, a line
    break, the start, or the quote just before it: an escaped `""`), the 2nd, 4th, ... must be
    followed by a delimiter, a line break, a quote or the end. A quote inside an unquoted field
    (legal, but it breaks the pairing) or a carriage return (whose rules differ) gives False.
    """
    import mmap

    import numpy as np

    with path.open("rb") as handle:
        if handle.seek(0, 2) == 0:
            return True
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            data = np.frombuffer(mapped, dtype=np.uint8)
            try:
                return _quote_pairs_ok(data, np)
            finally:
                del data  # the mmap cannot close while numpy still points into it


def _quote_pairs_ok(data: Any, np: Any) -> bool:
    """`quotes_plainly_paired` on the file's bytes (uint8 array)."""
    start = 3 if bytes(data[:3]) == b"\xef\xbb\xbf" else 0  # csv reads it with utf-8-sig
    quote, comma, newline = ord('"'), ord(","), ord("\n")
    positions = []
    for offset in range(start, len(data), _CSV_BLOCK_BYTES):  # bounded temporary memory
        block = data[offset : offset + _CSV_BLOCK_BYTES]
        if np.any(block == ord("\r")):
            return False
        positions.append(np.flatnonzero(block == quote) + offset)
    quotes = np.concatenate(positions) if positions else np.empty(0, dtype=np.int64)
    if len(quotes) % 2:
        return False  # the last quoted field never closes
    opens, closes = quotes[0::2], quotes[1::2]
    before = data[np.maximum(opens - 1, 0)]
    opens_ok = (opens == start) | (before == comma) | (before == newline) | (before == quote)
    after = data[np.minimum(closes + 1, len(data) - 1)]
    at_end = closes == len(data) - 1
    closes_ok = at_end | (after == comma) | (after == newline) | (after == quote)
    return bool(opens_ok.all() and closes_ok.all())


def concurrently(*calls: Callable[[], Any]) -> list[Any]:
    """Run calls on two threads and return their results in order. pyarrow's kernels release
    the GIL, so two columns are scanned at once, on both cores, while Python works.

    Each call runs in a copy of the caller's context, as asyncio tasks do, so context-scoped
    state reaches it (e.g. atomic.group(): the written file is renamed with the others)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(contextvars.copy_context().run, call) for call in calls]
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
    Chunk by chunk: a chunk where `change` changed no text is kept as it is, uncopied (the
    masks are supersets: a question is redacted where its answer holds the personal data)."""
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
            before = chunk.take(rows).to_pylist()
            after = [change(text) for text in before]
            changed = [i for i, text in enumerate(after) if text != before[i]]
            if changed:
                chunk = _spliced(chunk, rows[changed], [after[i] for i in changed])
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
    offsets = _offsets(texts)
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

    Python hashes the questions into record ids on a second thread meanwhile, from as soon as
    they are normalised: the RE2 scans release the GIL and share both cores with it; the
    Python and numpy steps take turns with it on the GIL."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    table, fmap, name = source.table, source.fmap, source.path.name
    already_normal_re2()  # built once, before the threads need it
    with ThreadPoolExecutor(max_workers=2) as pool:
        answering = pool.submit(normalized, table.column(fmap.answer))
        question = normalized(table.column(fmap.question))  # shorter: done first
        hashing = pool.submit(record_keys, question)  # Python, for seconds: start it early
        category = (
            normalized(table.column(fmap.category))
            if fmap.category
            else pa.chunked_array([pc.fill_null(pa.nulls(table.num_rows, pa.large_string()), "")])
        )
        json_category = json_escaped(category)
        checked = _check_rows(name, question, answering.result(), params, fits_context)
        question, answer = checked.question, checked.answer
        json_question, json_answer = concurrently(
            lambda: json_escaped(question), lambda: json_escaped(answer)
        )
        keys = hashing.result()
    if len(checked.redacted_rows):  # their question may have changed, and with it the key
        keys[checked.redacted_rows] = record_keys(rows_of(question, checked.redacted_rows))
    alive = checked.alive
    quarantined = [
        {"source": name, "row": int(i) + 1, "reason": checked.reason[i], "fields": fields}
        for i, fields in zip(
            np.flatnonzero(~alive), table.filter(pa.array(~alive)).to_pylist(), strict=True
        )
    ]
    return FileResult(
        table=table,
        quarantined=quarantined,
        redacted=checked.redacted,
        alive=alive,
        ids=hex_ids(keys),
        keys=keys,
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
    reasons = [""]  # a row's code indexes this; 0 = no check failed yet
    code = np.zeros(n, dtype=np.uint8)

    def fail(mask: np.ndarray, why: str) -> np.ndarray:
        """Give `why` to the rows of `mask` still without a reason; return those still alive."""
        reasons.append(why)
        code[mask & (code == 0)] = len(reasons) - 1
        return code == 0

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
    reason = np.array(reasons, dtype=object)[code]
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
    """Each text as json.dumps(text, ensure_ascii=False) writes it, less the quotes around it."""
    import pyarrow as pa

    return pa.chunked_array([_json_escaped(chunk) for chunk in texts.chunks], pa.large_string())


def _json_escaped(texts: pa.Array) -> pa.Array:
    """json_escaped on one large_string array, by numpy on its whole buffer: a backslash goes
    in before every quote, backslash and line break, and the line break becomes "n". Text
    holding another control character (rare: \\x01 from a broken export) is then escaped again
    by the encoder itself."""
    import numpy as np
    import pyarrow as pa

    if not len(texts):
        return texts
    offsets = _offsets(texts)
    starts = offsets - offsets[0]
    raw = np.frombuffer(texts.buffers()[2] or b"", dtype=np.uint8)[offsets[0] : offsets[-1]]
    line_break = raw == _LINE_BREAK
    other_control = np.flatnonzero((raw < 0x20) & ~line_break)
    escaped = np.flatnonzero(line_break | (raw == _QUOTE) | (raw == _BACKSLASH))
    result = texts
    if len(escaped):
        out = np.insert(raw, escaped, _BACKSLASH)
        after = escaped + np.arange(1, len(escaped) + 1)  # where each escaped byte went
        out[after] = np.frombuffer(_ESCAPE_LETTER, dtype=np.uint8)[out[after]]
        new_offsets = starts + np.searchsorted(escaped, starts)  # a byte more per escape before
        result = pa.LargeStringArray.from_buffers(
            len(texts), pa.py_buffer(new_offsets), pa.py_buffer(out)
        )
    if len(other_control):
        rows = np.unique(np.searchsorted(starts, other_control, side="right") - 1)
        values = [_json_body(text) for text in texts.take(rows).to_pylist()]
        result = _spliced(result, rows, values)
    return result


def _json_body(text: str) -> str:
    """The JSON string of `text` without its quotes ('a"b' -> 'a\\"b')."""
    return encode_basestring(text)[1:-1]


# question_key of ASCII text on a whole chunk at once: bytes.translate lower-cases, turns what
# str.split() splits on into spaces and deletes punctuation, in C; the few keys left with a
# space at an end or two in a row (punctuation between spaces, line breaks) are then tidied.
_ASCII_SPACE = bytes(range(0x09, 0x0E)) + bytes(range(0x1C, 0x20))  # str.split()'s, with " "
_KEY_TABLE = bytes.maketrans(
    string.ascii_uppercase.encode() + _ASCII_SPACE,
    string.ascii_lowercase.encode() + b" " * len(_ASCII_SPACE),
)
_KEY_DELETE = string.punctuation.encode()
_ROW_END = b"\x00"  # ends each row in the joined chunk; never in the text of a chunk taken here
_SPACE = 0x20


def record_keys(questions: pa.ChunkedArray) -> np.ndarray:
    """The first 8 bytes of each `prepare.record_id` digest, as uint64: the same question key
    and SHA-256. Keys of ASCII text are made a chunk at a time (see `_ascii_keys`); other text,
    and any chunk holding a NUL, goes through `question_key` row by row."""
    import numpy as np
    import pyarrow.compute as pc

    from tuneline.prepare import question_key

    sha256 = hashlib.sha256
    digests: list[bytes] = []
    ends = pc.binary_join_element_wise(questions, _lit(_ROW_END.decode()), _lit(""))
    for ended in ends.chunks:  # each text with _ROW_END appended
        if not len(ended):
            continue
        keys = _ascii_keys(_utf8_bytes(ended), len(ended))
        if keys is None:  # a NUL inside some text
            keys = [question_key(text[:-1]).encode() for text in ended.to_pylist()]
        digests += [sha256(key).digest() for key in keys]
    not_ascii = np.flatnonzero(~pc.string_is_ascii(questions).to_numpy(zero_copy_only=False))
    for row, text in zip(
        not_ascii.tolist(), rows_of(questions, not_ascii).to_pylist(), strict=True
    ):
        digests[row] = sha256(question_key(text).encode()).digest()
    whole = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(-1, _DIGEST_BYTES)
    return whole[:, :_ID_BYTES].copy().view(">u8").ravel().astype(np.uint64)


def _ascii_keys(joined: memoryview, rows: int) -> list[bytes] | None:
    """The question keys of `rows` texts, each ended by _ROW_END in `joined`; None if a text
    holds a NUL. Exact for ASCII text only: the caller redoes the others."""
    import numpy as np

    # A _ROW_END in front as well, so every row, the first included, sits between two of them.
    keyed = (_ROW_END + joined).translate(_KEY_TABLE, _KEY_DELETE)
    raw = np.frombuffer(keyed, dtype=np.uint8)
    at_end = raw == 0
    ends = np.flatnonzero(at_end)
    if len(ends) != rows + 1:
        return None
    space = raw == _SPACE
    # A space beside another one or at either end of its row: where split() and join differ.
    loose = space[1:-1] & (space[2:] | at_end[2:] | at_end[:-2])
    keys = keyed.split(_ROW_END)[1:-1]  # drop the empty pieces outside the first and last end
    for row in np.unique(np.searchsorted(ends, np.flatnonzero(loose) + 1) - 1).tolist():
        keys[row] = b" ".join(keys[row].split())
    return keys


def hex_ids(keys: np.ndarray) -> pa.Array:
    """uint64 keys as record ids (16 lower-case hex digits, high nibble first), written by
    numpy rather than by one Python string per row."""
    import numpy as np
    import pyarrow as pa

    octets = keys.astype(">u8").view(np.uint8)
    hex_digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    text = np.empty(2 * len(octets), dtype=np.uint8)
    text[0::2], text[1::2] = hex_digits[octets >> 4], hex_digits[octets & 0x0F]
    width = 2 * _ID_BYTES
    offsets = np.arange(0, width * len(keys) + 1, width, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(len(keys), pa.py_buffer(offsets), pa.py_buffer(text))


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
    keep, conflicts = _resolve_duplicates(sources, results, params, quarantined)
    _, (distinct_answers, top_answer_count) = concurrently(
        lambda: write_records(out_path, sources, results, keep),
        lambda: _answer_counts(results, keep),
    )
    return ColumnsOutcome(
        rows_read=sum(source.table.num_rows for source in sources),
        rows_kept=sum(int(kept.sum()) for kept in keep),
        quarantined=quarantined,
        redacted=redacted,
        conflicts=conflicts,
        shapes=shapes,
        distinct_answers=distinct_answers,
        top_answer_count=top_answer_count,
    )


def _answer_counts(results: list[FileResult], keep: list[np.ndarray]) -> tuple[int, int]:
    """How many distinct answers the kept rows have, and how often the most repeated one
    occurs: the counts over every row, less those over the (few) rows not kept."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    kept = np.concatenate(keep)
    if not kept.any():
        return 0, 0
    answers = pa.chunked_array(
        [chunk for result in results for chunk in result.answer.chunks], pa.large_string()
    )
    everything = pc.value_counts(answers)
    counts = everything.field("counts").to_numpy().copy()
    if not kept.all():
        gone = pc.value_counts(rows_of(answers, np.flatnonzero(~kept)))
        at = pc.index_in(gone.field("values"), value_set=everything.field("values"))
        counts[at.to_numpy()] -= gone.field("counts").to_numpy()  # values are distinct
    return int(np.count_nonzero(counts)), int(counts.max())


def _resolve_duplicates(
    sources: list[CsvSource], results: list[FileResult], params: PrepareParams, quarantined: list
) -> tuple[list[np.ndarray], int]:
    """Pass 2: `prepare._resolve_groups` on the candidates (rows alive after pass 1, file after
    file) whose key occurs more than once; a question seen once is kept as it is, which is what
    that function does with it. Returns, per file, which rows to write, and the conflict count."""
    import numpy as np
    import pyarrow as pa

    from tuneline.prepare import QARecord, _Candidate, _resolve_groups

    rows = [np.flatnonzero(result.alive) for result in results]  # each candidate's file row
    starts = np.cumsum([0] + [len(file_rows) for file_rows in rows])
    keys = np.concatenate(
        [result.keys[file_rows] for result, file_rows in zip(results, rows, strict=True)]
    )
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    same_as_next = ordered[1:] == ordered[:-1]
    repeated_in_order = np.zeros(len(keys), dtype=bool)
    repeated_in_order[1:] |= same_as_next
    repeated_in_order[:-1] |= same_as_next
    repeated = np.sort(order[repeated_in_order])
    candidates = []
    for file, (source, result) in enumerate(zip(sources, results, strict=True)):
        seqs = repeated[(repeated >= starts[file]) & (repeated < starts[file + 1])]
        if not len(seqs):
            continue
        file_rows = rows[file][seqs - starts[file]]
        wanted = np.zeros(result.table.num_rows, dtype=bool)
        wanted[file_rows] = True
        texts = [rows_of(t, file_rows).to_pylist() for t in (result.question, result.answer)]
        records = zip(
            seqs.tolist(),
            file_rows.tolist(),
            hex_ids(result.keys[file_rows]).to_pylist(),
            *texts,
            rows_of(result.category, file_rows).to_pylist(),
            result.table.filter(pa.array(wanted)).to_pylist(),
            strict=True,
        )
        for seq, row, id_, question, answer, category, fields in records:
            record = QARecord(id_, question, answer, category, source.path.name, row + 1)
            candidates.append(_Candidate(record, fields, seq))

    def quarantine(source: str, row: int, reason: str, fields: dict) -> None:
        quarantined.append({"source": source, "row": row, "reason": reason, "fields": fields})

    winners, conflicts = _resolve_groups(candidates, params, quarantine)
    kept = np.ones(len(keys), dtype=bool)
    kept[repeated] = False
    kept[[c.seq for c in winners]] = True
    keep = []
    for file, result in enumerate(results):
        file_keep = np.zeros(result.table.num_rows, dtype=bool)
        file_keep[rows[file]] = kept[starts[file] : starts[file + 1]]
        keep.append(file_keep)
    return keep, conflicts


def write_records(
    path: Path, sources: list[CsvSource], results: list[FileResult], keep: list[np.ndarray]
) -> None:
    """The rows `keep` marks, file after file, as JSONL: byte for byte what
    json.dumps(QARecord._asdict()) writes. Lines are joined for every row of a slice (no
    column is filtered first, which would copy its text) and only the kept ones written."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    def pieces(source: CsvSource, result: FileResult) -> list[pa.Array | pa.ChunkedArray]:
        name = encode_basestring(source.path.name)
        numbers = np.arange(1, result.table.num_rows + 1)
        return [
            _lit('{"id": "'),
            result.ids,
            _lit('", "question": "'),
            result.json_question,
            _lit('", "answer": "'),
            result.json_answer,
            _lit('", "category": "'),
            result.json_category,
            _lit(f'", "source": {name}, "row": '),
            pc.cast(pa.array(numbers), pa.large_string()),
            _lit("}\n"),
            _lit(""),  # the separator binary_join_element_wise puts between the pieces
        ]

    def lines(job: tuple[int, int]) -> tuple[list[pa.Array], np.ndarray]:
        """The JSONL lines of one file's rows start .. start + _WRITE_ROWS, and which to keep."""
        file, start = job
        joined = pc.binary_join_element_wise(
            *(p if isinstance(p, pa.Scalar) else p.slice(start, _WRITE_ROWS) for p in parts[file])
        )
        chunks = joined.chunks if isinstance(joined, pa.ChunkedArray) else [joined]
        return chunks, keep[file][start : start + _WRITE_ROWS]

    parts = [pieces(source, result) for source, result in zip(sources, results, strict=True)]
    jobs = [
        (file, start)
        for file, result in enumerate(results)
        for start in range(0, result.table.num_rows, _WRITE_ROWS)
        if keep[file][start : start + _WRITE_ROWS].any()
    ]
    # Two threads join slices of rows (the kernel releases the GIL) while this one writes.
    with ThreadPoolExecutor(max_workers=2) as pool, atomic.open_output(path, "wb") as handle:
        for chunks, kept in pool.map(lines, jobs):
            position = 0
            for chunk in chunks:
                handle.writelines(_kept_lines(chunk, kept[position : position + len(chunk)]))
                position += len(chunk)


def _kept_lines(lines: pa.Array, keep: np.ndarray) -> list[memoryview]:
    """The text of `lines` (a large_string array) where `keep` is True, as a few views of its
    buffer: one per run of kept lines."""
    import numpy as np

    if keep.all():
        return [_utf8_bytes(lines)]
    offsets = _offsets(lines)
    edges = np.diff(np.concatenate(([0], keep.view(np.int8), [0])))
    data = memoryview(lines.buffers()[2] or b"")
    return [
        data[offsets[first] : offsets[end]]
        for first, end in zip(
            np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True
        )
    ]


def _offsets(texts: pa.Array) -> np.ndarray:
    """A large_string array's offsets into its data buffer (len + 1 of them), uncopied."""
    import numpy as np

    return np.frombuffer(texts.buffers()[1], dtype=np.int64)[
        texts.offset : texts.offset + len(texts) + 1
    ]


def _utf8_bytes(texts: pa.Array) -> memoryview:
    """All of a large_string array's text, concatenated, as UTF-8: its data buffer, uncopied."""

    if len(texts) == 0:
        return memoryview(b"")
    offsets = _offsets(texts)
    return memoryview(texts.buffers()[2])[offsets[0] : offsets[-1]]
