"""Prepare stage: raw source rows -> clean question/answer records, every dropped row quarantined.

Rows read = rows kept + rows quarantined, always; the report says so per reason, and gives
counts only (never the personal data it redacted).

Two passes: each row is cleaned on its own (malformed, empty, artefact, too long, personal
data), then rows are grouped by normalised question to resolve duplicates and conflicts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import string
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from tuneline import atomic, pii
from tuneline.errors import DataError
from tuneline.mapping import FieldMap, choose_field_map, extract_pair, is_artefact
from tuneline.params import PrepareParams
from tuneline.sources import SourceRow, read_rows

if TYPE_CHECKING:
    from tuneline.prepare_columnar import ColumnsOutcome

log = logging.getLogger(__name__)

# Zero-width and bidirectional control characters: invisible, they make equal questions differ.
_INVISIBLE = re.compile("[\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# C0 and C1 control characters that are neither white space nor a line break (NUL, bell,
# escape, DEL, ...): debris of a broken export or an attempt to hide text. Removed, not
# quarantined: the row around them is usually good, and a NUL inside "4111\x001111 ..." would
# otherwise hide a card number from the personal-data check that runs after normalising.
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
# Line breaks written other ways than \n: CRLF, a lone CR (old Mac exports), NEL, and the
# Unicode line and paragraph separators. Vertical tab, form feed and U+001C..1F stay spaces.
_LINE_BREAKS = re.compile("\r\n?|[\x85\u2028\u2029]")
_SPACES = re.compile(r"[^\S\n]+")  # any Unicode space except the line break
_BLANK_RUNS = re.compile(r"\n{3,}")
_PUNCTUATION = str.maketrans("", "", string.punctuation + "¿¡«»“”‘’…")
_ASCII_PUNCTUATION = string.punctuation.encode()

# True when (question, answer) fits the training context; None skips the check.
ContextCheck = Callable[[str, str], bool]


class QARecord(NamedTuple):
    """One kept pair (a NamedTuple: immutable, and cheap to turn into a dict at 1M rows)."""

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
    pii_redacted: dict[str, int]  # counts by kind, never the values
    conflicting_questions: int  # questions seen with more than one distinct answer
    sources: dict[str, str]  # file -> shape it was read as
    distinct_answers: int
    top_answer_share: float  # share of kept rows carrying the most repeated answer
    notes: list[str] = field(default_factory=list)

    @property
    def reconciled(self) -> bool:
        return self.rows_read == self.rows_kept + self.rows_quarantined


def normalize_text(text: str) -> str:
    """NFC, no control or invisible characters, single spaces, trimmed lines; every line break
    (see _LINE_BREAKS) becomes \\n; paragraphs (one blank line between them) are kept, longer
    runs of blank lines shrink to one."""
    if text.isascii() and text.isprintable() and "  " not in text and text == text.strip():
        return text  # the common case: printable ASCII, single spaces, trimmed: nothing to do
    # removed before NFC, so a mark that followed a removed character composes as it would have
    text = unicodedata.normalize("NFC", _INVISIBLE.sub("", _CONTROLS.sub("", text)))
    lines = [_SPACES.sub(" ", line).strip() for line in _LINE_BREAKS.sub("\n", text).split("\n")]
    text = "\n".join(lines).strip("\n")
    return _BLANK_RUNS.sub("\n\n", text)


def question_key(question: str) -> str:
    """What counts as 'the same question': case-, punctuation- and whitespace-insensitive."""
    if question.isascii():  # same result, 3x faster: bytes.translate deletes in C
        return " ".join(
            question.lower().encode().translate(None, _ASCII_PUNCTUATION).decode().split()
        )
    return " ".join(
        unicodedata.normalize("NFKC", question).casefold().translate(_PUNCTUATION).split()
    )


def record_id(question: str) -> str:
    return hashlib.sha256(question_key(question).encode("utf-8")).hexdigest()[:16]


class _Candidate(NamedTuple):
    record: QARecord
    raw_fields: dict
    seq: int  # position in ingestion order: later = more recent


def prepare_records(
    raw_dir: Path,
    params: PrepareParams,
    out_path: Path,
    quarantine_path: Path,
    fits_context: ContextCheck | None = None,
    order: list[str] | None = None,
    formats: dict[str, str] | None = None,
) -> PrepareReport:
    """Read every file in `raw_dir` (in `order`, oldest first), write kept and quarantined JSONL.

    Large CSV exports take the columnar path (prepare_columnar), which makes the same decisions
    on whole columns; every other source takes the row path below. Outputs are identical.
    """
    from tuneline import prepare_columnar

    files = _source_files(raw_dir, order)
    sources = prepare_columnar.read_sources(files, params, formats or {})
    with atomic.group():  # kept and quarantined rows are replaced together, or neither
        if sources is not None:
            outcome = prepare_columnar.prepare_columns(sources, params, fits_context, out_path)
        else:
            outcome = _prepare_rows(files, params, fits_context, formats or {}, out_path)
        _write_jsonl(quarantine_path, outcome.quarantined)
    kept = outcome.rows_kept
    report = PrepareReport(
        rows_read=outcome.rows_read,
        rows_kept=kept,
        rows_quarantined=len(outcome.quarantined),
        quarantined_by_reason=dict(
            sorted(Counter(q["reason"] for q in outcome.quarantined).items())
        ),
        pii_redacted=dict(sorted(outcome.redacted.items())),
        conflicting_questions=outcome.conflicts,
        sources=outcome.shapes,
        distinct_answers=outcome.distinct_answers,
        top_answer_share=outcome.top_answer_count / kept if kept else 0.0,
        notes=_notes(kept, outcome.distinct_answers),
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


def _prepare_rows(
    files: list[Path],
    params: PrepareParams,
    fits_context: ContextCheck | None,
    formats: dict[str, str],
    out_path: Path,
) -> ColumnsOutcome:
    """Both passes one row at a time: any format, encoding or mapping."""
    from tuneline.prepare_columnar import ColumnsOutcome

    cleaner = _RowCleaner(params, fits_context, formats)
    for path in files:
        cleaner.read_file(path)
    kept, conflicts = _resolve_groups(cleaner.candidates, params, cleaner.quarantine)
    _write_jsonl(out_path, [c.record._asdict() for c in kept])
    answers = Counter(c.record.answer for c in kept)
    return ColumnsOutcome(
        rows_read=cleaner.rows_read,
        rows_kept=len(kept),
        quarantined=cleaner.quarantined,
        redacted=cleaner.redacted,
        conflicts=conflicts,
        shapes=cleaner.shapes,
        distinct_answers=len(answers),
        top_answer_count=answers.most_common(1)[0][1] if kept else 0,
    )


def _source_files(raw_dir: Path, order: list[str] | None) -> list[Path]:
    """Source files, oldest ingestion first (so 'latest' means ingested last)."""
    files = {p.name: p for p in raw_dir.iterdir() if p.is_file() and not p.name.startswith(".")}
    if not files:
        raise DataError(f"{raw_dir}: no source files; add one with `tuneline ingest PATH`")
    ranked = [n for n in (order or []) if n in files] + sorted(set(files) - set(order or []))
    return [files[name] for name in ranked]


class _RowCleaner:
    """Pass 1: one decision per row, on that row alone."""

    def __init__(
        self, params: PrepareParams, fits_context: ContextCheck | None, formats: dict[str, str]
    ) -> None:
        self.params, self.fits_context, self.formats = params, fits_context, formats
        self.candidates: list[_Candidate] = []
        self.quarantined: list[dict] = []
        self.redacted: Counter[str] = Counter()
        self.shapes: dict[str, str] = {}
        self.rows_read = 0

    def quarantine(self, source: str, row: int, reason: str, fields: dict) -> None:
        self.quarantined.append({"source": source, "row": row, "reason": reason, "fields": fields})

    def read_file(self, path: Path) -> None:
        override = self.params.sources.get(path.name)
        fmt = self.formats.get(path.name, "auto")
        if override is not None and override.format != "auto":
            fmt = override.format
        encoding = override.encoding if override else None
        fmap: FieldMap | None = None
        read = bad = 0
        for row in read_rows(path, fmt, encoding):
            read += 1
            if "_error" not in row.fields and fmap is None:
                fmap = choose_field_map(path.name, row.fields, self.params.columns, override)
                self.shapes[path.name] = fmap.shape
            bad += self._add(row, fmap)
        self.rows_read += read
        if read and bad / read > self.params.max_bad_row_share:
            raise DataError(
                f"{path}: {bad} of {read} records are malformed ({bad / read:.1%} > "
                f"prepare.max_bad_row_share {self.params.max_bad_row_share:.1%}); see the "
                "quarantine file for their record numbers, fix the export, or raise the threshold"
            )

    def _add(self, row: SourceRow, fmap: FieldMap | None) -> int:
        """Clean one row; returns 1 if it was malformed (for the bad-row share)."""
        if "_error" in row.fields or fmap is None:
            self.quarantine(row.source, row.row, "malformed_record", row.fields)
            return 1
        try:
            question, answer, category = extract_pair(row.fields, fmap)
        except (KeyError, ValueError, AttributeError, TypeError):
            self.quarantine(row.source, row.row, "unmappable_record", row.fields)
            return 1
        reason, record = self._clean(
            row, normalize_text(question), normalize_text(answer), normalize_text(category)
        )
        if record is None:
            self.quarantine(row.source, row.row, reason, row.fields)
        else:
            self.candidates.append(_Candidate(record, row.fields, len(self.candidates)))
        return 0

    def _clean(
        self, row: SourceRow, question: str, answer: str, category: str
    ) -> tuple[str, QARecord | None]:
        if not question:
            return "empty_question", None
        if not answer:
            return "empty_answer", None
        if is_artefact(answer):
            return "artefact_answer", None
        if len(question) > self.params.max_question_chars:
            return "question_too_long", None
        if len(answer) > self.params.max_answer_chars:
            return "answer_too_long", None
        if pii.has_pii(question) or pii.has_pii(answer):
            if self.params.pii_policy == "fail":
                raise DataError(
                    f"{row.source} row {row.row}: personal data or a secret found and "
                    "prepare.pii_policy is 'fail'; remove it at the source, or use redact | drop"
                )
            if self.params.pii_policy == "drop":
                return "personal_data", None
            question, answer = self._redact(question), self._redact(answer)
        if self.fits_context is not None and not self.fits_context(question, answer):
            return "too_long_for_context", None
        return "", QARecord(record_id(question), question, answer, category, row.source, row.row)

    def _redact(self, text: str) -> str:
        text, counts = pii.redact_pii(text)
        self.redacted.update(counts)
        return text


def _resolve_groups(
    candidates: list[_Candidate],
    params: PrepareParams,
    quarantine: Callable[[str, int, str, dict], None],
) -> tuple[list[_Candidate], int]:
    """Pass 2: one record per question; duplicates and conflicts quarantined per the policy."""
    groups: dict[str, list[_Candidate]] = defaultdict(list)
    for candidate in candidates:
        groups[candidate.record.id].append(candidate)
    kept: list[_Candidate] = []
    conflicts: list[_Candidate] = []
    for group in groups.values():
        if len(group) == 1:  # the common case: a question seen once
            kept.append(group[0])
            continue
        by_answer: dict[str, list[_Candidate]] = defaultdict(list)
        for candidate in group:
            by_answer[question_key(candidate.record.answer)].append(candidate)
        if len(by_answer) > 1:
            conflicts.append(group[0])
            if params.conflict_policy == "drop":
                for c in group:
                    quarantine(c.record.source, c.record.row, "conflicting_answer", c.raw_fields)
                continue
        # keep-latest: the answer given last wins; earlier answers are superseded
        latest = max(by_answer.values(), key=lambda same: same[-1].seq)
        winner = latest[-1]
        kept.append(winner)
        for same in by_answer.values():
            for c in same:
                if c is not winner:
                    quarantine(
                        c.record.source, c.record.row, _loser_reason(c, winner), c.raw_fields
                    )
    if conflicts and params.conflict_policy == "fail":
        where = ", ".join(f"{c.record.source} row {c.record.row}" for c in conflicts[:5])
        raise DataError(
            f"{len(conflicts)} question(s) have conflicting answers (first at {where}) and "
            "prepare.conflict_policy is 'fail'; fix them at the source or use keep-latest | drop"
        )
    kept.sort(key=lambda c: c.seq)
    return kept, len(conflicts)


def _loser_reason(loser: _Candidate, winner: _Candidate) -> str:
    if question_key(loser.record.answer) != question_key(winner.record.answer):
        return "conflicting_answer"
    same = (loser.record.question, loser.record.answer) == (
        winner.record.question,
        winner.record.answer,
    )
    return "exact_duplicate" if same else "near_duplicate"


def _notes(kept: int, distinct_answers: int) -> list[str]:
    """Warnings a reviewer should read: e.g. one canned answer repeated across many questions."""
    notes = []
    if kept and distinct_answers / kept < 0.1:
        notes.append(
            f"templated answers: only {distinct_answers} distinct answers for {kept} questions; "
            "the model will learn canned replies, not the content of each question"
        )
    return notes


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    """One JSON record per line, atomically (a reader never sees a torn file)."""
    with atomic.open_output(path) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    """Records written by a stage; a missing file names the stage to run first."""
    if not path.is_file():
        raise DataError(f"{path}: not found; run the stage that writes it (`dvc repro`) first")
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
