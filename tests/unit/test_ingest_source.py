"""ingest_source in a real git + DVC project: a good file lands in data/raw, is versioned and
pushed, and its provenance recorded; the same bytes again change nothing; a file that can never
become training data is refused before anything lands in data/raw.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tuneline import layout
from tuneline.errors import DataError
from tuneline.ingest import ingest_source, read_manifest
from tuneline.params import ColumnMap, PrepareParams, SourceParams

PREPARE = PrepareParams(
    columns=ColumnMap(question="question", answer="answer", category="category"),
    sources={},
    conflict_policy="keep-latest",
    pii_policy="redact",
    max_bad_row_share=0.05,
    max_question_chars=1000,
    max_answer_chars=2000,
)
GOOD = 'question,answer,category\nIs it open?,Yes.,store\nDo you ship?,"Yes, abroad too.",ship\n'


def _make_project(root: Path) -> Path:
    """A git + DVC project whose default remote is ../storage, beside the project folder."""
    root.mkdir(parents=True)
    dvc = [sys.executable, "-m", "dvc"]
    for cmd in (
        ["git", "init", "-q"],
        [*dvc, "init", "-q"],
        [*dvc, "config", "core.analytics", "false"],
        [*dvc, "remote", "add", "-d", "local", "../storage"],  # stored relative: copies keep it
    ):
        subprocess.run(cmd, cwd=root, check=True, capture_output=True)
    return root


def _stored_objects(storage: Path) -> set[Path]:
    return {p for p in storage.rglob("*") if p.is_file()} if storage.exists() else set()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_project(tmp_path_factory.mktemp("template") / "project")


@pytest.fixture
def project(template: Path, tmp_path: Path) -> Path:
    """A copy of the template (git + DVC init take seconds); its remote is tmp_path/storage."""
    return Path(shutil.copytree(template, tmp_path / "project", symlinks=True))


def test_ingest_versions_pushes_and_records_provenance(project: Path, tmp_path: Path) -> None:
    source = tmp_path / "incoming" / "support.csv"
    source.parent.mkdir()
    source.write_text(GOOD, encoding="utf-8")

    result = ingest_source(source, project, PREPARE)

    assert result.changed is True
    p = result.provenance
    assert (p.name, p.rows, p.format, p.bytes) == ("support.csv", 2, "csv", len(GOOD.encode()))
    assert (project / layout.RAW_DIR / "support.csv").read_text(encoding="utf-8") == GOOD
    assert (project / f"{layout.RAW_DIR}.dvc").is_file()
    assert _stored_objects(tmp_path / "storage"), "nothing was pushed to the DVC remote"
    manifest = read_manifest(project)
    assert manifest["sources"]["support.csv"] == dataclasses.asdict(p)
    assert manifest["history"] == [dataclasses.asdict(p)]
    assert source.read_text(encoding="utf-8") == GOOD  # the original is left where it was


def test_reingesting_the_same_bytes_is_a_no_op(project: Path, tmp_path: Path) -> None:
    source = tmp_path / "support.csv"
    source.write_text(GOOD, encoding="utf-8")
    first = ingest_source(source, project, PREPARE)
    dvc_file = project / f"{layout.RAW_DIR}.dvc"
    state = (read_manifest(project), dvc_file.read_bytes(), _stored_objects(tmp_path / "storage"))

    again = ingest_source(source, project, PREPARE)

    assert again.changed is False
    assert again.provenance == first.provenance  # same ingested_at: nothing was re-recorded
    assert (
        read_manifest(project),
        dvc_file.read_bytes(),
        _stored_objects(tmp_path / "storage"),
    ) == state

    source.write_text(GOOD + "Can I pay later?,No.,billing\n", encoding="utf-8")
    changed = ingest_source(source, project, PREPARE)
    assert changed.changed is True and changed.provenance.rows == 3
    assert changed.provenance.sha256 != first.provenance.sha256
    assert [h["rows"] for h in read_manifest(project)["history"]] == [2, 3]  # both versions kept
    assert dvc_file.read_bytes() != state[1]


BAD_SOURCES = {
    "questions_only": (
        "traffic.csv",
        b"text,category\nHow do I top up?,top_up\n",
        "no answer field",
    ),
    "nested": (
        "seed.jsonl",
        json.dumps({"instruction": "I", "instances": [{"input": "", "output": "O"}]}).encode(),
        "instances.0.output",
    ),
    "not_utf8": ("latin.csv", "question,answer\nCafé?,Oui.\n".encode("cp1252"), "offset 19)"),
    "no_records": ("empty.csv", b"question,answer\n", "no records"),
    "unsupported": ("export.xlsx", b"PK\x03\x04", "unsupported file type"),
}


@pytest.mark.parametrize("case", list(BAD_SOURCES))
def test_unusable_file_is_refused_before_anything_lands(
    project: Path, tmp_path: Path, case: str
) -> None:
    name, content, expected = BAD_SOURCES[case]
    source = tmp_path / name
    source.write_bytes(content)

    with pytest.raises(DataError) as info:
        ingest_source(source, project, PREPARE)

    assert name in info.value.message and expected in info.value.message
    raw = project / layout.RAW_DIR
    assert not raw.exists() or not any(raw.iterdir()), "a refused file reached data/raw"
    assert not (project / layout.SOURCES_MANIFEST).exists()
    assert not (project / f"{layout.RAW_DIR}.dvc").exists()
    assert source.read_bytes() == content


def test_source_params_let_a_refused_file_in(project: Path, tmp_path: Path) -> None:
    # the same nested file is accepted once params.yaml maps it
    name, content, _ = BAD_SOURCES["nested"]
    source = tmp_path / name
    source.write_bytes(content)
    mapping = SourceParams(question="instruction", answer="instances.0.output")
    prepare = dataclasses.replace(PREPARE, sources={name: mapping})
    result = ingest_source(source, project, prepare)
    assert result.changed and result.provenance.rows == 1
    assert (project / layout.RAW_DIR / name).read_bytes() == content
