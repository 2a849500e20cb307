"""One prompt format for training, evaluation and serving, and loss on answer tokens only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

IGNORE_INDEX = -100  # label value the loss skips: every prompt position gets it


def build_prompt(tokenizer: Any, question: str, system_prompt: str) -> str:
    """The text the model sees before its answer (the tokenizer's chat template if it has one)."""
    messages = [{"role": "user", "content": question}]
    if system_prompt:
        messages.insert(0, {"role": "system", "content": system_prompt})
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # Documented default for tokenizers without a template.
    head = f"System: {system_prompt}\n" if system_prompt else ""
    return f"{head}Question: {question}\nAnswer: "


def encode_example(tokenizer: Any, record: dict, system_prompt: str, max_length: int) -> dict:
    """Token ids and labels for one Q/A pair; labels mask every prompt position."""
    prompt = build_prompt(tokenizer, record["question"], system_prompt)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(record["answer"], add_special_tokens=False)["input_ids"]
    answer_ids = answer_ids + [tokenizer.eos_token_id]  # the model learns where to stop
    # Keep at least a quarter of the budget for the answer: a prompt-only example teaches nothing.
    prompt_ids = prompt_ids[-max(1, max_length - max(len(answer_ids), max_length // 4)) :]
    input_ids = (prompt_ids + answer_ids)[:max_length]
    labels = ([IGNORE_INDEX] * len(prompt_ids) + answer_ids)[:max_length]
    return {"input_ids": input_ids, "labels": labels}


def example_tokens(tokenizer: Any, question: str, answer: str, system_prompt: str) -> int:
    """Tokens of one example as `encode_example` builds it, before any truncation."""
    prompt = build_prompt(tokenizer, question, system_prompt)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    return len(prompt_ids) + len(tokenizer(answer, add_special_tokens=False)["input_ids"]) + 1


def context_check(
    tokenizer: Any, system_prompt: str, max_tokens: int
) -> Callable[[str, str], bool]:
    """`fits(question, answer)`: does the example fit `max_tokens`, counted with `tokenizer`?

    Byte-level BPE and byte-fallback tokenizers never make more tokens than UTF-8 bytes, so
    examples whose byte count is within budget are accepted without tokenising (most rows).
    """
    overhead = len(build_prompt(tokenizer, "", system_prompt).encode("utf-8")) + 1  # + eos

    def fits(question: str, answer: str) -> bool:
        if overhead + len(question.encode("utf-8")) + len(answer.encode("utf-8")) <= max_tokens:
            return True
        return example_tokens(tokenizer, question, answer, system_prompt) <= max_tokens

    return fits


class PadCollator:
    """Pads a batch to its longest example; padded positions are masked and carry no loss."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, batch: list[dict]) -> dict:
        import torch

        width = max(len(item["input_ids"]) for item in batch)
        ids, labels, mask = [], [], []
        for item in batch:
            gap = width - len(item["input_ids"])
            ids.append(item["input_ids"] + [self.pad_token_id] * gap)
            labels.append(item["labels"] + [IGNORE_INDEX] * gap)
            mask.append([1] * len(item["input_ids"]) + [0] * gap)
        return {
            "input_ids": torch.tensor(ids),
            "labels": torch.tensor(labels),
            "attention_mask": torch.tensor(mask),
        }


def padding_share(examples: list[dict], batch_size: int) -> float:
    """Share of padded positions when `examples` are batched in order and padded per batch."""
    padded = real = 0
    for start in range(0, len(examples), batch_size):
        lengths = [len(e["input_ids"]) for e in examples[start : start + batch_size]]
        real += sum(lengths)
        padded += max(lengths) * len(lengths)
    return 1 - real / padded if padded else 0.0
