"""Reading raw source files (CSV, JSONL, JSON array) into rows that remember their origin."""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from tuneline.errors import DataError

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "json", ".parquet": "parquet"}

# The longest CSV field read, in characters: far above any real answer (a 50 MB one is read,
# then quarantined by prepare as too long), yet bounded, so a quote left open near the top of
# a large file cannot pull the rest of it into one field. A longer field makes its record
# malformed. The csv module's own default, 131,072, refused whole files over one long answer.
CSV_FIELD_LIMIT = 128 * 1024 * 1024


@dataclass(frozen=True)
class SourceRow:
    source: str  # file name under data/raw
    row: int  # 1-based record number in that file (CSV: excluding the header)
    fields: dict[str, Any]


def detect_format(path: Path) -> str:
    """The file format from its extension; refuses anything tuneline cannot read."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"{path}: unsupported file type '{path.suffix}'; use one of {sorted(FORMATS)}"
        )
    return fmt


def read_rows(path: Path, fmt: str = "auto", encoding: str | None = None) -> Iterator[SourceRow]:
    """Yield every record of `path`; malformed records come as fields={'_error': ...}.

    `fmt` "auto" goes by the extension; `encoding` None means UTF-8 (with or without BOM).
    """
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in FORMATS.values():
        raise DataError(
            f"{path}: unknown format '{fmt}'; use auto or one of {sorted(FORMATS.values())}"
        )
    if fmt == "parquet":
        yield from _read_parquet(path)
        return
    reader = {"csv": _read_csv, "jsonl": _read_jsonl, "json": _read_json_array}[fmt]
    with _open_text(path, encoding) as handle:
        yield from reader(path, handle)


def _open_text(path: Path, encoding: str | None) -> TextIO:
    """UTF-8 (BOM or not) unless `encoding` is given; bad bytes fail naming the byte offset."""
    if encoding is None:
        _check_utf8(path)
        encoding = "utf-8-sig"
    return path.open(encoding=encoding, newline="")


def _check_utf8(path: Path) -> None:
    """Fail on the first byte that is not UTF-8, naming its offset in the file."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0  # bytes of the file handed to the decoder so far
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            pending = len(decoder.getstate()[0])  # bytes of a character split across chunks
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise DataError(_not_utf8(path, offset - pending + exc.start)) from exc
            offset += len(chunk)
    pending = len(decoder.getstate()[0])
    if pending:
        raise DataError(_not_utf8(path, offset - pending, "a character cut off at the end"))


def _not_utf8(path: Path, offset: int, what: str = "an invalid byte") -> str:
    return (
        f"{path}: not UTF-8 ({what} at byte offset {offset}); re-save it as UTF-8 or set "
        f"prepare.sources.{path.name}.encoding in params.yaml (e.g. cp1252)"
    )


def _read_csv(path: Path, handle: TextIO) -> Iterator[SourceRow]:
    """RFC 4180 records; a record with more or fewer cells than the header is flagged, and so
    is one with a broken quote (see `_csv_records`), whose swallowed lines are read again."""
    allow_long_csv_fields()
    feed = _LineFeed(enumerate(handle, start=1))
    reader = csv.reader(feed)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise DataError(f"{path}: unreadable CSV header ({exc})") from exc
    if not header:
        raise DataError(f"{path}: empty CSV (no header row)")
    width = len(header)
    for number, (first, last, cells) in enumerate(_csv_records(feed, reader), start=1):
        if isinstance(cells, str):
            yield SourceRow(path.name, number, {"_error": cells})
        elif len(cells) == width:
            yield SourceRow(path.name, number, dict(zip(header, cells, strict=True)))
        elif cells:  # a blank line is no record
            error = f"{len(cells)} cells for {width} columns ({_lines(first, last)})"
            yield SourceRow(path.name, number, {"_error": error})


def allow_long_csv_fields() -> None:
    """Set the csv module's field limit (process-wide: it has no other) to CSV_FIELD_LIMIT."""
    csv.field_size_limit(CSV_FIELD_LIMIT)


class _LineFeed:
    """The lines a csv.reader asks for, remembering the numbered lines of the current record."""

    def __init__(self, lines: Iterable[tuple[int, str]]) -> None:
        self._lines = iter(lines)
        self.taken: list[tuple[int, str]] = []

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        numbered = next(self._lines)
        self.taken.append(numbered)
        return numbered[1]


CsvRecord = tuple[int, int, "list[str] | str"]  # first line, last line, cells or an error


def _csv_records(feed: _LineFeed, reader: Iterator[list[str]]) -> Iterator[CsvRecord]:
    """Records of numbered physical lines, as the csv module reads them, except two faults it
    passes over or stops at. A field over CSV_FIELD_LIMIT makes its record an error (reading
    goes on at the next line). A quote opened and never properly closed makes the csv module
    read on across line breaks, swallowing the rows after it into one record, which may even
    have the right number of cells: a record over several lines that does not parse with
    strict quoting is reported as an error naming its lines, and its lines after the first are
    read again as records of their own, so the good rows it swallowed are kept. `reader` is
    a csv.reader over `feed`."""
    while True:
        feed.taken = []
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield _span(feed.taken) + (f"{exc} ({_lines(*_span(feed.taken))})",)
            continue
        first, last = _span(feed.taken)
        if last == first or _strictly_quoted(line for _, line in feed.taken):
            yield first, last, cells
            continue
        swallowed = _LineFeed(feed.taken[1:])
        recovered = list(_csv_records(swallowed, csv.reader(swallowed)))
        rows = sum(1 for record in recovered if not isinstance(record[2], str) and record[2])
        yield (
            first,
            last,
            f"broken quoting: a quote opened on line {first} is not closed where its record "
            f"ends, so one record ran over {_lines(first, last)} ({last - first + 1} physical "
            f"lines); {_lines(first + 1, last)} were read again as {rows} row(s) of their own",
        )
        yield from recovered


def _span(taken: list[tuple[int, str]]) -> tuple[int, int]:
    """First and last line number of a record's lines (0, 0 for none)."""
    return (taken[0][0], taken[-1][0]) if taken else (0, 0)


def _lines(first: int, last: int) -> str:
    return f"line {first}" if first == last else f"lines {first}-{last}"


def _strictly_quoted(lines: Iterable[str]) -> bool:
    """Whether the lines parse with strict quoting: every quoted field closed by a quote that
    a delimiter or line break follows."""
    try:
        for _ in csv.reader(lines, strict=True):
            pass
    except csv.Error:
        return False
    return True


def csv_quoting_is_sound(path: Path) -> bool:
    """Whether the whole (UTF-8) CSV parses with strict quoting, so no record can have
    swallowed others: what a reader other than `_read_csv` must know before it trusts a file
    whose fields hold line breaks."""
    allow_long_csv_fields()
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return _strictly_quoted(handle)


def _read_jsonl(path: Path, handle: TextIO) -> Iterator[SourceRow]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            record = {"_error": f"malformed JSON at line {number}, column {exc.colno}: {exc.msg}"}
        if not isinstance(record, dict):
            record = {
                "_error": f"line {number}: expected a JSON object, got {type(record).__name__}"
            }
        yield SourceRow(path.name, number, record)


def _read_json_array(path: Path, handle: TextIO) -> Iterator[SourceRow]:
    try:
        records = json.load(handle)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from exc
    if not isinstance(records, list):
        raise DataError(f"{path}: expected one JSON array of objects, got {type(records).__name__}")
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            record = {
                "_error": f"item {number}: expected a JSON object, got {type(record).__name__}"
            }
        yield SourceRow(path.name, number, record)


def _read_parquet(path: Path) -> Iterator[SourceRow]:
    """Parquet rows in batches, so a large file never sits in memory as Python objects at once."""
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a broken file
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from exc
    number = 0
    for batch in table.iter_batches(batch_size=65_536):
        for record in batch.to_pylist():
            number += 1
            yield SourceRow(path.name, number, record)
