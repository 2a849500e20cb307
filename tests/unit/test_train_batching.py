"""Packed batches: rows of at most pack_length tokens, no attention across examples, the same
loss as padded batches, and the padding share the issue targets.

A packed row that let one example attend to another (or its tail padding), or position ids
that did not restart, would change every loss value; comparing with the padded batch on the
same model catches both. The padding figure on the real Bitext data is the one the issue
targets (<= 3 %).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
import train_project
import yaml

from tuneline.errors import ConfigError
from tuneline.packing import (
    PackedCollator,
    concatenate,
    pack_rows,
    plan_batches,
    plan_padding_share,
    shuffled_batches,
)
from tuneline.prompts import IGNORE_INDEX, PadCollator, encode_example

BITEXT = Path(__file__).resolve().parents[3] / "shared/data/bitext_customer_support_4514.csv"
PARAMS_YAML = Path(__file__).resolve().parents[2] / "params.yaml"
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


def _made(*lengths: int) -> list[dict]:
    """Hand-made examples: ids 100 + example number, first label a prompt token."""
    return [
        {"input_ids": [100 + k] * n, "labels": [IGNORE_INDEX] + [100 + k] * (n - 1)}
        for k, n in enumerate(lengths)
    ]


def test_best_fit_decreasing_fills_rows_and_never_splits_an_example() -> None:
    rows = pack_rows(_made(3, 6, 2, 5, 4), capacity=10)
    # longest first: 6 -> row 0; 5 -> row 1; 4 fits row 0 exactly (best fit, not first fit
    # with more room); 3 and 2 fill row 1
    assert [sorted(set(r["input_ids"])) for r in rows] == [[101, 104], [100, 102, 103]]
    assert [len(r["input_ids"]) for r in rows] == [10, 10]
    assert [r["n_examples"] for r in rows] == [2, 3]
    assert rows[1]["position_ids"] == [0, 1, 2, 3, 4, 0, 1, 2, 0, 1]
    # each example's first label masked: it would be predicted from the previous example
    first = IGNORE_INDEX
    assert rows[1]["labels"] == [first, 103, 103, 103, 103, first, 100, 100, first, 102]


def test_an_example_longer_than_a_row_is_refused_with_the_key_to_change() -> None:
    with pytest.raises(ConfigError, match=r"train.pack_length: 8 tokens cannot hold example 1"):
        pack_rows(_made(3, 9), capacity=8)


def test_packed_collator_pads_only_row_tails_as_a_sequence_of_their_own() -> None:
    rows = [concatenate(_made(3, 2)), concatenate(_made(2))]
    out = PackedCollator(pad_token_id=0)(rows)
    assert out["input_ids"].tolist() == [[100, 100, 100, 101, 101], [100, 100, 0, 0, 0]]
    assert out["position_ids"].tolist() == [[0, 1, 2, 0, 1], [0, 1, 0, 1, 2]]
    assert out["labels"].tolist() == [
        [IGNORE_INDEX, 100, 100, IGNORE_INDEX, 101],
        [IGNORE_INDEX, 100, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX],
    ]
    assert "attention_mask" not in out  # a mask would switch off the packed-sequence detection


def test_packed_rows_give_the_padded_loss_and_each_example_its_own_logits(
    tiny: tuple[Any, Any],
) -> None:
    import torch

    model, tokenizer = tiny
    examples = _examples(tokenizer, 8)
    longest = max(len(e["input_ids"]) for e in examples)
    rows = pack_rows(examples, capacity=longest + 20)
    assert len(rows) > 1  # precondition: several rows, tails padded to the longest row
    assert len({len(r["input_ids"]) for r in rows}) > 1
    collate = PackedCollator(tokenizer.pad_token_id)
    # the last example of the shortest row is followed by tail padding in the batch
    short = min(rows, key=lambda r: len(r["input_ids"]))
    start = len(short["position_ids"]) - short["position_ids"][::-1].index(0) - 1
    last = {"input_ids": short["input_ids"][start:], "labels": short["labels"][start:]}
    with torch.no_grad():
        padded = model(**PadCollator(tokenizer.pad_token_id)(examples)).loss
        batch = collate(rows)
        packed = model(**batch).loss
        row = rows.index(short)
        in_pack = model(**batch).logits[row, start : len(short["input_ids"])]
        by_itself = model(**collate([concatenate([last])])).logits[0]
        alone = model(**collate([concatenate([last])])).loss
    assert packed.item() == pytest.approx(padded.item(), abs=1e-5)
    assert torch.allclose(in_pack, by_itself, atol=1e-5)
    assert alone.item() != pytest.approx(packed.item(), abs=1e-3)  # the comparison has teeth


def test_a_packed_step_takes_batch_size_examples_on_average(tiny: tuple[Any, Any]) -> None:
    _, tokenizer = tiny
    examples = _examples(tokenizer, 60)
    plan = plan_batches(examples, "packed", 8, 240, tokenizer.pad_token_id)
    assert sum(r["n_examples"] for r in plan.items) == len(examples)
    assert 1 < plan.per_step < 8  # whole rows, several examples each
    assert plan.examples_per_step == pytest.approx(8, rel=0.25)
    padded = plan_batches(examples, "padded", 8, 240, tokenizer.pad_token_id)
    assert padded.items is examples and padded.per_step == 8
    assert isinstance(padded.collator, PadCollator)


def test_padding_share_packed_is_small_and_naive_is_measured(tiny: tuple[Any, Any]) -> None:
    _, tokenizer = tiny
    examples = _examples(tokenizer, 80)
    packed = plan_padding_share(
        plan_batches(examples, "packed", 8, 240, tokenizer.pad_token_id), seed=1
    )
    naive = plan_padding_share(
        plan_batches(examples, "padded", 8, 240, tokenizer.pad_token_id), seed=1
    )
    lengths = [len(e["input_ids"]) for e in examples]
    batches = shuffled_batches(len(examples), 8, seed=1)
    slots = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    assert naive == pytest.approx(1 - sum(lengths) / slots)  # computed independently
    assert naive > 0.05
    # 80 short examples leave few small ones to fill the gaps; thousands fill rows to ~99 %
    assert 0 <= packed < naive / 4


def test_pack_length_shorter_than_max_length_fails_at_load(tmp_path: Path) -> None:
    from tuneline.params import load_params

    raw = yaml.safe_load(PARAMS_YAML.read_text(encoding="utf-8"))
    raw["train"] |= {"max_length": 256, "pack_length": 200}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"train.pack_length: 200 tokens is shorter than"):
        load_params(path)


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
    pad = tokenizer.pad_token_id
    figures = {}
    # max_length 1024 keeps every example whole (the longest has 679 tokens); 256 cuts 11 % of
    # them to the cap, and rows of exactly 256 then hold one such example each
    for max_length, pack_lengths in ((1024, (1024,)), (256, (256, 512))):
        examples = [encode_example(tokenizer, r, SYSTEM, max_length=max_length) for r in rows]
        naive = plan_padding_share(plan_batches(examples, "padded", 16, 0, pad), seed=42)
        for pack_length in pack_lengths:
            plan = plan_batches(examples, "packed", 16, pack_length, pad)
            figures[max_length, pack_length] = (plan_padding_share(plan, seed=42), naive)
            print(
                f"Bitext {len(rows)} rows, batch 16, max_length {max_length}, pack_length "
                f"{pack_length}: packed {figures[max_length, pack_length][0]:.1%} "
                f"({plan.examples_per_step:.1f} examples/step), naive collator {naive:.1%}"
            )
            # batch_size keeps its meaning: ~16 examples per step, whatever the row length
            assert plan.examples_per_step == pytest.approx(16, abs=1)
    assert figures[1024, 1024][0] <= 0.03
    assert figures[256, 512][0] <= 0.03  # the default ratio, pack_length = 2 x max_length
    assert all(naive > 0.2 for _, naive in figures.values())  # what packing saves here
