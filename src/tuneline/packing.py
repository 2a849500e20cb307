"""Batching without padding: a batch's examples share one row and each attends only to itself.

Padding to the longest example in a batch wastes compute on positions that carry no loss (on
short support answers, a third or more of every batch). `PackedCollator` concatenates the
examples instead and restarts `position_ids` at 0 for each one; transformers (5.x) reads the
restarts as sequence boundaries (when neither an attention mask nor a KV cache is passed) and
builds a block-diagonal causal mask (sdpa/eager) or variable-length kernels (flash attention),
so no example sees another's tokens. Loss and gradients equal those of the padded batch
(tests/unit/test_train_batching.py). Trade-off: with sdpa the mask is dense, so attention costs
O((sum of lengths)^2) per batch; docs/benchmarks.md shows where that matters.
"""

from __future__ import annotations

from typing import Any

from tuneline.prompts import IGNORE_INDEX, PadCollator


class PackedCollator:
    """One row per batch: examples back to back, positions restarting at each one, no padding."""

    def __call__(self, batch: list[dict]) -> dict:
        import torch

        ids: list[int] = []
        labels: list[int] = []
        positions: list[int] = []
        for item in batch:
            ids += item["input_ids"]
            # The first label of each example is masked: its prediction would come from the
            # previous example's last token. It is a prompt token anyway, masked already.
            labels += [IGNORE_INDEX] + item["labels"][1:]
            positions += range(len(item["input_ids"]))
        return {
            "input_ids": torch.tensor([ids]),  # (1, sum of lengths)
            "labels": torch.tensor([labels]),
            "position_ids": torch.tensor([positions]),
            # transformers detects the packed boundaries only without a KV cache
            "use_cache": False,
        }


def make_collator(batching: str, pad_token_id: int) -> Any:
    """The collator for `train.batching`: packed (no padding) or padded (the naive one)."""
    if batching == "packed":
        return PackedCollator()
    return PadCollator(pad_token_id)


def shuffled_batches(n_examples: int, batch_size: int, seed: int) -> list[list[int]]:
    """Example indices of one epoch's batches, in a seeded random order (like the Trainer's)."""
    import torch

    order = torch.randperm(n_examples, generator=torch.Generator().manual_seed(seed)).tolist()
    return [order[i : i + batch_size] for i in range(0, n_examples, batch_size)]


def measured_padding_share(collator: Any, examples: list[dict], batches: list[list[int]]) -> float:
    """Share of the positions the collator emits that hold no example token (padding).

    Measured on the collator's real output, so it is the figure the model actually computes on.
    """
    slots = real = 0
    for batch in batches:
        items = [examples[i] for i in batch]
        slots += collator(items)["input_ids"].numel()
        real += sum(len(item["input_ids"]) for item in items)
    return 1 - real / slots if slots else 0.0
