"""Which checkpoint a resume starts from: only complete ones, only of the same configuration."""

from __future__ import annotations

from pathlib import Path

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
