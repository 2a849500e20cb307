"""Packed batches: no padding, no attention across examples, the same loss as padded batches.

A packed row that let one example attend to another, or position ids that did not restart,
would change every loss value; comparing with the padded batch on the same model catches both.
The padding figure on the real Bitext data is the one the issue targets (<= 3 %).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
import train_project

from tuneline.packing import (
    PackedCollator,
    make_collator,
    measured_padding_share,
    shuffled_batches,
)
from tuneline.prompts import IGNORE_INDEX, PadCollator, encode_example

BITEXT = Path(__file__).resolve().parents[3] / "shared/data/bitext_customer_support_4514.csv"
SYSTEM = "You are the support assistant. Answer briefly."


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = train_project.build_base(tmp_path_factory.mktemp("base") / "demo-base")
        model = AutoModelForCausalLM.from_pretrained(str(path)).eval()
        return model, AutoTokenizer.from_pretrained(str(path))


def _examples(tokenizer: Any, n: int) -> list[dict]:
    """Sample questions with answers cut to 2-25 words: lengths differ, as in real data."""
    rows = train_project.support_rows(n, seed=9)
    cut = [
        {
            "question": r["question"][:60],
            "answer": " ".join(r["answer"].split()[: 2 + (7 * i) % 24]),
        }
        for i, r in enumerate(rows)
    ]
    return [encode_example(tokenizer, r, "", max_length=120) for r in cut]


def test_packed_collator_restarts_positions_and_masks_each_first_label() -> None:
    batch = [
        {"input_ids": [5, 6, 7], "labels": [IGNORE_INDEX, 6, 7]},
        {"input_ids": [8, 9], "labels": [IGNORE_INDEX, 9]},
    ]
    out = PackedCollator()(batch)
    assert out["input_ids"].tolist() == [[5, 6, 7, 8, 9]]
    assert out["position_ids"].tolist() == [[0, 1, 2, 0, 1]]
    assert out["labels"].tolist() == [[IGNORE_INDEX, 6, 7, IGNORE_INDEX, 9]]
    assert "attention_mask" not in out  # a mask would switch off the packed-sequence detection


def test_packed_loss_equals_padded_loss(tiny: tuple[Any, Any]) -> None:
    import torch

    model, tokenizer = tiny
    examples = _examples(tokenizer, 6)
    assert len({len(e["input_ids"]) for e in examples}) > 1  # precondition: padding would occur
    with torch.no_grad():
        padded = model(**PadCollator(tokenizer.pad_token_id)(examples)).loss
        packed = model(**PackedCollator()(examples)).loss
        # the same examples, alone: a packed row must not let them see each other
        alone = model(**PackedCollator()(examples[-1:])).loss
        in_pack = model(**PackedCollator()(examples)).logits[0, -len(examples[-1]["input_ids"]) :]
        by_itself = model(**PackedCollator()(examples[-1:])).logits[0]
    assert packed.item() == pytest.approx(padded.item(), abs=1e-5)
    assert torch.allclose(in_pack, by_itself, atol=1e-5)
    assert alone.item() != pytest.approx(packed.item(), abs=1e-3)  # the comparison has teeth


def test_padding_share_packed_is_zero_and_naive_is_measured(tiny: tuple[Any, Any]) -> None:
    _, tokenizer = tiny
    examples = _examples(tokenizer, 40)
    batches = shuffled_batches(len(examples), 8, seed=1)
    packed = measured_padding_share(
        make_collator("packed", tokenizer.pad_token_id), examples, batches
    )
    naive = measured_padding_share(
        make_collator("padded", tokenizer.pad_token_id), examples, batches
    )
    assert packed == 0.0
    lengths = [len(e["input_ids"]) for e in examples]
    slots = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    assert naive == pytest.approx(1 - sum(lengths) / slots)  # computed independently
    assert naive > 0.05


@pytest.mark.skipif(not BITEXT.is_file(), reason="../shared/data not present")
def test_padding_share_on_bitext_is_at_most_3_percent(tmp_path: Path) -> None:
    from tuneline.base_model import build_demo_model
    from tuneline.params import DemoModelParams

    with BITEXT.open(encoding="utf-8", newline="") as handle:
        rows = [
            {"question": r["instruction"], "answer": r["response"]} for r in csv.DictReader(handle)
        ]
    corpus = [r["question"] for r in rows[:1500]] + [r["answer"] for r in rows[:1500]]
    params = DemoModelParams(
        vocab_size=2000,
        hidden_size=64,
        layers=1,
        heads=2,
        max_positions=64,
        pretrain_epochs=0,
        seed=0,
    )
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(build_demo_model(corpus, tmp_path, params)))
    examples = [encode_example(tokenizer, r, SYSTEM, max_length=1024) for r in rows]
    batches = shuffled_batches(len(examples), 16, seed=42)
    packed = measured_padding_share(PackedCollator(), examples, batches)
    naive = measured_padding_share(PadCollator(tokenizer.pad_token_id), examples, batches)
    print(f"Bitext {len(rows)} rows, batch 16: packed {packed:.1%}, naive collator {naive:.1%}")
    assert packed <= 0.03
    assert naive > 0.2  # what packing saves on this data
