"""Reading raw source files (CSV, JSONL, JSON array) into rows that remember their origin."""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from tuneline.errors import DataError

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "json", ".parquet": "parquet"}


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
    """RFC 4180 records; a record with more or fewer cells than the header is flagged."""
    reader = csv.reader(handle)
    header = next(reader, None)
    if not header:
        raise DataError(f"{path}: empty CSV (no header row)")
    width = len(header)
    for number, cells in enumerate(reader, start=1):
        if len(cells) == width:
            yield SourceRow(path.name, number, dict(zip(header, cells, strict=True)))
        elif cells:  # a blank line is no record
            error = f"{len(cells)} cells for {width} columns (line {reader.line_num})"
            yield SourceRow(path.name, number, {"_error": error})


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
