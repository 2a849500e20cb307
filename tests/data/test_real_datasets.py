"""Prepare on real public datasets (../shared/data, see its README): each one is a kind of input
a company's export really looks like, and each expectation says what it guards against.

Where a count can be taken from the file itself, it is taken there rather than from prepare, so
a change that silently drops or rewrites rows fails here. Skipped when the folder is absent.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import unicodedata
from pathlib import Path

import pytest

from tuneline.errors import DataError
from tuneline.params import PrepareParams, SourceParams, load_params
from tuneline.prepare import PrepareReport, prepare_records, question_key

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
if not DATA.is_dir():
    pytest.skip(f"real datasets not found at {DATA}", allow_module_level=True)

BITEXT = "bitext_customer_support_4514.csv"
TEMPLATED = "bitext_customer_support_6480_templated.csv"
ALPACA = "alpaca_5000.json"
RU_SEED = "ru_alpaca_seed_tasks.jsonl"
BANKING = "banking77_test.csv"


@pytest.fixture(scope="module")
def prepare_params() -> PrepareParams:
    """The repository's own prepare settings: what a user running `dvc repro` gets."""
    return load_params(REPO / "params.yaml").prepare


@dataclasses.dataclass
class Prepared:
    report: PrepareReport
    kept: list[dict]
    quarantined: list[dict]

    def rows(self, reason: str) -> set[tuple[str, int]]:
        return {(q["source"], q["row"]) for q in self.quarantined if q["reason"] == reason}


def _prepare(tmp_path: Path, names: list[str], params: PrepareParams) -> Prepared:
    """Copies of `names` (ingested in that order) through prepare; checks nothing was lost."""
    raw = _copies(tmp_path, names)
    out, quarantine = tmp_path / "out" / "qa.jsonl", tmp_path / "out" / "quarantine.jsonl"
    report = prepare_records(raw, params, out, quarantine, order=names)
    result = Prepared(report, _read(out), _read(quarantine))
    assert report.rows_read == report.rows_kept + report.rows_quarantined
    assert (report.rows_kept, report.rows_quarantined) == (
        len(result.kept),
        len(result.quarantined),
    )
    return result


def _copies(tmp_path: Path, names: list[str]) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in names:
        shutil.copyfile(DATA / name, raw / name)
    return raw


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _csv_rows(name: str) -> list[dict]:
    with (DATA / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _refused(tmp_path: Path, names: list[str], params: PrepareParams) -> str:
    raw = _copies(tmp_path, names)
    with pytest.raises(DataError) as info:
        prepare_records(raw, params, tmp_path / "out" / "qa.jsonl", tmp_path / "out" / "q.jsonl")
    assert not (tmp_path / "out").exists()  # nothing half-written
    for name in names:  # raw data is immutable
        assert (raw / name).read_bytes() == (DATA / name).read_bytes()
    return info.value.message


# --- Bitext 4,514: the closest thing to a support log -----------------------------------------


def test_bitext_support_log_is_read_in_full(tmp_path: Path, prepare_params: PrepareParams) -> None:
    # guards against quoted CRLF inside answers splitting records (thousands of answers have it)
    expected_rows = len(_csv_rows(BITEXT))
    assert expected_rows == 4514
    result = _prepare(tmp_path, [BITEXT], prepare_params)
    assert result.report.rows_read == 4514
    assert result.report.sources == {BITEXT: "instruction_response"}
    # guards against flattening step-by-step answers into one line (or keeping the \r)
    multi_line = [k for k in result.kept if "\n" in k["answer"]]
    assert len(multi_line) > len(result.kept) // 2
    assert not any("\r" in k["answer"] for k in result.kept)


# --- Alpaca 5,000: the canonical instruction/input/output format ------------------------------


def test_alpaca_maps_without_configuration_and_quarantines_its_artefacts(
    tmp_path: Path, prepare_params: PrepareParams
) -> None:
    records = json.loads((DATA / ALPACA).read_text(encoding="utf-8"))
    empty = {(ALPACA, n) for n, r in enumerate(records, 1) if not r["output"].strip()}
    placeholders = {"<noinput>", "<nooutput>", "no output"}  # as written in this file
    artefacts = {
        (ALPACA, n) for n, r in enumerate(records, 1) if r["output"].strip().lower() in placeholders
    }
    # the README's 2 <noinput>, plus 2 <nooutput> and one "No Output" (row 1751)
    assert len(empty) == 2 and len(artefacts) == 5

    result = _prepare(tmp_path, [ALPACA], prepare_params)

    assert result.report.sources == {ALPACA: "alpaca"}
    assert result.report.rows_read == len(records)
    # guards against training the model to answer "" or "<noinput>"
    assert result.rows("empty_answer") == empty
    assert result.rows("artefact_answer") == artefacts
    # guards against a placeholder input being glued onto the question as if it were content
    (quoted,) = [n for n, r in enumerate(records, 1) if r["input"] == '"<noinput>"']
    kept = next(k for k in result.kept if k["row"] == quoted)
    assert kept["question"] == records[quoted - 1]["instruction"].strip()


# --- Bitext 6,480: a known-bad, templated release ---------------------------------------------


def test_templated_answers_are_flagged(tmp_path: Path, prepare_params: PrepareParams) -> None:
    distinct_in_file = len({row["response"] for row in _csv_rows(TEMPLATED)})
    assert distinct_in_file == 27
    result = _prepare(tmp_path, [TEMPLATED], prepare_params)
    # guards against training on canned replies without a reviewer being told
    assert result.report.distinct_answers == distinct_in_file
    assert any("templated answers" in note for note in result.report.notes)


def test_old_and_new_release_together_surface_the_conflicts(
    tmp_path: Path, prepare_params: PrepareParams
) -> None:
    # the README: 4,364 questions of the 6,480 file reappear in the 4,514 one with other answers
    result = _prepare(tmp_path, [TEMPLATED, BITEXT], prepare_params)
    assert result.report.rows_read == 6480 + 4514
    assert result.report.conflicting_questions >= 4000
    assert result.report.quarantined_by_reason["conflicting_answer"] >= 4000
    # keep-latest: where the releases disagree, the later one (4,514) supplies the answer
    # (unless its own row was unusable: one 4,514 answer is over prepare.max_answer_chars)
    group_reasons = {"conflicting_answer", "exact_duplicate", "near_duplicate"}
    unusable = {
        q["row"]
        for q in result.quarantined
        if q["source"] == BITEXT and q["reason"] not in group_reasons
    }
    assert len(unusable) < 10
    rows = enumerate(_csv_rows(BITEXT), 1)
    newer = {question_key(row["instruction"]) for n, row in rows if n not in unusable}
    overlap = [k for k in result.kept if question_key(k["question"]) in newer]
    assert len(overlap) >= 4000
    assert {k["source"] for k in overlap} == {BITEXT}
    superseded = [row for row in result.rows("conflicting_answer") if row[0] == TEMPLATED]
    assert len(superseded) >= 4000
    assert result.report.notes == []  # once the new release wins, answers are no longer canned


# --- Russian seed tasks: Cyrillic text in a nested shape --------------------------------------


def test_nested_russian_file_is_refused_with_the_paths_to_map(
    tmp_path: Path, prepare_params: PrepareParams
) -> None:
    message = _refused(tmp_path, [RU_SEED], prepare_params)
    assert RU_SEED in message
    assert "nested" in message and "instances.0.output" in message


def _letters(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFC", text) if ch.isalpha())


def test_nested_russian_file_maps_and_keeps_every_cyrillic_letter(
    tmp_path: Path, prepare_params: PrepareParams
) -> None:
    mapping = SourceParams(
        question="instruction", context="instances.0.input", answer="instances.0.output"
    )
    params = dataclasses.replace(prepare_params, sources={RU_SEED: mapping})
    lines = (DATA / RU_SEED).read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    assert len(records) == 137

    result = _prepare(tmp_path, [RU_SEED], params)

    assert result.report.rows_read == 137
    assert result.report.rows_kept > 100
    # guards against normalisation eating letters (ё, й, combining marks) or mangling Cyrillic
    for kept in result.kept:
        source = records[kept["row"] - 1]
        instance = source["instances"][0]
        expected = _letters(source["instruction"]) + _letters(instance.get("input") or "")
        assert _letters(kept["question"]) == expected, kept["row"]
        assert _letters(kept["answer"]) == _letters(instance["output"]), kept["row"]
    assert any("ё" in k["question"] + k["answer"] or "й" in k["question"] for k in result.kept)


# --- BANKING77: questions without answers ------------------------------------------------------


def test_questions_only_traffic_is_refused_for_training(
    tmp_path: Path, prepare_params: PrepareParams
) -> None:
    # guards against training on a traffic log: it has questions but nothing to learn to answer
    message = _refused(tmp_path, [BANKING], prepare_params)
    assert BANKING in message and "no answer field" in message
