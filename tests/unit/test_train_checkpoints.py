"""Which checkpoint a resume starts from: only complete ones, only of the same configuration."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tuneline import checkpoints as ckpt


def _checkpoint(root: Path, step: int, complete: bool) -> Path:
    folder = root / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(b"x" * 64)
    if complete:
        ckpt.mark_complete(folder, step)
    return folder


def test_a_half_written_newer_checkpoint_is_ignored(tmp_path: Path) -> None:
    _checkpoint(tmp_path, 3, complete=True)
    six = _checkpoint(tmp_path, 6, complete=True)
    half = _checkpoint(tmp_path, 9, complete=False)  # killed while saving: no marker
    assert ckpt.latest_complete(tmp_path) == six
    ckpt.prune(tmp_path, keep=six)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-6"]
    assert not half.exists()


def test_no_complete_checkpoint_means_a_fresh_start(tmp_path: Path) -> None:
    _checkpoint(tmp_path, 4, complete=False)
    assert ckpt.latest_complete(tmp_path) is None
    assert ckpt.latest_complete(tmp_path / "missing") is None


def test_steps_compare_as_numbers_not_text(tmp_path: Path) -> None:
    _checkpoint(tmp_path, 9, complete=True)
    ten = _checkpoint(tmp_path, 10, complete=True)
    assert ckpt.latest_complete(tmp_path) == ten


def test_checkpoints_of_another_configuration_are_discarded(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    a = ckpt.fingerprint({"train": {"lora_r": 16}, "data": "aa"})
    b = ckpt.fingerprint({"train": {"lora_r": 8}, "data": "aa"})
    assert not ckpt.prepare_dir(folder, a)  # nothing to resume yet
    _checkpoint(folder, 5, complete=True)
    assert ckpt.prepare_dir(folder, a)  # same configuration: kept
    assert ckpt.latest_complete(folder) is not None
    assert not ckpt.prepare_dir(folder, b)  # changed lora_r: starts afresh
    assert ckpt.latest_complete(folder) is None


def test_best_weights_travel_with_the_checkpoint(tmp_path: Path) -> None:
    import torch

    folder = _checkpoint(tmp_path, 12, complete=False)
    assert ckpt.load_best(folder) is None
    weights = {"lora_A": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    ckpt.save_best(folder, weights, {"step": 12, "epoch": 1.0, "eval_loss": 2.5})
    loaded, info = ckpt.load_best(folder) or ({}, {})
    assert torch.equal(loaded["lora_A"], weights["lora_A"])
    assert info == {"step": 12, "epoch": 1.0, "eval_loss": 2.5}


def test_the_checkpoint_folder_itself_is_never_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It may be a mount point or a folder someone else owns: only its contents are cleared."""
    import shutil

    folder = tmp_path / "checkpoints"
    a, b = ckpt.fingerprint({"lora_r": 16}), ckpt.fingerprint({"lora_r": 8})
    ckpt.prepare_dir(folder, a)
    _checkpoint(folder, 5, complete=True)
    (folder / "lost+found").mkdir()  # a mounted filesystem's own folder
    inode = folder.stat().st_ino
    real = shutil.rmtree

    def rmtree(path: object, *args: object, **kwargs: object) -> None:
        assert Path(str(path)).resolve() != folder.resolve(), "removed the folder it was given"
        real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(shutil, "rmtree", rmtree)
    assert not ckpt.prepare_dir(folder, b)
    assert folder.stat().st_ino == inode
    assert sorted(p.name for p in folder.iterdir()) == [ckpt.FINGERPRINT, "lost+found"]
    ckpt.clear(folder)  # what a finished training does
    assert folder.stat().st_ino == inode
    assert [p.name for p in folder.iterdir()] == ["lost+found"]


@pytest.fixture
def mount_point(tmp_path: Path) -> Iterator[Path]:
    """A real tmpfs mounted on a folder (root only; skipped where mounting is not permitted)."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_mount_point_as_checkpoint_folder(mount_point: Path) -> None:
    a, b = ckpt.fingerprint({"lora_r": 16}), ckpt.fingerprint({"lora_r": 8})
    assert not ckpt.prepare_dir(mount_point, a)
    _checkpoint(mount_point, 3, complete=True)
    assert not ckpt.prepare_dir(mount_point, b)  # another configuration: cleared, not removed
    assert os.path.ismount(mount_point)
    assert ckpt.latest_complete(mount_point) is None
    ckpt.clear(mount_point)
    assert os.path.ismount(mount_point) and not any(mount_point.iterdir())
