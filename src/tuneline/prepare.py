"""Prepare stage: raw source rows -> clean question/answer records, every dropped row quarantined.

Rows read = rows kept + rows quarantined, always; the report says so per reason, and gives
counts only (never the personal data it redacted).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from tuneline.errors import DataError
from tuneline.params import PrepareParams
from tuneline.sources import SourceRow, read_rows

log = logging.getLogger(__name__)

# Zero-width and bidirectional control characters: invisible, they make equal questions differ.
_INVISIBLE = re.compile("[\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_SPACES = re.compile(r"[^\S\n]+")  # any Unicode space except the line break
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
EMAIL_PLACEHOLDER = "[EMAIL]"


@dataclass(frozen=True)
class QARecord:
    id: str  # stable: hash of the normalised question
    question: str
    answer: str
    category: str
    source: str
    row: int


@dataclass(frozen=True)
class PrepareReport:
    rows_read: int
    rows_kept: int
    rows_quarantined: int
    quarantined_by_reason: dict[str, int]
    redacted_emails: int
    sources: list[str]

    @property
    def reconciled(self) -> bool:
        return self.rows_read == self.rows_kept + self.rows_quarantined


def normalize_text(text: str) -> str:
    """NFC, no invisible characters, single spaces, trimmed lines (line breaks kept)."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", text))
    lines = (_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


def question_key(question: str) -> str:
    """What counts as 'the same question': case- and whitespace-insensitive."""
    return " ".join(question.casefold().split())


def record_id(question: str) -> str:
    return hashlib.sha256(question_key(question).encode("utf-8")).hexdigest()[:16]


def prepare_records(
    raw_dir: Path, params: PrepareParams, out_path: Path, quarantine_path: Path
) -> PrepareReport:
    """Read every file in `raw_dir`, write kept records and quarantined rows as JSONL."""
    files = sorted(p for p in raw_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise DataError(f"{raw_dir}: no source files; add one with `tuneline ingest PATH`")
    cleaner = _Cleaner(params)
    for path in files:
        for row in read_rows(path):
            cleaner.add(row)
    _write_jsonl(out_path, [asdict(r) for r in cleaner.kept])
    _write_jsonl(quarantine_path, cleaner.quarantined)
    report = PrepareReport(
        rows_read=cleaner.rows_read,
        rows_kept=len(cleaner.kept),
        rows_quarantined=len(cleaner.quarantined),
        quarantined_by_reason=dict(
            sorted(Counter(q["reason"] for q in cleaner.quarantined).items())
        ),
        redacted_emails=cleaner.redacted_emails,
        sources=[p.name for p in files],
    )
    if not report.reconciled:  # a bug, not bad data: never let rows vanish silently
        raise AssertionError(f"prepare lost rows: {report}")
    log.info(
        "prepare: %d read, %d kept, %d quarantined %s",
        report.rows_read,
        report.rows_kept,
        report.rows_quarantined,
        report.quarantined_by_reason,
    )
    return report


class _Cleaner:
    """Accumulates kept records and quarantined rows; one decision per row."""

    def __init__(self, params: PrepareParams) -> None:
        self.params = params
        self.kept: list[QARecord] = []
        self.quarantined: list[dict] = []
        self.rows_read = 0
        self.redacted_emails = 0
        self._answers: dict[str, str] = {}  # question key -> answer kept for it

    def add(self, row: SourceRow) -> None:
        self.rows_read += 1
        reason, record = self._clean(row)
        if reason or record is None:
            self.quarantined.append(
                {"source": row.source, "row": row.row, "reason": reason, "fields": row.fields}
            )
        else:
            self.kept.append(record)

    def _clean(self, row: SourceRow) -> tuple[str, QARecord | None]:
        if "_error" in row.fields:
            return "malformed_record", None
        columns = self.params.columns
        missing = [c for c in (columns.question, columns.answer) if c not in row.fields]
        if missing:
            raise DataError(
                f"{row.source} row {row.row}: column(s) {missing} not found; the file has "
                f"{sorted(row.fields)}. Map them in params.yaml under prepare.columns "
                f"(e.g. question: {next(iter(row.fields), 'instruction')})"
            )
        question = normalize_text(_text(row.fields[columns.question]))
        answer = normalize_text(_text(row.fields[columns.answer]))
        category = (
            normalize_text(_text(row.fields.get(columns.category))) if columns.category else ""
        )
        if not question:
            return "empty_question", None
        if not answer:
            return "empty_answer", None
        if len(question) > self.params.max_question_chars:
            return "question_too_long", None
        if len(answer) > self.params.max_answer_chars:
            return "answer_too_long", None
        question, answer = self._redact(question), self._redact(answer)
        key = question_key(question)
        if key in self._answers:
            same = self._answers[key] == answer
            return ("exact_duplicate" if same else "conflicting_answer"), None
        self._answers[key] = answer
        return "", QARecord(record_id(question), question, answer, category, row.source, row.row)

    def _redact(self, text: str) -> str:
        text, hits = EMAIL.subn(EMAIL_PLACEHOLDER, text)
        self.redacted_emails += hits
        return text


def _text(value: object) -> str:
    """A cell as text: null is empty, but 0 or False are real values."""
    return "" if value is None else str(value)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    """Records written by a stage; a missing file names the stage to run first."""
    if not path.is_file():
        raise DataError(f"{path}: not found; run the stage that writes it (`dvc repro`) first")
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
