"""An adapter is only comparable on the exact base weights it was trained on."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from tuneline.base_model import BaseModelRef, same_base

REF = BaseModelRef("local", "models/demo-base", None, {"model.safetensors": "ab" * 32})


def _recorded(tmp_path: Path, ref: BaseModelRef) -> Path:
    path = tmp_path / "base_model.json"
    path.write_text(ref.to_json(), encoding="utf-8")
    return path


def test_same_weights_are_the_same_base(tmp_path: Path) -> None:
    assert same_base(_recorded(tmp_path, REF), REF)


def test_other_weights_under_the_same_path_are_another_base(tmp_path: Path) -> None:
    rebuilt = BaseModelRef(**(asdict(REF) | {"weight_sha256": {"model.safetensors": "cd" * 32}}))
    assert not same_base(_recorded(tmp_path, REF), rebuilt)


def test_another_hub_revision_is_another_base(tmp_path: Path) -> None:
    a = BaseModelRef("hub", "org/model", "1" * 40, {})
    b = BaseModelRef("hub", "org/model", "2" * 40, {})
    assert not same_base(_recorded(tmp_path, a), b)


def test_an_adapter_without_a_base_reference_is_not_comparable(tmp_path: Path) -> None:
    assert not same_base(tmp_path / "missing.json", REF)
