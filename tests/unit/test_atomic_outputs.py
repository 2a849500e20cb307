"""Every stage's outputs are replaced whole or not at all, and a full disk is said as such.

The disk fills up at the k-th file a writer syncs (ENOSPC raised where the bytes reach the disk),
for every k the writer has: the previous outputs must be there byte for byte afterwards, no temp
file may be left behind, and the error must name the file and say "no space left on device".
A real full filesystem (tmpfs) is in tests/integration/test_disk_full.py.
"""

from __future__ import annotations

import dataclasses
import errno
import gc
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tuneline import atomic
from tuneline.errors import DataError
from tuneline.params import ColumnMap, PrepareParams, SplitParams, load_params

REPO = Path(__file__).resolve().parents[2]


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (temp files included) with its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _disk_full_at(monkeypatch: pytest.MonkeyPatch, k: int, code: int = errno.ENOSPC) -> None:
    """The k-th file synced (1-based) hits a full disk."""
    calls = {"n": 0}
    real = atomic._fsync_file

    def fsync(path: Path) -> None:
        calls["n"] += 1
        if calls["n"] == k:
            raise OSError(code, os.strerror(code), str(path))
        real(path)

    monkeypatch.setattr(atomic, "_fsync_file", fsync)


def _count_files_synced(monkeypatch: pytest.MonkeyPatch, write: Callable[[], Any]) -> int:
    calls = {"n": 0}
    real = atomic._fsync_file

    def fsync(path: Path) -> None:
        calls["n"] += 1
        real(path)

    with monkeypatch.context() as patch:
        patch.setattr(atomic, "_fsync_file", fsync)
        write()
    return calls["n"]


def _assert_disk_full_keeps_previous(
    monkeypatch: pytest.MonkeyPatch,
    folder: Path,
    first: Callable[[], Any],
    second: Callable[[], Any],
) -> None:
    """`first` writes outputs under `folder`; `second` (other content) then fails at each file
    in turn: the outputs of `first` stay, whole and alone."""
    files = _count_files_synced(monkeypatch, second)
    assert files >= 1
    first()
    before = _snapshot(folder)
    assert before, "the writer wrote nothing"
    for k in range(1, files + 1):
        with monkeypatch.context() as patch:
            _disk_full_at(patch, k)
            with pytest.raises(atomic.DiskFull) as caught:
                second()
        assert caught.value.exit_code == DataError.exit_code == 3
        assert "no space left on device" in caught.value.message
        assert str(folder) in caught.value.message  # the file is named
        assert _snapshot(folder) == before, f"disk full at file {k} of {files} changed outputs"


# --- the primitives -------------------------------------------------------------------------


def test_write_text_replaces_the_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.json"
    atomic.write_text(target, "old\n")
    atomic.write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]


def test_new_file_gets_the_mode_of_a_plain_write(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    ours = tmp_path / "ours.txt"
    atomic.write_text(ours, "x")
    assert ours.stat().st_mode == plain.stat().st_mode


@pytest.mark.parametrize(
    ("code", "said"),
    [(errno.ENOSPC, "no space left on device"), (errno.EDQUOT, "disk quota exceeded")],
)
def test_disk_full_keeps_the_previous_file_and_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, said: str
) -> None:
    target = tmp_path / "qa.jsonl"
    atomic.write_text(target, '{"a": 1}\n')
    _disk_full_at(monkeypatch, 1, code)
    with pytest.raises(atomic.DiskFull) as caught:
        atomic.write_text(target, '{"a": 2}\n' * 1000)
    assert caught.value.message.startswith(f"{target}: {said}")
    assert "\n" not in caught.value.message  # one line
    assert target.read_text() == '{"a": 1}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["qa.jsonl"]


def test_other_errors_pass_through_and_leave_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "qa.jsonl"
    target.write_text("old\n")
    with pytest.raises(ValueError, match="bad row"), atomic.open_output(target) as handle:
        handle.write("half of the new file\n")
        raise ValueError("bad row")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["qa.jsonl"]


def test_group_renames_nothing_when_a_later_file_fails(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.json"
    atomic.write_text(first, "old a\n")
    atomic.write_text(second, "old b\n")
    with pytest.raises(RuntimeError), atomic.group():
        atomic.write_text(first, "new a\n")
        assert first.read_text() == "old a\n"  # not yet: renamed when the group ends
        raise RuntimeError("the report could not be built")
    assert (first.read_text(), second.read_text()) == ("old a\n", "old b\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "b.json"]


def test_nested_group_joins_the_outer_one(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    with atomic.group():
        with atomic.group():
            atomic.write_text(target, "inner\n")
        assert not target.exists()
    assert target.read_text() == "inner\n"


def test_output_dir_replaces_the_folder_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "adapter"
    with atomic.output_dir(target) as folder:
        (folder / "weights.bin").write_bytes(b"old")
    with pytest.raises(OSError), atomic.output_dir(target) as folder:
        (folder / "weights.bin").write_bytes(b"new, cut short")
        raise OSError(errno.EIO, "I/O error")
    assert _snapshot(tmp_path) == {"adapter/weights.bin": b"old"}
    with atomic.output_dir(target) as folder:
        (folder / "config.json").write_text("{}")
    assert _snapshot(tmp_path) == {"adapter/config.json": b"{}"}


# --- each stage's writer ----------------------------------------------------------------------

PREPARE = PrepareParams(
    columns=ColumnMap(question="question", answer="answer", category="category"),
    sources={},
    conflict_policy="keep-latest",
    pii_policy="redact",
    max_bad_row_share=0.5,
    max_question_chars=200,
    max_answer_chars=200,
)


@pytest.mark.parametrize("rows", [3, 3000], ids=["row-path", "columnar-path"])
def test_prepare_disk_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: int) -> None:
    from tuneline.prepare import prepare_records

    raw, out = tmp_path / "raw", tmp_path / "prepared"
    raw.mkdir()

    def export(n: int, tag: str) -> None:
        lines = ["question,answer,category"]
        lines += [f"How do I do {tag} thing {i}?,Press button {i}.,billing" for i in range(n)]
        lines.append(",an answer without a question,billing")  # one row for quarantine
        (raw / "export.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def run(tag: str) -> Callable[[], Any]:
        def go() -> None:
            export(rows, tag)
            prepare_records(raw, PREPARE, out / "qa.jsonl", out / "quarantine.jsonl")

        return go

    _assert_disk_full_keeps_previous(monkeypatch, out, run("first"), run("second"))


def test_split_disk_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tuneline.split import split_records

    params = SplitParams(validation_fraction=0.2, test_fraction=0.2, salt="s")
    out = tmp_path / "split"

    def run(tag: str) -> Callable[[], Any]:
        records = [
            {"id": str(i), "question": f"{tag} question {i}?", "answer": "a"} for i in range(60)
        ]
        return lambda: split_records(
            records, params, out / "train.jsonl", out / "validation.jsonl", out / "test.jsonl"
        )

    _assert_disk_full_keeps_previous(monkeypatch, out, run("first"), run("second"))


def test_stage_reports_change_with_their_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The split stage as `tuneline stage split` runs it: the three splits and split.json."""
    from tuneline import stages

    params = load_params(REPO / "params.yaml")
    prepared = tmp_path / "data" / "prepared" / "qa.jsonl"

    def run(tag: str) -> Callable[[], Any]:
        def go() -> None:
            records = [
                {"id": str(i), "question": f"{tag} question {i}?", "answer": "a"} for i in range(80)
            ]
            prepared.parent.mkdir(parents=True, exist_ok=True)
            prepared.write_text("".join(json.dumps(r) + "\n" for r in records))
            stages.run_stage("split", params, tmp_path)

        return go

    run("first")()
    for folder in ("data/split", "reports"):
        assert (tmp_path / folder).is_dir()
    first = {**_snapshot(tmp_path / "data" / "split"), **_snapshot(tmp_path / "reports")}
    files = _count_files_synced(monkeypatch, run("second"))
    assert files == 4  # train, validation, test, split.json
    run("first")()
    for k in range(1, files + 1):
        with monkeypatch.context() as patch:
            _disk_full_at(patch, k)
            with pytest.raises(atomic.DiskFull):
                run("second")()
        now = {**_snapshot(tmp_path / "data" / "split"), **_snapshot(tmp_path / "reports")}
        assert now == first, f"disk full at file {k}: a mix of old and new outputs"


def test_evaluation_report_and_pack_disk_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tuneline.evaluate import ModelRun, build_report, write_report

    params = load_params(REPO / "params.yaml")
    params = dataclasses.replace(
        params, evaluate=dataclasses.replace(params.evaluate, bootstrap_samples=50)
    )
    rows = [{"question": f"q {i}?", "answer": f"press {i}", "category": "c"} for i in range(12)]

    def run(answer: str) -> Callable[[], Any]:
        def one(nll: float) -> ModelRun:
            return ModelRun([answer] * 12, [nll] * 12, [8] * 12, [0.1, 0.2], 30)

        runs = {"base": one(3.0), "candidate": one(1.0)}
        report = build_report(params, rows, runs, None, None, None)
        return lambda: write_report(report, tmp_path / "reports" / "evaluation", tmp_path)

    _assert_disk_full_keeps_previous(
        monkeypatch, tmp_path / "reports", run("press 1"), run("something else")
    )


def test_ingest_manifest_disk_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tuneline.ingest import write_manifest

    def run(name: str) -> Callable[[], Any]:
        return lambda: write_manifest(tmp_path, {"sources": {name: {}}, "history": []})

    _assert_disk_full_keeps_previous(monkeypatch, tmp_path / "data", run("a.csv"), run("b.csv"))


def test_train_report_and_adapter_disk_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tuneline.base_model import BaseModelRef
    from tuneline.train import _save_adapter

    class Saves:
        """Stands in for the PEFT model and the tokenizer: writes what save_pretrained would."""

        def __init__(self, name: str, content: bytes) -> None:
            self.name, self.content = name, content

        def save_pretrained(self, folder: str, **kwargs: Any) -> None:
            (Path(folder) / self.name).write_bytes(self.content)

    ref = BaseModelRef(source="local", base="models/base", revision=None, weight_sha256={})

    def run(content: bytes) -> Callable[[], Any]:
        model = Saves("adapter_model.safetensors", content)
        tokenizer = Saves("tokenizer.json", content)
        return lambda: _save_adapter(model, tokenizer, ref, tmp_path / "models" / "adapter")

    _assert_disk_full_keeps_previous(monkeypatch, tmp_path / "models", run(b"one"), run(b"two"))


def test_validation_reports_disk_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd

    from tuneline.expectations import ExpectationSpec, run_expectations

    spec = ExpectationSpec(
        name="enough_rows",
        kind="row_count_between",
        column=None,
        severity="critical",
        args={"min_value": 1},
        reason="an empty export",
    )

    def run(n: int) -> Callable[[], Any]:
        frame = pd.DataFrame({"question": ["q?"] * n, "answer": ["a"] * n})
        return lambda: run_expectations(frame, [spec], tmp_path / "validation")

    _assert_disk_full_keeps_previous(monkeypatch, tmp_path / "validation", run(3), run(5))


def test_drift_reports_disk_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tuneline.drift import detect_question_drift

    reference = [f"How do I reset password number {i}?" for i in range(30)]

    def run(current: list[str]) -> Callable[[], Any]:
        return lambda: detect_question_drift(reference, current, tmp_path / "drift")

    _assert_disk_full_keeps_previous(
        monkeypatch, tmp_path / "drift", run(reference), run([q + " now!!" for q in reference])
    )


# --- a real full filesystem (tmpfs; root only) -------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs; skipped where mounting is not permitted."""
    folder = tmp_path / "small"
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        gc.collect()  # a failed torch.save keeps its file open until its writer is collected
        subprocess.run(["umount", str(folder)], check=True)


def test_prepare_on_a_full_disk_keeps_the_previous_outputs_readable(
    tmp_path: Path, small_disk: Path
) -> None:
    """The issue's case: prepare filled the disk, left a truncated qa.jsonl, and validate then
    crashed with JSONDecodeError. Now: DiskFull naming qa.jsonl, the previous files intact."""
    from tuneline.prepare import prepare_records, read_jsonl

    raw = tmp_path / "raw"
    raw.mkdir()
    qa, quarantine = small_disk / "qa.jsonl", small_disk / "quarantine.jsonl"

    def export(n: int) -> None:
        lines = ["question,answer,category"]
        lines += [f"How do I do thing {i}?,Press button {i} and wait.,billing" for i in range(n)]
        (raw / "export.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    export(50)
    prepare_records(raw, PREPARE, qa, quarantine)
    before = _snapshot(small_disk)
    export(5000)  # ~700 KB of JSONL: does not fit in 256 KiB
    with pytest.raises(atomic.DiskFull) as caught:
        prepare_records(raw, PREPARE, qa, quarantine)
    assert caught.value.message.startswith(f"{qa}: no space left on device")
    assert _snapshot(small_disk) == before
    assert len(read_jsonl(qa)) == 50  # what validate reads: whole, parseable


@pytest.mark.parametrize("library", ["torch.save", "safetensors"])
def test_library_writes_on_a_full_disk_are_said_as_such(small_disk: Path, library: str) -> None:
    """torch.save says only "unexpected pos ..." and safetensors an I/O error; both are a
    full disk, as the Trainer's checkpoint saves meet it."""
    import torch
    from safetensors.torch import save_file

    weights = {"w": torch.zeros(200_000)}  # 800 KB
    target = small_disk / "checkpoint-3" / "weights"
    target.parent.mkdir()
    with pytest.raises(atomic.DiskFull) as caught, atomic.reporting_out_of_space(target.parent):
        if library == "torch.save":
            torch.save(weights, str(target))
        else:
            save_file(weights, str(target))
    assert "no space left on device" in caught.value.message
    assert str(target.parent) in caught.value.message


def test_an_error_with_space_left_is_not_called_disk_full(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="unexpected pos"):
        with atomic.reporting_out_of_space(tmp_path):
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 5 vs 3")
