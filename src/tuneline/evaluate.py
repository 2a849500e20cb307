"""Evaluate stage: the held-out test set, answered for real by the base model, the candidate
adapter and (when there is one) the current champion's adapter, on the same questions.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tuneline import metrics, prompts
from tuneline.base_model import load_base_model, load_tokenizer
from tuneline.errors import DataError
from tuneline.params import EvaluateParams, Params
from tuneline.prepare import read_jsonl

log = logging.getLogger(__name__)
TABLE_METRICS = (
    "exact_match",
    "token_f1",
    "rouge_l",
    "perplexity",
    "latency_p50_s",
    "latency_p95_s",
    "tokens_per_s",
)


@dataclass(frozen=True)
class ModelScores:
    exact_match: float
    token_f1: float
    rouge_l: float
    perplexity: float  # on the reference answers (teacher-forced), lower is better
    latency_p50_s: float  # seconds per answer, generation only
    latency_p95_s: float
    tokens_per_s: float


@dataclass(frozen=True)
class EvaluationReport:
    examples: int
    models: dict[str, ModelScores]  # "base", "candidate", and "champion" when one exists
    champion_version: str | None  # the champion compared in the table, if any
    samples: list[dict[str, str]] = field(default_factory=list)
    table_markdown: str = ""
    champion_seen: str | None = None  # champion at evaluation time, compared or not
    champion_note: str | None = None  # why the champion is not in the table


def evaluate_models(
    params: Params,
    root: Path,
    test_path: Path,
    adapter_dir: Path,
    champion_adapter: Path | None,
    champion_version: str | None,
) -> EvaluationReport:
    """Generate answers to the test questions with each model and score them."""
    from peft import PeftModel

    cfg = params.evaluate
    rows = read_jsonl(test_path)[: cfg.max_examples]
    if not rows:
        raise DataError(f"{test_path}: the held-out test set is empty; check the split fractions")
    tokenizer = load_tokenizer(params.model, root)
    base = load_base_model(params.model, root, params.train.quantization)
    model = PeftModel.from_pretrained(base, str(adapter_dir), adapter_name="candidate")
    if champion_adapter is not None:
        model.load_adapter(str(champion_adapter), adapter_name="champion")
    model.eval()
    names = ["base", "candidate"] + (["champion"] if champion_adapter is not None else [])
    answers: dict[str, list[str]] = {}
    scores: dict[str, ModelScores] = {}
    for name in names:
        with _as_model(model, name):
            answers[name], scores[name] = _score_model(model, tokenizer, rows, params, name)
    report = EvaluationReport(
        examples=len(rows),
        models=scores,
        champion_version=champion_version,
        samples=_samples(rows, answers, cfg.samples_to_show),
        table_markdown=before_after_table(scores, cfg),
    )
    return report


class _as_model:
    """Context: the shared base with no adapter ('base') or with one named adapter active."""

    def __init__(self, model: Any, name: str) -> None:
        self.model, self.name, self._ctx = model, name, None

    def __enter__(self) -> None:
        if self.name == "base":
            context = self.model.disable_adapter()
            context.__enter__()
            self._ctx = context
        else:
            self.model.set_adapter(self.name)

    def __exit__(self, *exc: Any) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(*exc)


def _score_model(
    model: Any, tokenizer: Any, rows: list[dict], params: Params, name: str
) -> tuple[list[str], ModelScores]:
    """Answer quality from batched greedy generation; latency from one question at a time."""
    cfg = params.evaluate
    preds: list[str] = []
    for start in range(0, len(rows), cfg.batch_size):
        batch = [r["question"] for r in rows[start : start + cfg.batch_size]]
        preds += [text for text, _ in _generate(model, tokenizer, batch, params)]
        log.info("evaluate %s: %d/%d answers", name, len(preds), len(rows))
    latencies, generated = [], 0
    for row in rows[: cfg.latency_examples]:  # batch size 1: what a user waits for one answer
        began = time.perf_counter()
        ((_, n_tokens),) = _generate(model, tokenizer, [row["question"]], params)
        latencies.append(time.perf_counter() - began)
        generated += n_tokens
    quality = metrics.score_answers(preds, [r["answer"] for r in rows])
    return preds, ModelScores(
        exact_match=quality.exact_match,
        token_f1=quality.token_f1,
        rouge_l=quality.rouge_l,
        perplexity=_perplexity(model, tokenizer, rows, params),
        latency_p50_s=metrics.percentile(latencies, 50),
        latency_p95_s=metrics.percentile(latencies, 95),
        tokens_per_s=generated / sum(latencies) if sum(latencies) else 0.0,
    )


def _generate(
    model: Any, tokenizer: Any, questions: list[str], params: Params
) -> list[tuple[str, int]]:
    """Greedy answers to a batch of questions (left-padded); (text, new tokens) for each."""
    import torch

    texts = [prompts.build_prompt(tokenizer, q, params.model.system_prompt) for q in questions]
    tokenizer.padding_side = "left"  # generation continues from the right edge of every row
    ids = tokenizer(texts, add_special_tokens=False, return_tensors="pt", padding=True)
    ids = ids.to(model.device)
    with torch.no_grad():
        out = model.generate(
            **ids,
            max_new_tokens=params.evaluate.max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    new = out[:, ids["input_ids"].shape[1] :]  # (B, new tokens), padded after each eos
    answers = []
    for row in new:
        n_tokens = int((row != tokenizer.pad_token_id).sum())
        answers.append((tokenizer.decode(row, skip_special_tokens=True).strip(), n_tokens))
    return answers


def _perplexity(model: Any, tokenizer: Any, rows: list[dict], params: Params) -> float:
    """exp(mean negative log-likelihood) of the reference answer tokens, prompt tokens masked."""
    import torch

    total_nll, total_tokens = 0.0, 0
    collate = prompts.PadCollator(tokenizer.pad_token_id)
    examples = [
        prompts.encode_example(tokenizer, r, params.model.system_prompt, params.train.max_length)
        for r in rows
    ]
    for start in range(0, len(examples), 16):
        batch = {k: v.to(model.device) for k, v in collate(examples[start : start + 16]).items()}
        with torch.no_grad():
            logits = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).logits  # (B, T, V)
        labels = batch["labels"][:, 1:]  # (B, T-1): next tokens
        nll = torch.nn.functional.cross_entropy(
            logits[:, :-1].transpose(1, 2).float(),
            labels,
            ignore_index=prompts.IGNORE_INDEX,
            reduction="sum",
        )
        total_nll += float(nll)
        total_tokens += int((labels != prompts.IGNORE_INDEX).sum())
    return math.exp(total_nll / max(total_tokens, 1))


def _samples(rows: list[dict], answers: dict[str, list[str]], count: int) -> list[dict[str, str]]:
    """Answers side by side for the reviewer: spread over categories, in test-set order."""
    picked, seen = [], set()
    for i, row in enumerate(rows):  # first pass: one per category
        if row.get("category", "") not in seen:
            seen.add(row.get("category", ""))
            picked.append(i)
    picked += [i for i in range(len(rows)) if i not in picked]
    return [
        {
            "question": rows[i]["question"],
            "category": rows[i].get("category", ""),
            "reference": rows[i]["answer"],
        }
        | {name: preds[i] for name, preds in answers.items()}
        for i in sorted(picked[:count])
    ]


def before_after_table(scores: dict[str, ModelScores], cfg: EvaluateParams) -> str:
    """The practice's table: metric | before (base) | after (candidate) | champion | target."""
    has_champion = "champion" in scores
    head = "| metric | before (base) | after (candidate) |" + (
        " champion |" if has_champion else ""
    )
    lines = [head + " target |", "|---" * (4 + has_champion) + "|"]
    for metric in TABLE_METRICS:
        cells = [_fmt(getattr(scores[name], metric)) for name in ("base", "candidate")]
        if has_champion:
            cells.append(_fmt(getattr(scores["champion"], metric)))
        target = cfg.targets.get(metric)
        lines.append(
            f"| {metric} | "
            + " | ".join(cells)
            + f" | {'>= ' + _fmt(target) if target is not None else '-'} |"
        )
    return "\n".join(lines)


def _fmt(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"


def write_report(report: EvaluationReport, out_dir: Path) -> Path:
    """evaluation.json for machines, evaluation.md (table + sample answers) for the reviewer."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = asdict(report)
    (out_dir / "evaluation.json").write_text(
        json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    lines = [
        "# Evaluation on the held-out test set",
        "",
        f"{report.examples} questions the model never saw in training.",
        "",
        report.table_markdown,
        "",
        *([f"Note: {report.champion_note}", ""] if report.champion_note else []),
        "## Sample answers",
        "",
    ]
    for sample in report.samples:
        lines += [f"### [{sample['category'] or '-'}] {sample['question']}", ""]
        lines += [
            f"- **{key}**: {sample[key]!s}".replace("\n", " ")
            for key in sample
            if key not in ("question", "category")
        ]
        lines.append("")
    (out_dir / "evaluation.md").write_text("\n".join(lines), encoding="utf-8")
    return out_dir / "evaluation.json"
