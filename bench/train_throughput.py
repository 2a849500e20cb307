"""Benchmark: tuneline's training step against the plain QLoRA recipe, in one process.

    python bench/train_throughput.py --shape tiny --seq-len 512 --steps 20 --device cpu
    python bench/train_throughput.py --shape mid --seq-len 512 --steps 5 --batch 8 --device cpu
    python bench/train_throughput.py --shape llama-3.2-1b --seq-len 2048 --steps 30 --device cuda
    python bench/train_throughput.py --shape my_config.json --seq-len 2048 --device cuda

The model is built from its config with random weights (nothing downloads): speed and memory
do not depend on the values of the weights. Data: the Bitext support Q/A pairs from
../shared/data when present (tokenised with a BPE trained on them), else synthetic pairs with
a similar length spread, truncated to `--seq-len` tokens. The pool is the whole data set, as
the train stage packs a whole epoch; every recipe's Trainer draws its batches from it in a
seeded random order, `--batch` examples per optimiser step (tuneline: on average, whole rows).

Recipes:
  tuneline      tuneline.train.make_trainer: examples packed into rows of --pack-length
                tokens (~1 % padding), the configured optimizer (fused AdamW on GPU), bf16 on
                GPUs that have it, no recompute
  plain         HF Trainer + PEFT (`prepare_model_for_kbit_training` defaults, i.e. gradient
                checkpointing on when quantised) + bitsandbytes, examples padded to --seq-len
                and `default_data_collator`: the recipe of most QLoRA notebooks
  plain-dynamic the same with padding to each batch's longest example (a fairer baseline)

Printed per recipe: real (non-pad) tokens/s, peak memory, padding share, model FLOPs
utilisation (useful FLOPs / peak; on CPU the peak is a measured fp32 matmul rate), and the
ratio to tuneline. Figures go to docs/benchmarks.md. Target on GPU: tuneline >= 1.5x plain.
On a CPU machine shared with other jobs, wall time varies several-fold from one recipe to the
next: `OMP_NUM_THREADS=1 ... --clock cpu` times the steps in this process's CPU seconds, and
`--repeat N` runs the recipes round-robin N times and reports each one's median round.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import logging
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BITEXT = REPO.parent / "shared/data/bitext_customer_support_4514.csv"
SHAPES: dict[str, dict[str, Any]] = {  # published architectures; weights are random here
    "tiny": dict(
        vocab_size=2048,
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
    ),
    "mid": dict(  # a CPU-sized shape whose linear layers outweigh attention, as in real models
        vocab_size=2048,
        hidden_size=768,
        intermediate_size=2048,
        num_hidden_layers=2,
        num_attention_heads=12,
        num_key_value_heads=12,
    ),
    "llama-3.2-1b": dict(
        vocab_size=128256,
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        tie_word_embeddings=True,
        rope_theta=500000.0,
    ),
    "llama-3.1-8b": dict(
        vocab_size=128256,
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        tie_word_embeddings=False,
        rope_theta=500000.0,
    ),
}
GPU_PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12}
WARMUP_STEPS = 3  # not timed: allocator warm-up, kernel selection
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]  # --clock cpu: this process's CPU seconds, for machines shared with others
POOL = 4514  # examples to draw batches from: the Bitext data set's size


@dataclass
class Result:
    recipe: str
    tokens_per_s: float
    peak_memory_gib: float
    padding_share: float
    mfu: float | None
    step_s: float


def model_config(shape: str, seq_len: int) -> Any:
    from transformers import LlamaConfig

    if shape in SHAPES:
        fields = SHAPES[shape]
    else:
        fields = json.loads(Path(shape).read_text(encoding="utf-8"))
    return LlamaConfig(**{**fields, "max_position_embeddings": max(seq_len, 4096)})


def examples_for(vocab: int, n: int, seq_len: int) -> tuple[list[dict], str]:
    """Token ids + answer-only labels for `n` Q/A pairs, ids folded into the model's vocabulary."""
    import random

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    if BITEXT.is_file():
        with BITEXT.open(encoding="utf-8", newline="") as handle:
            pairs = [(r["instruction"], r["response"]) for r in csv.DictReader(handle)]
        source = f"Bitext ({len(pairs)} pairs)"
    else:
        rng = random.Random(0)
        words = [f"w{i}" for i in range(500)]
        pairs = [
            (
                " ".join(rng.choices(words, k=rng.randint(5, 30))),
                " ".join(rng.choices(words, k=rng.randint(20, 300))),
            )
            for _ in range(2000)
        ]
        source = "synthetic (../shared/data absent)"
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(
        [q for q, _ in pairs] + [a for _, a in pairs],
        trainers.BpeTrainer(vocab_size=min(2000, vocab - 8), special_tokens=["<pad>", "<unk>"]),
    )
    out = []
    for q, a in (pairs * (n // len(pairs) + 1))[:n]:
        prompt = [3] + bpe.encode(f"Question: {q}\nAnswer: ").ids
        answer = bpe.encode(a).ids + [2]
        ids = (prompt + answer)[:seq_len]
        labels = ([-100] * len(prompt) + answer)[:seq_len]
        out.append({"input_ids": [i % vocab for i in ids], "labels": labels})
    return out, source


class TokenCounter:
    """Wraps a collator; remembers the real tokens of every batch it made, in order."""

    def __init__(self, collator: Any) -> None:
        self.collator, self.real, self.slots = collator, [], []

    def __call__(self, batch: list[dict]) -> dict:
        out = self.collator([{k: v for k, v in b.items() if k != "real_ids"} for b in batch])
        # packed rows hold real tokens only; pre-padded examples carry their real ids aside
        self.real.append(sum(len(item.get("real_ids", item["input_ids"])) for item in batch))
        self.slots.append(out["input_ids"].numel())
        return out

    def padding_share(self, first: int, last: int) -> float:
        return 1 - sum(self.real[first:last]) / sum(self.slots[first:last])


class PeakMemory:
    """GPU: the allocator's peak. CPU: resident memory sampled every 20 ms, minus the start."""

    def __init__(self, on_gpu: bool) -> None:
        self.on_gpu, self.peak, self._stop = on_gpu, 0, threading.Event()

    def __enter__(self) -> PeakMemory:
        if self.on_gpu:
            import torch

            torch.cuda.reset_peak_memory_stats()
        else:
            import psutil

            process = psutil.Process()
            start = process.memory_info().rss

            def sample() -> None:
                while not self._stop.wait(0.02):
                    self.peak = max(self.peak, process.memory_info().rss - start)

            threading.Thread(target=sample, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self.on_gpu:
            import torch

            self.peak = torch.cuda.max_memory_allocated()


def step_timer(on_gpu: bool) -> Any:
    """A Trainer callback recording the wall time at the end of every optimiser step."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if on_gpu:
                import torch

                torch.cuda.synchronize()
            self.times.append(clock())

    return StepTimer()


def build_model(config: Any, quantization: str, device: str) -> Any:
    """Random weights from `config`, saved and reloaded so bitsandbytes quantises them as usual."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    from tuneline.base_model import compute_dtype, quantization_config

    dtype = compute_dtype("auto") if device == "cuda" else torch.float32
    folder = Path(tempfile.mkdtemp(prefix="bench-model-"))
    torch.manual_seed(0)
    LlamaForCausalLM(config).to(dtype).save_pretrained(folder)
    return AutoModelForCausalLM.from_pretrained(
        folder,
        dtype=dtype,
        quantization_config=quantization_config(quantization, dtype),  # type: ignore[arg-type]
        device_map={"": 0} if device == "cuda" else "cpu",
    )


def run_recipe(name: str, trainer: Any, counter: TokenCounter, steps: int, on_gpu: bool) -> Result:
    """Train `WARMUP_STEPS + steps` steps; time the last `steps`."""
    timer = step_timer(on_gpu)
    trainer.add_callback(timer)
    trainer.args.max_steps = WARMUP_STEPS + steps
    with PeakMemory(on_gpu) as peak:
        trainer.train()
    elapsed = timer.times[-1] - timer.times[WARMUP_STEPS - 1]
    timed = (WARMUP_STEPS, WARMUP_STEPS + steps)
    tokens = sum(counter.real[timed[0] : timed[1]])
    share = counter.padding_share(*timed)
    return Result(name, tokens / elapsed, peak.peak / 1024**3, share, None, elapsed / steps)


def tuneline_trainer(model: Any, examples: list[dict], args: argparse.Namespace, out: Path) -> Any:
    from tuneline.params import load_params
    from tuneline.train import _with_adapters, make_trainer

    cfg = replace(
        load_params(REPO / "params.yaml").train,
        quantization=args.quantization,
        batch_size=args.batch,
        max_length=args.seq_len,
        batching="packed",
        pack_length=args.pack_length,
        optimizer="adamw_torch_fused" if args.device == "cuda" else "adamw_torch",
        gradient_checkpointing=args.gradient_checkpointing,
        checkpoint_steps=10**9,  # a benchmark saves nothing
        max_epochs=1,
    )
    plain = [{k: v for k, v in e.items() if k != "real_ids"} for e in examples]
    trainer = make_trainer(_with_adapters(model, cfg), _Tok(), plain, plain[:8], cfg, out)
    counter = TokenCounter(trainer.data_collator)
    trainer.data_collator = counter
    return trainer, counter, cfg


class _Tok:
    """The little a Trainer needs of a tokenizer here (ids are already made)."""

    pad_token_id = 0
    model_input_names = ["input_ids"]

    def save_pretrained(self, *args: Any, **kwargs: Any) -> None:
        return None


def plain_trainer(
    model: Any, examples: list[dict], args: argparse.Namespace, out: Path, dynamic: bool
) -> Any:
    """HF Trainer + PEFT defaults + the transformers default collator."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import Trainer, TrainingArguments, default_data_collator

    from tuneline.prompts import PadCollator

    if args.quantization != "none":
        model = prepare_model_for_kbit_training(model)  # its default: gradient checkpointing on
    model = get_peft_model(
        model,
        LoraConfig(
            r=16,
            lora_alpha=32,
            lora_dropout=0.05,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        ),
    )
    on_gpu = args.device == "cuda"
    training_args = TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=args.batch,
        learning_rate=2e-4,
        bf16=on_gpu and torch.cuda.is_bf16_supported(),
        use_cpu=not on_gpu,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        remove_unused_columns=False,
        seed=42,
        data_seed=42,
    )
    if dynamic:
        collator: Any = PadCollator(0)
    else:  # every example padded to --seq-len up front, as `padding="max_length"` does
        examples = [_pad_to(e, args.seq_len) for e in examples]
        collator = default_data_collator
    counter = TokenCounter(collator)
    trainer = Trainer(
        model=model, args=training_args, train_dataset=examples, data_collator=counter
    )
    return trainer, counter


def _pad_to(example: dict, width: int) -> dict:
    gap = width - len(example["input_ids"])
    return {
        "input_ids": example["input_ids"] + [0] * gap,
        "labels": example["labels"] + [-100] * gap,
        "attention_mask": [1] * len(example["input_ids"]) + [0] * gap,
        "real_ids": example["real_ids"],
    }


def flops_per_token(model: Any, mean_len: float) -> float:
    """Useful training FLOPs per real token: frozen matmuls forward + input-gradient (4N), LoRA
    forward + both gradients (6N), attention over the example itself (12 L h T / 2, causal)."""
    config = model.config
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen_matmul = sum(
        m.in_features * m.out_features
        for name, m in model.named_modules()
        if hasattr(m, "in_features") and "lora_" not in name and not hasattr(m, "base_layer")
    )
    attention = 6 * config.num_hidden_layers * config.hidden_size * mean_len
    return 4 * frozen_matmul + 6 * trainable + attention


def peak_flops(device: str) -> tuple[float, str]:
    """bf16 dense peak from the GPU's data sheet, or a measured fp32 matmul rate on CPU."""
    import torch

    if device == "cuda":
        name = torch.cuda.get_device_name()
        for key, value in GPU_PEAK_BF16.items():
            if key in name:
                return value, f"{name} bf16 dense data-sheet peak"
        return float("nan"), f"{name} (peak unknown: add it to GPU_PEAK_BF16)"
    a = torch.randn(1024, 1024)
    a @ a
    start, n = clock(), 0
    while clock() - start < 0.5:
        a @ a
        n += 1
    rate = n * 2 * 1024**3 / (clock() - start)
    return rate, f"CPU, measured fp32 matmul ({torch.get_num_threads()} threads)"


def measure(
    recipe: str,
    config: Any,
    examples: list[dict],
    args: argparse.Namespace,
    mean_len: float,
    peak: float,
) -> Result:
    """One recipe on a freshly built model: throughput, memory, padding and MFU."""
    import torch

    model = build_model(config, args.quantization, args.device)
    out = Path(tempfile.mkdtemp(prefix=f"bench-{recipe}-"))
    if recipe == "tuneline":
        trainer, counter, _ = tuneline_trainer(model, examples, args, out)
    else:
        trainer, counter = plain_trainer(model, examples, args, out, recipe == "plain-dynamic")
    result = run_recipe(recipe, trainer, counter, args.steps, args.device == "cuda")
    fpt = flops_per_token(trainer.model, mean_len)
    del trainer, model
    gc.collect()
    if args.device == "cuda":
        torch.cuda.empty_cache()
    return replace(result, mfu=result.tokens_per_s * fpt / peak)


def median_result(runs: list[Result]) -> Result:
    """The run with the median tokens/s (the lower middle one for an even count)."""
    return sorted(runs, key=lambda r: r.tokens_per_s)[(len(runs) - 1) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--shape", default="tiny", help="tiny | mid | llama-3.2-1b | llama-3.1-8b | a config JSON"
    )
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--steps", type=int, default=10, help="timed steps (after 3 warm-up)")
    parser.add_argument("--batch", type=int, default=16, help="examples per step")
    parser.add_argument(
        "--pack-length", type=int, default=None, help="tuneline's row length (default: seq-len)"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--quantization",
        choices=("nf4", "int8", "none"),
        default=None,
        help="default: nf4 on cuda, none on cpu (4-bit on CPU is ~6.5x slower)",
    )
    parser.add_argument("--gradient-checkpointing", action="store_true", help="for tuneline")
    parser.add_argument("--recipes", default="tuneline,plain,plain-dynamic")
    parser.add_argument(
        "--clock",
        choices=tuple(CLOCKS),
        default="wall",
        help="cpu: time steps in this process's CPU seconds; with OMP_NUM_THREADS=1 the figures "
        "hold on a machine other jobs load (wall time there varies several-fold)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds over the recipes; the median round per recipe is reported (noisy machines)",
    )
    args = parser.parse_args()
    args.quantization = args.quantization or ("nf4" if args.device == "cuda" else "none")
    args.pack_length = args.pack_length or args.seq_len
    global clock
    clock = CLOCKS[args.clock]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: no GPU visible", file=sys.stderr)
        return 2
    config = model_config(args.shape, args.seq_len)
    n = max((WARMUP_STEPS + args.steps) * args.batch, POOL)
    examples, source = examples_for(config.vocab_size, n, args.seq_len)
    for e in examples:
        e["real_ids"] = e["input_ids"]
    mean_len = sum(len(e["input_ids"]) for e in examples) / len(examples)
    peak, peak_note = peak_flops(args.device)
    print(
        f"shape {args.shape}, seq-len {args.seq_len}, batch {args.batch}, {args.steps} timed "
        f"steps, {args.quantization}, {args.device}; data {source}, mean {mean_len:.0f} tokens; "
        f"tuneline rows of {args.pack_length} tokens; {args.clock} clock, "
        f"{torch.get_num_threads()} threads"
    )
    rounds: dict[str, list[Result]] = {}
    for round_ in range(args.repeat):  # round-robin: a load spike hits every recipe alike
        for recipe in args.recipes.split(","):
            result = measure(recipe, config, examples, args, mean_len, peak)
            rounds.setdefault(recipe, []).append(result)
            if args.repeat > 1:
                print(f"round {round_ + 1} {recipe}: {result.tokens_per_s:.0f} tokens/s")
    results = [median_result(runs) for runs in rounds.values()]
    print(f"MFU peak: {peak_note} = {peak / 1e12:.2f} TFLOP/s")
    print(
        f"{'recipe':<14}{'tokens/s':>12}{'s/step':>9}{'peak mem GiB':>14}{'padding':>9}{'MFU':>8}"
        f"{'tuneline x':>12}"
    )
    base = next((r.tokens_per_s for r in results if r.recipe == "tuneline"), None)
    for r in results:
        ratio = f"{base / r.tokens_per_s:.2f}" if base else "-"
        print(
            f"{r.recipe:<14}{r.tokens_per_s:>12.0f}{r.step_s:>9.3f}{r.peak_memory_gib:>14.2f}"
            f"{r.padding_share:>9.1%}{(r.mfu or 0):>8.1%}{ratio:>12}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
