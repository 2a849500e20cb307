"""The merged model answers exactly like base + adapter; merging into 4-bit is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import train_project

from tuneline.errors import ConfigError
from tuneline.merge import merge_adapter
from tuneline.params import load_params
from tuneline.prompts import build_prompt

QUESTIONS = ["Where is my order?", "Can I return a jacket?", "How do I reset my password?"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("merge")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        return train_project.make_project(root / "project", train_project.build_base(root / "b"))


def _trained_looking_adapter(project: Path) -> Path:
    """An adapter with non-zero weights (LoRA's B starts at zero, which would merge to nothing)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tuneline.base_model import resolve_base

    params = load_params(project / "params.yaml")
    base = AutoModelForCausalLM.from_pretrained(str(project / "models/demo-base"))
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if "lora_B" in name:
                weight.normal_(0, 0.5)
    out = project / "models/adapter"
    model.save_pretrained(str(out))
    (out / "base_model.json").write_text(resolve_base(params.model, project).to_json())
    return out


def _greedy(model: Any, tokenizer: Any, system: str) -> list[list[int]]:
    import torch

    answers = []
    for question in QUESTIONS:
        ids = tokenizer(build_prompt(tokenizer, question, system), return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=12, do_sample=False)
        answers.append(out[0, ids["input_ids"].shape[1] :].tolist())
    return answers


def test_merged_and_unmerged_give_the_same_greedy_answers(project: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    params = load_params(project / "params.yaml")
    adapter = _trained_looking_adapter(project)
    merged_dir = merge_adapter(params, project, adapter, project / "models/merged", "fp32")

    tokenizer = AutoTokenizer.from_pretrained(str(merged_dir))
    base = AutoModelForCausalLM.from_pretrained(str(project / "models/demo-base")).eval()
    plain_answers = _greedy(base, tokenizer, params.model.system_prompt)
    unmerged = PeftModel.from_pretrained(base, str(adapter)).eval()
    merged = AutoModelForCausalLM.from_pretrained(str(merged_dir)).eval()
    system = params.model.system_prompt

    assert _greedy(merged, tokenizer, system) == _greedy(unmerged, tokenizer, system)
    assert _greedy(merged, tokenizer, system) != plain_answers  # the adapter did change answers
    assert list(merged_dir.glob("*.safetensors")) and (merged_dir / "merge.json").is_file()


def test_merge_loads_an_unquantised_base_and_refuses_a_4_bit_one(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tuneline.merge as merge
    from tuneline.base_model import load_base_model

    params = load_params(project / "params.yaml")
    adapter = _trained_looking_adapter(project)
    loaded: list[str] = []

    def recording_load(model_params, root, quantization):  # noqa: ANN001, ANN202
        loaded.append(quantization)
        return load_base_model(model_params, root, quantization)

    monkeypatch.setattr(merge, "load_base_model", recording_load)
    merge_adapter(params, project, adapter, project / "models/merged-check", "fp32")
    assert loaded == ["none"]  # merged into full-precision weights, never the 4-bit ones

    quantised = load_base_model(params.model, project, "nf4")
    monkeypatch.setattr(merge, "load_base_model", lambda *args: quantised)
    with pytest.raises(ConfigError, match="bf16/fp32 copy"):  # the guard on the real path
        merge_adapter(params, project, adapter, project / "models/merged-4bit", "fp32")
    assert not (project / "models/merged-4bit").exists()


def test_an_adapter_from_other_base_weights_is_not_merged(project: Path, tmp_path: Path) -> None:
    params = load_params(project / "params.yaml")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "base_model.json").write_text('{"source": "hub", "base": "x", "revision": "1"}')
    with pytest.raises(ConfigError, match="other base weights"):
        merge_adapter(params, project, adapter, tmp_path / "out", "bf16")
