"""safe_raw_target: a source name can only ever land directly inside data/raw.

`tuneline ingest --name` takes the name from a person; a crafted name must not overwrite a file
elsewhere in the project (or outside it) when the source is copied in.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tuneline import layout
from tuneline.errors import DataError
from tuneline.ingest import read_manifest, safe_raw_target


@pytest.fixture
def root(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / layout.RAW_DIR).mkdir(parents=True)
    return project


def test_plain_file_name_is_accepted(root: Path) -> None:
    target = safe_raw_target(root, "support.csv")
    assert target == (root / layout.RAW_DIR).resolve() / "support.csv"
    assert not target.exists()  # only computes the path; writes nothing


@pytest.mark.parametrize(
    "name",
    [
        "..",
        ".",
        "a/b.csv",
        "../escape.csv",
        "/etc/passwd",
        "a\\b.csv",
        ".hidden",
        ".support.csv",
        "",
    ],
)
def test_unsafe_names_are_refused(root: Path, name: str) -> None:
    with pytest.raises(DataError) as info:
        safe_raw_target(root, name)
    assert "source name" in info.value.message


def test_symlink_inside_raw_pointing_outside_is_refused(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_text("question,answer\n", encoding="utf-8")
    os.symlink(outside, root / layout.RAW_DIR / "linked.csv")
    with pytest.raises(DataError, match="outside"):
        safe_raw_target(root, "linked.csv")
    assert outside.read_text(encoding="utf-8") == "question,answer\n"


def test_symlink_inside_raw_pointing_inside_is_refused_too(root: Path) -> None:
    # copying onto a link writes through it: refuse every link, not only ones that escape today
    real = root / layout.RAW_DIR / "real.csv"
    real.write_text("question,answer\n", encoding="utf-8")
    os.symlink(real, root / layout.RAW_DIR / "alias.csv")
    with pytest.raises(DataError):
        safe_raw_target(root, "alias.csv")


def test_read_manifest_without_file_is_empty(root: Path) -> None:
    assert read_manifest(root) == {"sources": {}, "history": []}


def test_read_manifest_reads_the_recorded_sources(root: Path) -> None:
    path = root / layout.SOURCES_MANIFEST
    path.write_text('{"sources": {"a.csv": {"sha256": "ab"}}, "history": [1]}', encoding="utf-8")
    assert read_manifest(root) == {"sources": {"a.csv": {"sha256": "ab"}}, "history": [1]}
