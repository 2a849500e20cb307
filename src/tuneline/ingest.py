"""Ingest stage: a raw source file lands under data/raw, is versioned by DVC (content hash),
pushed to the configured remote, and its provenance is recorded in data/sources.json.
"""

from __future__ import annotations

import getpass
import json
import logging
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from tuneline import atomic, dvc_tools, layout
from tuneline.base_model import sha256_file
from tuneline.errors import DataError
from tuneline.mapping import choose_field_map
from tuneline.params import PrepareParams, SourceParams
from tuneline.sources import detect_format, read_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceProvenance:
    name: str  # file name under data/raw
    original_path: str
    sha256: str
    bytes: int
    rows: int
    format: str
    ingested_at: str  # UTC, ISO 8601
    ingested_by: str


@dataclass(frozen=True)
class IngestResult:
    provenance: SourceProvenance
    changed: bool  # False: the same bytes were already ingested under that name
    # "<file> record N: what is wrong" for each malformed record seen; prepare quarantines them
    malformed: tuple[str, ...] = ()


def ingest_source(
    source: Path, root: Path, prepare: PrepareParams, name: str | None = None, fmt: str = "auto"
) -> IngestResult:
    """Copy `source` into data/raw, version it with DVC, push it, and record its provenance.

    The file is read in full first: records are counted and the Q/A mapping is checked, so a
    file that can never become training data is refused before anything is tracked.
    """
    if not source.is_file():
        raise DataError(f"{source}: no such file")
    target = safe_raw_target(root, name or source.name)
    override = prepare.sources.get(target.name)
    fmt = override.format if override and fmt == "auto" else fmt
    fmt = detect_format(source) if fmt == "auto" else fmt
    digest = sha256_file(source)
    manifest = read_manifest(root)
    known = manifest["sources"].get(target.name)
    if known and known["sha256"] == digest and target.is_file():
        log.info("ingest: %s unchanged (sha256 %s), nothing to do", target.name, digest[:12])
        return IngestResult(SourceProvenance(**known), changed=False)
    rows, malformed = _check_records(source, target.name, fmt, prepare, override)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    shutil.copyfile(source, partial)
    partial.replace(target)  # atomic: a reader never sees half a file
    provenance = SourceProvenance(
        name=target.name,
        original_path=str(source.resolve()),
        sha256=digest,
        bytes=source.stat().st_size,
        rows=rows,
        format=fmt,
        ingested_at=datetime.now(UTC).isoformat(timespec="seconds"),
        ingested_by=getpass.getuser(),
    )
    manifest["sources"][target.name] = asdict(provenance)
    manifest["history"].append(asdict(provenance))
    write_manifest(root, manifest)
    dvc_tools.track_and_push(root, layout.RAW_DIR)
    log.info("ingest: %s (%d rows, sha256 %s) versioned and pushed", target.name, rows, digest[:12])
    return IngestResult(provenance, changed=True, malformed=malformed)


def _check_records(
    source: Path, name: str, fmt: str, prepare: PrepareParams, override: SourceParams | None
) -> tuple[int, tuple[str, ...]]:
    """Count the records, list the malformed ones (the raw file is kept as it is: prepare
    quarantines them), and make sure the first good one maps to a question/answer pair."""
    rows, mapped = 0, False
    malformed: list[str] = []
    for row in read_rows(source, fmt, override.encoding if override else None):
        rows += 1
        if "_error" in row.fields:
            malformed.append(f"{name} record {row.row}: {row.fields['_error']}")
        elif not mapped:
            choose_field_map(name, row.fields, prepare.columns, override)
            mapped = True
    if rows == 0:
        raise DataError(f"{source}: no records; nothing to ingest")
    if malformed:
        log.warning("ingest: %s has %d malformed record(s)", name, len(malformed))
    return rows, tuple(malformed)


def safe_raw_target(root: Path, name: str) -> Path:
    """data/raw/<name>, refusing names that would land anywhere else."""
    raw = (root / layout.RAW_DIR).resolve()
    if not name or "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
        raise DataError(f"source name '{name}': use a plain file name such as support_2026q4.csv")
    target = raw / name
    if target.is_symlink() or target.resolve().parent != raw:
        raise DataError(f"source name '{name}': resolves outside {layout.RAW_DIR}; refused")
    return target


def read_manifest(root: Path) -> dict:
    path = root / layout.SOURCES_MANIFEST
    if not path.is_file():
        return {"sources": {}, "history": []}
    return json.loads(path.read_text(encoding="utf-8"))


def write_manifest(root: Path, manifest: dict) -> None:
    atomic.write_text(
        root / layout.SOURCES_MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    )
