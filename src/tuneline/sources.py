"""Reading raw source files (CSV, JSONL, JSON array) into rows that remember their origin."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuneline.errors import DataError

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "json"}


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


def read_rows(path: Path) -> Iterator[SourceRow]:
    """Yield every record of `path`; malformed JSON lines are yielded as fields={'_error': ...}."""
    fmt = detect_format(path)
    if fmt == "csv":
        yield from _read_csv(path)
    elif fmt == "jsonl":
        yield from _read_jsonl(path)
    else:
        yield from _read_json_array(path)


def count_records(path: Path) -> int:
    """Number of records in a source file (used for provenance)."""
    return sum(1 for _ in read_rows(path))


def _open_text(path: Path):
    """UTF-8 with or without BOM; other encodings fail naming the byte offset."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not UTF-8 (invalid byte at offset {exc.start}); re-save the file as UTF-8"
        ) from exc
    return path.open(encoding="utf-8-sig", newline="")


def _read_csv(path: Path) -> Iterator[SourceRow]:
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            raise DataError(f"{path}: empty CSV (no header row)")
        for number, record in enumerate(reader, start=1):
            if None in record:  # more cells than header columns: keep the row, flag it
                record = {
                    "_error": f"{len(reader.fieldnames) + len(record[None])} cells "
                    f"for {len(reader.fieldnames)} columns"
                }
            yield SourceRow(path.name, number, record)


def _read_jsonl(path: Path) -> Iterator[SourceRow]:
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                record = {"_error": f"malformed JSON: {exc.msg}"}
            if not isinstance(record, dict):
                record = {"_error": f"expected a JSON object, got {type(record).__name__}"}
            yield SourceRow(path.name, number, record)


def _read_json_array(path: Path) -> Iterator[SourceRow]:
    with _open_text(path) as handle:
        try:
            records = json.load(handle)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from exc
    if not isinstance(records, list):
        raise DataError(f"{path}: expected one JSON array of objects, got {type(records).__name__}")
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            record = {"_error": f"expected a JSON object, got {type(record).__name__}"}
        yield SourceRow(path.name, number, record)
