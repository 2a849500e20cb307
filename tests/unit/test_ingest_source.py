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


REPO = Path(__file__).resolve().parents[2]
MALFORMED_JSONL = "\n".join(
    [json.dumps({"question": f"Question {i}?", "answer": f"Answer {i}."}) for i in range(1, 4)]
    + ['{"question": "Broken?", "answer": "no closing brace"', "[1, 2]"]
    + [json.dumps({"question": "Last?", "answer": "Yes."})]
)


def test_ingest_reports_each_malformed_record_with_file_and_line(
    project: Path, tmp_path: Path
) -> None:
    source = tmp_path / "chats.jsonl"
    source.write_text(MALFORMED_JSONL + "\n", encoding="utf-8")

    result = ingest_source(source, project, PREPARE)

    assert result.changed and result.provenance.rows == 6
    assert len(result.malformed) == 2
    assert result.malformed[0].startswith("chats.jsonl record 4: malformed JSON at line 4")
    assert result.malformed[1] == "chats.jsonl record 5: line 5: expected a JSON object, got list"


def test_ingest_command_lists_malformed_records_and_says_prepare_quarantines_them(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tuneline.cli import main

    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(REPO / name, project / name)
    source = tmp_path / "chats.jsonl"
    source.write_text(MALFORMED_JSONL + "\n", encoding="utf-8")

    assert main(["--project", str(project), "ingest", str(source)]) == 0

    out = capsys.readouterr().out
    assert "chats.jsonl: ingested; 6 rows" in out
    assert "2 malformed record(s); prepare will quarantine them" in out
    assert "chats.jsonl record 4: malformed JSON at line 4" in out
    assert "chats.jsonl record 5: line 5: expected a JSON object" in out


def test_prepare_quarantines_the_records_ingest_reported(tmp_path: Path) -> None:
    from tuneline.prepare import prepare_records

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "chats.jsonl").write_text(MALFORMED_JSONL + "\n", encoding="utf-8")
    params = dataclasses.replace(PREPARE, max_bad_row_share=0.5)
    report = prepare_records(raw, params, tmp_path / "qa.jsonl", tmp_path / "quarantine.jsonl")
    quarantined = [json.loads(line) for line in (tmp_path / "quarantine.jsonl").open()]
    assert (report.rows_read, report.rows_kept) == (6, 4)
    assert [(q["row"], q["reason"]) for q in quarantined] == [
        (4, "malformed_record"),
        (5, "malformed_record"),
    ]


def test_ingest_reads_a_csv_field_longer_than_the_csv_module_default(
    project: Path, tmp_path: Path
) -> None:
    """131,072 characters was the csv module's limit: a longer answer refused the whole file."""
    source = tmp_path / "long.csv"
    long_answer = "word " * 60_000  # 300,000 characters
    source.write_text(
        f'question,answer\nShort?,Yes.\nLong?,"{long_answer}"\n{"Q" * 1_000_000},A\n',
        encoding="utf-8",
    )
    result = ingest_source(source, project, PREPARE)
    assert result.provenance.rows == 3 and result.malformed == ()
