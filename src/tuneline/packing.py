"""Batching without waste: examples packed into rows of at most `train.pack_length` tokens.

Padding every example to its batch's longest wastes compute on positions that carry no loss
(36 % of the positions on the Bitext support data at batch 16). Packing puts several examples
back to back in one row instead, with `position_ids` restarting at 0 for each; transformers
(5.x) reads the restarts as sequence boundaries when no attention mask and no KV cache are
passed, and builds a block-diagonal causal mask, so no example sees another's tokens. Loss and
gradients equal those of the padded batch (tests/unit/test_train_batching.py).

Why rows are bounded: with sdpa that mask is dense, so attention costs O(row length^2) per row.
One row per batch (the sum of all its lengths) made attention cost grow with the batch size;
rows of `pack_length` keep it at O(pack_length^2) per row, like padded batches of that width.
Examples are placed by best-fit decreasing (never split), which fills rows to ~97-99 % on real
data; a batch is several rows, each padded only at its tail. The tail padding gets positions
0, 1, 2, ... of its own, i.e. it is one more "example" whose labels are all ignored, so no
attention mask is needed (a 2-D mask would switch the boundary detection off).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from tuneline.errors import ConfigError
from tuneline.prompts import IGNORE_INDEX, PadCollator


def pack_rows(examples: list[dict], capacity: int) -> list[dict]:
    """Examples packed into rows of at most `capacity` tokens by best-fit decreasing.

    Longest first, each into the row with the least space that still holds it (a new row if
    none does). Deterministic (ties go to the earlier example and row), so a resumed run packs
    the same rows. Each row: `input_ids`, `labels`, `position_ids`, `n_examples`.
    """
    order = sorted(range(len(examples)), key=lambda i: (-len(examples[i]["input_ids"]), i))
    rows: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (tokens still free, row number), ascending
    for i in order:
        length = len(examples[i]["input_ids"])
        if length > capacity:
            raise ConfigError(
                f"train.pack_length: {capacity} tokens cannot hold example {i} ({length} "
                "tokens); set pack_length to at least train.max_length"
            )
        at = bisect.bisect_left(free, (length, -1))
        if at == len(free):
            rows.append([i])
            space, row = capacity - length, len(rows) - 1
        else:
            space, row = free.pop(at)
            rows[row].append(i)
            space -= length
        if space:
            bisect.insort(free, (space, row))
    return [concatenate([examples[i] for i in row]) for row in rows]


def concatenate(examples: list[dict]) -> dict:
    """One packed row: the examples back to back, positions restarting at each one."""
    ids: list[int] = []
    labels: list[int] = []
    positions: list[int] = []
    for item in examples:
        ids += item["input_ids"]
        # The first label of each example is masked: its prediction would come from the
        # previous example's last token. It is a prompt token anyway, masked already.
        labels += [IGNORE_INDEX] + item["labels"][1:]
        positions += range(len(item["input_ids"]))
    return {
        "input_ids": ids,
        "labels": labels,
        "position_ids": positions,
        "n_examples": len(examples),
    }


class PackedCollator:
    """A batch of packed rows, each padded at its tail to the batch's longest row."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, rows: list[dict]) -> dict:
        import torch

        width = max(len(row["input_ids"]) for row in rows)
        ids, labels, positions = [], [], []
        for row in rows:
            gap = width - len(row["input_ids"])
            ids.append(row["input_ids"] + [self.pad_token_id] * gap)
            labels.append(row["labels"] + [IGNORE_INDEX] * gap)
            # the tail restarts at 0 too: a sequence of its own that no example attends to
            positions.append(row["position_ids"] + list(range(gap)))
        return {
            "input_ids": torch.tensor(ids),  # (rows, longest row)
            "labels": torch.tensor(labels),
            "position_ids": torch.tensor(positions),
            # transformers detects the packed boundaries only without a mask and a KV cache
            "use_cache": False,
        }


@dataclass(frozen=True)
class BatchPlan:
    """What the Trainer iterates over for one split: items, items per step, their collator."""

    items: list[dict]  # packed rows, or the examples themselves when padded
    per_step: int  # items per device per optimiser step (the Trainer's batch size)
    collator: Any

    @property
    def examples_per_step(self) -> float:
        """Mean examples per optimiser step (per device): what `train.batch_size` asks for."""
        examples = sum(item.get("n_examples", 1) for item in self.items)
        return examples / len(self.items) * self.per_step if self.items else 0.0


def plan_batches(
    examples: list[dict], batching: str, batch_size: int, pack_length: int, pad_token_id: int
) -> BatchPlan:
    """Items and batch size for `train.batching`.

    Packed: `batch_size` keeps its meaning of examples per optimiser step, on average: a step
    takes round(batch_size x rows / examples) rows (at least one), so the number of steps per
    epoch, and with it the learning-rate schedule and `eval_steps`, stays what it would be with
    padded batches of `batch_size` examples. Padded: `batch_size` examples, padded to the longest.
    """
    if batching == "packed":
        rows = pack_rows(examples, pack_length)
        per_step = max(1, round(batch_size * len(rows) / len(examples))) if examples else 1
        return BatchPlan(rows, per_step, PackedCollator(pad_token_id))
    return BatchPlan(examples, batch_size, PadCollator(pad_token_id))


def shuffled_batches(n_items: int, batch_size: int, seed: int) -> list[list[int]]:
    """Item indices of one epoch's batches, in a seeded random order (like the Trainer's)."""
    import torch

    order = torch.randperm(n_items, generator=torch.Generator().manual_seed(seed)).tolist()
    return [order[i : i + batch_size] for i in range(0, n_items, batch_size)]


def measured_padding_share(collator: Any, items: list[dict], batches: list[list[int]]) -> float:
    """Share of the positions the collator emits that hold no example token (padding).

    Measured on the collator's real output, so it is the figure the model actually computes on.
    """
    slots = real = 0
    for batch in batches:
        chosen = [items[i] for i in batch]
        slots += collator(chosen)["input_ids"].numel()
        real += sum(len(item["input_ids"]) for item in chosen)
    return 1 - real / slots if slots else 0.0


def plan_padding_share(plan: BatchPlan, seed: int) -> float:
    """The padding share of one epoch of `plan`, batched in a seeded random order."""
    batches = shuffled_batches(len(plan.items), plan.per_step, seed)
    return measured_padding_share(plan.collator, plan.items, batches)
