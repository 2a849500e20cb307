"""evaluate_models on a tiny model built offline: real generation through peft adapters.

The base (adapters disabled), a zero-initialised adapter (the same function as the base) and a
random adapter answer the same questions. A zero adapter must score exactly like the base with
intervals that contain 0: if it did not, the evaluation would be measuring noise or mixing
adapters up.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest

from tuneline.params import DemoModelParams, Params, load_params

PARAMS_YAML = Path(__file__).resolve().parents[2] / "params.yaml"
SYSTEM = "You are the support assistant. Answer briefly."
QA = [
    ("How do I reset my password?", "Use the reset link on the sign-in page.", "account"),
    ("Where is my order?", "Track it from your account page under Orders.", "shipping"),
    ("Can I return a jacket?", "Returns are accepted within thirty days.", "returns"),
    ("Do you ship abroad?", "We ship to most countries in Europe.", "shipping"),
    ("How do I change my e-mail?", "Open settings and edit your profile.", "account"),
    ("Is the tent waterproof?", "Yes, it is rated for heavy rain.", ""),
]
TINY = DemoModelParams(
    vocab_size=300, hidden_size=16, layers=1, heads=2, max_positions=128, pretrain_epochs=0, seed=0
)


def _save_adapter(base_dir: Path, out: Path, random_init: bool) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(str(base_dir))
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["q_proj", "v_proj", "down_proj"],
        init_lora_weights=not random_init,  # False: B is random too, so the adapter changes answers
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, config)
    if random_init:
        with torch.no_grad():
            for name, weight in peft_model.named_parameters():
                if "lora_B" in name:
                    weight.normal_(0, 2.0)
    peft_model.save_pretrained(str(out))
    return out


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from tuneline.base_model import build_demo_model

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")  # a download attempt fails instead of hanging
        root = tmp_path_factory.mktemp("project")
        corpus = [SYSTEM] + [text for q, a, _ in QA for text in (q, a)]
        build_demo_model(corpus, root / "base", TINY)
        test = root / "test.jsonl"
        test.write_text(
            "".join(
                json.dumps({"question": q, "answer": a} | ({"category": c} if c else {})) + "\n"
                for q, a, c in QA
            ),
            encoding="utf-8",
        )
        return {
            "root": root,
            "test": test,
            "zero": _save_adapter(root / "base", root / "zero", random_init=False),
            "random": _save_adapter(root / "base", root / "random", random_init=True),
        }


def _params() -> Params:
    params = load_params(PARAMS_YAML)
    return dataclasses.replace(
        params,
        model=dataclasses.replace(params.model, source="local", base="base", system_prompt=SYSTEM),
        train=dataclasses.replace(params.train, quantization="none", max_length=96),
        evaluate=dataclasses.replace(
            params.evaluate,
            max_new_tokens=6,
            batch_size=4,
            latency_examples=2,
            samples_to_show=3,
            regressions_to_show=1,
            bootstrap_samples=100,
        ),
    )


def test_zero_adapter_scores_exactly_like_the_base(project: dict[str, Any]) -> None:
    from tuneline.evaluate import evaluate_models

    report = evaluate_models(
        _params(), project["root"], project["test"], project["zero"], None, None
    )
    base, candidate = report.models["base"], report.models["candidate"]
    assert report.examples == len(QA)
    for metric in ("exact_match", "token_f1", "rouge_l", "chrf", "perplexity"):
        assert getattr(candidate, metric) == pytest.approx(getattr(base, metric)), metric
        interval = report.differences["candidate_vs_base"][metric]
        assert interval["low"] <= 0 <= interval["high"], metric
    assert math.isfinite(base.perplexity) and base.perplexity > 1
    assert base.latency_p50_s > 0 and base.tokens_per_s > 0
    assert set(report.categories) == {"account", "shipping", "returns", "-"}
    assert report.judge["status"] == "disabled"
    assert [g["name"] for g in report.gates][-1] == "latency_p95"


def test_adapters_change_answers_and_the_champion_joins(project: dict[str, Any]) -> None:
    from tuneline.evaluate import evaluate_models

    report = evaluate_models(
        _params(),
        project["root"],
        project["test"],
        project["random"],
        project["zero"],
        "1",
        champion_seen="1",
    )
    assert set(report.models) == {"base", "candidate", "champion"}
    assert report.champion_version == "1" and report.champion_seen == "1"
    # the zero-initialised champion is the base; the random candidate is a different model
    assert report.models["champion"].perplexity == pytest.approx(report.models["base"].perplexity)
    assert report.models["candidate"].perplexity != pytest.approx(report.models["base"].perplexity)
    assert any(s["candidate"] != s["base"] for s in report.samples)
    assert "candidate_vs_champion" in report.differences
    assert "after - champion (95 % CI)" in report.table_markdown
