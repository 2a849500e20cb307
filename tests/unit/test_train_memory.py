"""The memory estimate: right order of magnitude on a known shape, and an early, clear failure."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import train_project

from tuneline import memory
from tuneline.errors import ConfigError
from tuneline.params import load_params

GIB = 1024**3


def _llama_8b() -> object:
    from transformers import LlamaConfig

    return LlamaConfig(  # Llama-3.1-8B's published shape
        vocab_size=128256,
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        tie_word_embeddings=False,
    )


@pytest.fixture(scope="module")
def llama_8b_meta() -> object:
    return memory.meta_model(_llama_8b())


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("p")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        return train_project.make_project(root / "project", train_project.build_base(root / "base"))


@pytest.fixture(scope="module")
def params(project: Path):  # noqa: ANN201 - Params
    return load_params(project / "params.yaml")


def test_llama_8b_nf4_weights_and_lora_size_match_published_figures(llama_8b_meta, params) -> None:
    cfg = replace(
        params.train,
        quantization="nf4",
        lora_r=16,
        target_modules="all-linear",
        batch_size=1,
        max_length=2048,
    )
    est = memory.estimate(llama_8b_meta, cfg, dtype_bytes=2, on_gpu=True)
    # NF4 + double quantisation of the 6.98 B decoder Linear weights: 3.6 GB; embeddings and
    # head (1.05 B) in fp32 after prepare_model_for_kbit_training: 4.2 GB
    assert est.quantised_params == 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336)
    assert est.weights == pytest.approx(6.98e9 * 0.516 + 1.05e9 * 4, rel=0.01)
    # LoRA r=16 on all 7 projections of 32 layers: 41.9 M parameters
    assert est.trainable_params == 32 * 16 * (
        2 * (4096 + 4096) + 2 * (4096 + 1024) + 2 * (4096 + 14336) + (14336 + 4096)
    )
    checkpointed = memory.estimate(
        llama_8b_meta, replace(cfg, gradient_checkpointing=True), dtype_bytes=2, on_gpu=True
    )
    assert checkpointed.activations < est.activations / 4
    none = memory.estimate(llama_8b_meta, replace(cfg, quantization="none"), 2, on_gpu=True)
    assert none.weights == pytest.approx(2 * 8.03e9, rel=0.01)  # bf16, all 8.03 B parameters


def test_listed_target_modules_adapt_fewer_layers(llama_8b_meta) -> None:
    assert len(memory.adapted_layers(llama_8b_meta, "all-linear")) == 32 * 7
    assert len(memory.adapted_layers(llama_8b_meta, ("q_proj", "v_proj"))) == 32 * 2


def test_a_config_too_large_for_the_device_fails_before_loading_weights(
    params, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tuneline import train

    def no_loading(*args: object, **kwargs: object) -> None:
        raise AssertionError("weights were loaded before the memory check")

    monkeypatch.setattr(train, "load_base_model", no_loading)
    huge = replace(params, train=replace(params.train, batch_size=4096, max_length=4096))
    split = project / "data/split"
    with pytest.raises(ConfigError) as err:
        train.train_adapter(
            huge, project, split / "train.jsonl", split / "validation.jsonl", project / "out", {}
        )
    message = err.value.message
    assert "exceeds" in message and "GiB" in message
    assert "train.batch_size (4096)" in message and "gradient_checkpointing" in message


def test_check_fits_passes_when_there_is_room(params) -> None:
    est = memory.MemoryEstimate(1 * GIB, 0, 0, 1 * GIB, 0, 0, 0, 0)
    memory.check_fits(est, 4 * GIB, params.train, "test device")  # no error
    with pytest.raises(ConfigError, match="exceeds 1.80 GiB usable on test device"):
        memory.check_fits(est, 2 * GIB, params.train, "test device")
