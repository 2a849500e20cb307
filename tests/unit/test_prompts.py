"""Prompt encoding with a tiny tokenizer built offline: the loss sees answer tokens only.

A label of -100 on an answer token would silently stop the model learning that token; a real
label on a prompt token would teach it to predict the question. Both are checked position by
position against prompt and answer ids computed here, independently of encode_example.
"""

from __future__ import annotations

from typing import Any

import pytest

from tuneline.params import DemoModelParams
from tuneline.prompts import IGNORE_INDEX, PadCollator, build_prompt, encode_example, padding_share

SYSTEM = "You are the support assistant. Answer briefly."
CORPUS = [
    SYSTEM,
    "How do I reset my password?",
    "Use the reset link on the sign-in page.",
    "Where is my order?",
    "Track it from your account page under Orders.",
    "Can I return a jacket after thirty days?",
    "Returns are accepted within thirty days of delivery.",
]
TINY = DemoModelParams(
    vocab_size=300, hidden_size=16, layers=1, heads=2, max_positions=64, pretrain_epochs=0, seed=0
)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tuneline.base_model import build_demo_model

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")  # a download attempt fails instead of hanging
        from transformers import AutoTokenizer

        path = build_demo_model(CORPUS, tmp_path_factory.mktemp("demo-base"), TINY)
        return AutoTokenizer.from_pretrained(str(path))


def _ids(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _expected_prompt_ids(tokenizer: Any, question: str) -> list[int]:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return _ids(tokenizer, text)


def test_prompt_uses_the_chat_template_and_ends_at_the_assistant_turn(tokenizer: Any) -> None:
    prompt = build_prompt(tokenizer, "Where is my order?", SYSTEM)
    assert prompt.startswith(f"<|system|>{SYSTEM}")
    assert "<|user|>Where is my order?" in prompt
    assert prompt.endswith("<|assistant|>")


def test_every_prompt_position_masked_and_no_answer_position(tokenizer: Any) -> None:
    record = {
        "question": "How do I reset my password?",
        "answer": "Use the reset link on the sign-in page.",
    }
    prompt_ids = _expected_prompt_ids(tokenizer, record["question"])
    answer_ids = _ids(tokenizer, record["answer"]) + [tokenizer.eos_token_id]

    example = encode_example(tokenizer, record, SYSTEM, max_length=512)

    n = len(prompt_ids)
    assert example["input_ids"] == prompt_ids + answer_ids
    assert len(example["labels"]) == len(example["input_ids"])
    assert example["labels"][:n] == [IGNORE_INDEX] * n
    assert example["labels"][n:] == answer_ids  # includes the final eos
    assert example["labels"][-1] == tokenizer.eos_token_id
    assert IGNORE_INDEX not in example["labels"][n:]


def test_labels_equal_input_ids_wherever_not_masked(tokenizer: Any) -> None:
    record = {"question": "Where is my order?", "answer": "Track it under Orders."}
    example = encode_example(tokenizer, record, SYSTEM, max_length=512)
    pairs = zip(example["input_ids"], example["labels"], strict=True)
    for position, (token, label) in enumerate(pairs):
        assert label in (IGNORE_INDEX, token), f"position {position}: label {label} != {token}"
    # the mask is one prompt block followed by one answer block, never interleaved
    masked = [label == IGNORE_INDEX for label in example["labels"]]
    assert masked == sorted(masked, reverse=True)


def test_long_prompt_is_truncated_and_the_answer_kept_whole(tokenizer: Any) -> None:
    max_length = 48
    record = {
        "question": "Can I return a jacket after thirty days? " * 20,
        "answer": "Returns are accepted within thirty days.",
    }
    answer_ids = _ids(tokenizer, record["answer"]) + [tokenizer.eos_token_id]
    assert len(answer_ids) < max_length // 2  # precondition: the answer fits comfortably

    example = encode_example(tokenizer, record, SYSTEM, max_length=max_length)

    assert len(example["input_ids"]) <= max_length
    n_prompt = len(example["input_ids"]) - len(answer_ids)
    assert example["input_ids"][n_prompt:] == answer_ids
    assert example["labels"][n_prompt:] == answer_ids
    assert example["labels"][:n_prompt] == [IGNORE_INDEX] * n_prompt
    # the prompt is cut from the left, so the model still sees where its answer starts
    assistant = tokenizer.convert_tokens_to_ids("<|assistant|>")
    assert example["input_ids"][n_prompt - 1] == assistant


def test_long_answer_keeps_answer_tokens_within_the_budget(tokenizer: Any) -> None:
    max_length = 32
    record = {
        "question": "Where is my order? " * 10,
        "answer": "Track it from your account page under Orders. " * 10,
    }
    answer_ids = _ids(tokenizer, record["answer"]) + [tokenizer.eos_token_id]

    example = encode_example(tokenizer, record, SYSTEM, max_length=max_length)

    labels, input_ids = example["labels"], example["input_ids"]
    assert len(input_ids) == len(labels) == max_length
    answer_positions = [i for i, label in enumerate(labels) if label != IGNORE_INDEX]
    assert len(answer_positions) >= max_length // 4  # never a prompt-only example
    start = answer_positions[0]
    assert answer_positions == list(range(start, max_length))
    assert input_ids[start:] == answer_ids[: max_length - start]  # the answer's beginning
    assert labels[start:] == input_ids[start:]


def test_prompt_without_chat_template_uses_the_documented_default() -> None:
    class NoTemplate:
        chat_template = None

    expected = "System: Be brief.\nQuestion: Q?\nAnswer: "
    assert build_prompt(NoTemplate(), "Q?", "Be brief.") == expected
    assert build_prompt(NoTemplate(), "Q?", "") == "Question: Q?\nAnswer: "


def test_pad_collator_pads_labels_with_ignore_and_mask_with_zero() -> None:
    pad = 0
    batch = [
        {"input_ids": [5, 6, 7], "labels": [IGNORE_INDEX, 6, 7]},
        {"input_ids": [8, 9, 10, 11, 12], "labels": [IGNORE_INDEX, IGNORE_INDEX, 10, 11, 12]},
    ]
    out = PadCollator(pad_token_id=pad)(batch)
    assert out["input_ids"].shape == out["labels"].shape == out["attention_mask"].shape == (2, 5)
    assert out["input_ids"].tolist() == [[5, 6, 7, pad, pad], [8, 9, 10, 11, 12]]
    assert out["labels"].tolist() == [
        [IGNORE_INDEX, 6, 7, IGNORE_INDEX, IGNORE_INDEX],
        [IGNORE_INDEX, IGNORE_INDEX, 10, 11, 12],
    ]
    assert out["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]


def test_pad_collator_on_encoded_examples(tokenizer: Any) -> None:
    records = [
        {"question": "Where is my order?", "answer": "Track it."},
        {
            "question": "How do I reset my password?",
            "answer": "Use the reset link on the sign-in page.",
        },
    ]
    examples = [encode_example(tokenizer, r, SYSTEM, 512) for r in records]
    out = PadCollator(tokenizer.pad_token_id)(examples)
    short = len(examples[0]["input_ids"])
    assert out["attention_mask"][0].tolist() == [1] * short + [0] * (out["labels"].shape[1] - short)
    assert (out["labels"][0, short:] == IGNORE_INDEX).all()
    assert (out["input_ids"][0, short:] == tokenizer.pad_token_id).all()


def _lengths(*lengths: int) -> list[dict]:
    return [{"input_ids": [1] * n} for n in lengths]


@pytest.mark.parametrize(
    ("lengths", "batch_size", "expected"),
    [
        ((4, 4, 4, 4), 2, 0.0),  # equal lengths: no padding
        ((2, 4, 3), 2, 1 - 9 / 11),  # batches (2,4)->8 slots, (3)->3 slots; 9 real
        ((1, 3, 2, 6), 2, 1 - 12 / 18),  # (1,3)->6 slots, (2,6)->12 slots; 12 real
        ((1, 3, 2, 6), 4, 1 - 12 / 24),  # one batch of width 6
        ((5,), 8, 0.0),
        ((), 4, 0.0),  # nothing to batch
    ],
)
def test_padding_share_on_hand_made_lengths(
    lengths: tuple[int, ...], batch_size: int, expected: float
) -> None:
    assert padding_share(_lengths(*lengths), batch_size) == pytest.approx(expected)
