"""Evaluate stage: the held-out test set, answered for real by the base model, the candidate
adapter and (when there is one) the current champion's adapter, on the same questions.

Generation runs the models (`evaluate_models`); everything after it is plain Python on the
answers (`build_report`): means, paired bootstrap intervals on the differences, the per-category
breakdown, the samples a reviewer reads, the optional judge and the promotion gates.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tuneline import atomic, gates, judge, metrics, prompts
from tuneline.errors import DataError
from tuneline.params import EvaluateParams, Params

log = logging.getLogger(__name__)
TABLE_METRICS = (
    "exact_match",
    "token_f1",
    "rouge_l",
    "chrf",
    "perplexity",
    "latency_p50_s",
    "latency_p95_s",
    "tokens_per_s",
)
LOWER_IS_BETTER = frozenset({"perplexity", "latency_p50_s", "latency_p95_s"})
NO_CATEGORY = "-"  # test rows without a category are grouped under this name


@dataclass(frozen=True)
class ModelScores:
    exact_match: float
    token_f1: float
    rouge_l: float
    chrf: float  # sentence chrF2 in [0, 1], mean over answers
    perplexity: float  # on the reference answers (teacher-forced), lower is better
    latency_p50_s: float  # seconds per answer, generation only
    latency_p95_s: float
    tokens_per_s: float


@dataclass(frozen=True)
class ModelRun:
    """What one model produced on the test questions, in test-set order."""

    answers: list[str]
    nll: list[float]  # summed negative log-likelihood of each reference answer
    answer_tokens: list[int]  # reference answer tokens behind each nll
    latencies_s: list[float]  # per answer, one question at a time (latency_examples of them)
    generated_tokens: int  # new tokens over those latency questions


@dataclass(frozen=True)
class EvaluationReport:
    examples: int
    models: dict[str, ModelScores]  # "base", "candidate", and "champion" when one exists
    champion_version: str | None  # the champion compared in the table, if any
    samples: list[dict[str, Any]] = field(default_factory=list)
    table_markdown: str = ""
    champion_seen: str | None = None  # champion at evaluation time, compared or not
    champion_note: str | None = None  # why the champion is not in the table
    table: dict[str, list] = field(default_factory=dict)  # {"columns": [...], "rows": [[...]]}
    # "candidate_vs_base" / "candidate_vs_champion" -> metric -> {estimate, low, high}
    differences: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    judge: dict[str, Any] = field(default_factory=dict)
    gates: list[dict[str, Any]] = field(default_factory=list)
    gates_passed: bool = False
    approval_required: bool = True
    reviewer_pack: dict[str, str] = field(default_factory=dict)


def evaluate_models(
    params: Params,
    root: Path,
    test_path: Path,
    adapter_dir: Path,
    champion_adapter: Path | None,
    champion_version: str | None,
    champion_seen: str | None = None,
    champion_note: str | None = None,
) -> EvaluationReport:
    """Generate answers to the test questions with each model, then score and gate them."""
    from peft import PeftModel

    from tuneline.base_model import load_base_model, load_tokenizer
    from tuneline.prepare import read_jsonl

    rows = read_jsonl(test_path)[: params.evaluate.max_examples]
    if not rows:
        raise DataError(f"{test_path}: the held-out test set is empty; check the split fractions")
    tokenizer = load_tokenizer(params.model, root)
    base = load_base_model(params.model, root, params.train.quantization)
    model = PeftModel.from_pretrained(base, str(adapter_dir), adapter_name="candidate")
    if champion_adapter is not None:
        model.load_adapter(str(champion_adapter), adapter_name="champion")
    model.eval()
    names = ["base", "candidate"] + (["champion"] if champion_adapter is not None else [])
    runs: dict[str, ModelRun] = {}
    for name in names:
        with _as_model(model, name):
            runs[name] = run_model(model, tokenizer, rows, params, name)
    return build_report(
        params, rows, runs, champion_version, champion_seen, champion_note, judge_answers
    )


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


def run_model(model: Any, tokenizer: Any, rows: list[dict], params: Params, name: str) -> ModelRun:
    """Answers from batched greedy generation; latency from one question at a time."""
    cfg = params.evaluate
    answers: list[str] = []
    for start in range(0, len(rows), cfg.batch_size):
        batch = [r["question"] for r in rows[start : start + cfg.batch_size]]
        answers += [text for text, _ in _generate(model, tokenizer, batch, params)]
        log.info("evaluate %s: %d/%d answers", name, len(answers), len(rows))
    latencies, generated = [], 0
    # untimed: the first batch-of-one call pays one-off set-up costs (0.2-0.5 s on CPU)
    _generate(model, tokenizer, [rows[0]["question"]], params)
    for row in rows[: cfg.latency_examples]:  # batch size 1: what a user waits for one answer
        began = time.perf_counter()
        ((_, n_tokens),) = _generate(model, tokenizer, [row["question"]], params)
        latencies.append(time.perf_counter() - began)
        generated += n_tokens
    nll, tokens = _answer_nll(model, tokenizer, rows, params)
    return ModelRun(answers, nll, tokens, latencies, generated)


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


def _answer_nll(
    model: Any, tokenizer: Any, rows: list[dict], params: Params
) -> tuple[list[float], list[int]]:
    """Per question: summed negative log-likelihood of the reference answer, and its tokens.

    Teacher-forced on the reference (prompt tokens masked), so it measures how likely the model
    finds the right answer; the generated answers are scored separately.
    """
    import torch

    collate = prompts.PadCollator(tokenizer.pad_token_id)
    examples = [
        prompts.encode_example(tokenizer, r, params.model.system_prompt, params.train.max_length)
        for r in rows
    ]
    nll: list[float] = []
    tokens: list[int] = []
    for start in range(0, len(examples), 16):
        batch = {k: v.to(model.device) for k, v in collate(examples[start : start + 16]).items()}
        with torch.no_grad():
            logits = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).logits  # (B, T, V)
        labels = batch["labels"][:, 1:]  # (B, T-1): next tokens
        per_token = torch.nn.functional.cross_entropy(
            logits[:, :-1].transpose(1, 2).float(),
            labels,
            ignore_index=prompts.IGNORE_INDEX,
            reduction="none",
        )  # (B, T-1), 0 where ignored
        nll += per_token.sum(dim=1).tolist()
        tokens += (labels != prompts.IGNORE_INDEX).sum(dim=1).tolist()
    return nll, tokens


def perplexity(nll: list[float], tokens: list[int], idx: list[int] | None = None) -> float:
    """exp(total NLL / total answer tokens) over the questions `idx` (all when None)."""
    picked = range(len(nll)) if idx is None else idx
    total_nll = sum(nll[i] for i in picked)
    total_tokens = sum(tokens[i] for i in picked)
    return math.exp(total_nll / max(total_tokens, 1))


JudgeFn = Callable[[Params, list[dict], dict[str, ModelRun]], judge.JudgeResult]


def judge_answers(params: Params, rows: list[dict], runs: dict[str, ModelRun]) -> judge.JudgeResult:
    """The optional judge: candidate vs champion, or vs base when there is no champion."""
    opponent = "champion" if "champion" in runs else "base"
    return judge.judge_pairwise(
        params.evaluate.judge,
        [r["question"] for r in rows],
        [r["answer"] for r in rows],
        runs["candidate"].answers,
        runs[opponent].answers,
        opponent,
        params.evaluate.bootstrap_samples,
        params.evaluate.seed,
    )


def build_report(
    params: Params,
    rows: list[dict],
    runs: dict[str, ModelRun],
    champion_version: str | None,
    champion_seen: str | None,
    champion_note: str | None,
    judge_fn: JudgeFn = judge_answers,
) -> EvaluationReport:
    """Scores, intervals, categories, samples, judge and gates from the models' answers."""
    cfg = params.evaluate
    refs = [r["answer"] for r in rows]
    each = {name: metrics.per_answer_scores(run.answers, refs) for name, run in runs.items()}
    scores = {name: _model_scores(run, each[name]) for name, run in runs.items()}
    differences = {
        f"candidate_vs_{other}": _differences(other, runs, each, cfg)
        for other in ("base", "champion")
        if other in runs
    }
    verdict = judge_fn(params, rows, runs)
    gate_list = gates.evaluate_gates(
        {name: asdict(s) for name, s in scores.items()},
        params.promotion,
        {
            key: {m: metrics.Interval(**v) for m, v in diff.items()}
            for key, diff in differences.items()
        },
        champion_note,
    )
    table = before_after_table(scores, differences, params, verdict)
    return EvaluationReport(
        examples=len(rows),
        models=scores,
        champion_version=champion_version,
        samples=pick_samples(
            rows, runs, each, cfg.samples_to_show, cfg.regressions_to_show, cfg.seed
        ),
        table_markdown=table_markdown(table),
        champion_seen=champion_seen,
        champion_note=champion_note,
        table=table,
        differences=differences,
        categories=category_breakdown(rows, each),
        judge=asdict(verdict),
        gates=[asdict(g) for g in gate_list],
        gates_passed=all(g.passed for g in gate_list),
        approval_required=params.promotion.require_human_approval,
    )


def _model_scores(run: ModelRun, each: dict[str, list[float]]) -> ModelScores:
    seconds = sum(run.latencies_s)
    return ModelScores(
        **{name: metrics.mean(values) for name, values in each.items()},
        perplexity=perplexity(run.nll, run.answer_tokens),
        latency_p50_s=metrics.percentile(run.latencies_s, 50) if run.latencies_s else 0.0,
        latency_p95_s=metrics.percentile(run.latencies_s, 95) if run.latencies_s else 0.0,
        tokens_per_s=run.generated_tokens / seconds if seconds else 0.0,
    )


def _differences(
    other: str,
    runs: dict[str, ModelRun],
    each: dict[str, dict[str, list[float]]],
    cfg: EvaluateParams,
) -> dict[str, dict[str, float]]:
    """candidate - `other` per metric, with paired bootstrap 95 % intervals (same questions)."""
    out = {
        metric: metrics.paired_difference(
            each[other][metric], each["candidate"][metric], cfg.bootstrap_samples, cfg.seed
        )
        for metric in metrics.QUALITY_METRICS
    }
    before, after = runs[other], runs["candidate"]
    out["perplexity"] = metrics.bootstrap_interval(
        len(after.nll),
        lambda idx: (
            perplexity(after.nll, after.answer_tokens, idx)
            - perplexity(before.nll, before.answer_tokens, idx)
        ),
        cfg.bootstrap_samples,
        cfg.seed,
    )
    return {metric: asdict(interval) for metric, interval in out.items()}


def category_breakdown(
    rows: list[dict], each: dict[str, dict[str, list[float]]]
) -> dict[str, dict[str, Any]]:
    """Per category: question count and each model's mean quality metrics on those questions."""
    return {
        category: {"questions": len(idx)}
        | {
            name: {m: metrics.mean([values[m][i] for i in idx]) for m in metrics.QUALITY_METRICS}
            for name, values in each.items()
        }
        for category, idx in sorted(_by_category(rows).items())
    }


def _by_category(rows: list[dict]) -> dict[str, list[int]]:
    """Row indices per category, in test-set order; no category counts as NO_CATEGORY."""
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(str(row.get("category") or NO_CATEGORY), []).append(i)
    return groups


def pick_samples(
    rows: list[dict],
    runs: dict[str, ModelRun],
    each: dict[str, dict[str, list[float]]],
    count: int,
    regressions: int,
    seed: int,
) -> list[dict[str, Any]]:
    """Answers side by side: a stratified sample over categories plus the largest regressions.

    Stratified: categories take turns (in name order), each giving a random question of its
    own until `count` are picked, so small categories are seen too. Regressions: the questions
    where the candidate's token F1 fell most below the champion's (the base's without one).
    """
    rng = random.Random(seed)
    by_category = _by_category(rows)
    for indices in by_category.values():
        rng.shuffle(indices)
    picked: dict[int, str] = {}
    queues = [by_category[c] for c in sorted(by_category)]
    while len(picked) < count and any(queues):
        for queue in queues:
            if queue and len(picked) < count:
                i = queue.pop()
                picked[i] = f"stratified sample ({rows[i].get('category') or NO_CATEGORY})"
    rival = "champion" if "champion" in runs else "base"
    f1 = {name: values["token_f1"] for name, values in each.items()}
    drops = sorted(
        (f1[rival][i] - f1["candidate"][i], i) for i in range(len(rows)) if i not in picked
    )
    for drop, i in reversed(drops[-regressions:] if regressions else []):
        if drop > 0:
            picked[i] = f"regression: token F1 {drop:.2f} below the {rival}"
    return [_sample(rows[i], i, why, runs, f1) for i, why in picked.items()]


def _sample(
    row: dict, i: int, why: str, runs: dict[str, ModelRun], f1: dict[str, list[float]]
) -> dict[str, Any]:
    return (
        {
            "question": row["question"],
            "category": row.get("category") or "",
            "reference": row["answer"],
        }
        | {name: run.answers[i] for name, run in runs.items()}
        | {"picked": why, "token_f1": {name: round(f1[name][i], 4) for name in runs}}
    )


def before_after_table(
    scores: dict[str, ModelScores],
    differences: dict[str, dict[str, dict[str, float]]],
    params: Params,
    verdict: judge.JudgeResult,
) -> dict[str, list]:
    """The practice's table: metric | before (base) | after (candidate) | champion | target,
    then the differences with their 95 % intervals. Targets are the promotion gates' floors."""
    has_champion = "champion" in scores
    columns = ["metric", "before (base)", "after (candidate)"]
    columns += ["champion"] if has_champion else []
    columns += ["target", "after - before (95 % CI)"]
    columns += ["after - champion (95 % CI)"] if has_champion else []
    rows = []
    for metric in TABLE_METRICS:
        cells = [metric + (" (lower is better)" if metric in LOWER_IS_BETTER else "")]
        cells += [
            _fmt(getattr(scores[name], metric))
            for name in ("base", "candidate", "champion")
            if name in scores
        ]
        cells.append(_target(metric, params))
        cells += [
            _fmt_interval(differences[key].get(metric))
            for key in ("candidate_vs_base", "candidate_vs_champion")
            if key in differences
        ]
        rows.append(cells)
    if verdict.status != "disabled":
        rows.append(_judge_row(verdict, has_champion))
    return {"columns": columns, "rows": rows}


def _judge_row(verdict: judge.JudgeResult, has_champion: bool) -> list[str]:
    """Win rate of the candidate against the opponent; 0.5 means no preference."""
    label = f"judge win rate vs {verdict.opponent}"
    if verdict.win_rate is None:
        after, interval = verdict.detail, "-"
    else:
        after = _fmt(verdict.win_rate)
        interval = f"{verdict.win_rate:.3f} [{verdict.low:.3f}, {verdict.high:.3f}]"
    cells = [label, "-", after] + (["-"] if has_champion else []) + ["> 0.5 = better"]
    opponent_column = 1 if verdict.opponent == "champion" else 0
    diffs = ["-", "-"] if has_champion else ["-"]
    diffs[opponent_column] = interval
    return cells + diffs


def _target(metric: str, params: Params) -> str:
    floor = params.promotion.min_metrics.get(metric)
    if floor is not None:
        return f">= {floor:g}"
    if metric == "latency_p95_s":
        return f"<= {params.promotion.latency_p95_ms / 1000:g}"
    return "-"


def _fmt(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"


def _fmt_interval(interval: dict[str, float] | None) -> str:
    if interval is None:
        return "-"
    return f"{interval['estimate']:+.4f} [{interval['low']:+.4f}, {interval['high']:+.4f}]"


def table_markdown(table: dict[str, list]) -> str:
    """A {"columns", "rows"} table as Markdown."""
    lines = ["| " + " | ".join(table["columns"]) + " |", "|---" * len(table["columns"]) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in table["rows"]]
    return "\n".join(lines)


def write_report(report: EvaluationReport, out_dir: Path, root: Path) -> Path:
    """evaluation.json for machines, evaluation.md and the reviewer pack for people."""
    from tuneline import reviewer_pack

    out_dir.mkdir(parents=True, exist_ok=True)
    html, markdown = reviewer_pack.pack_paths(out_dir)
    data = asdict(report) | {
        "reviewer_pack": {"html": _relative(html, root), "markdown": _relative(markdown, root)}
    }
    evaluation_json = out_dir / "evaluation.json"
    with atomic.group():  # all four files change together; the pack is built from `data`
        atomic.write_text(evaluation_json, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        atomic.write_text(out_dir / "evaluation.md", evaluation_markdown(data))
        reviewer_pack.render_data(data, root, out_dir)
    return evaluation_json


def _relative(path: Path, root: Path) -> str:
    """`path` relative to the project root when it lies inside it (as the contract asks)."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path.resolve())


def evaluation_markdown(data: dict[str, Any]) -> str:
    """evaluation.md: the table, the gates and the sample answers (the pack has more)."""
    lines = [
        "# Evaluation on the held-out test set",
        "",
        f"{data['examples']} questions the model never saw in training.",
        "",
        data["table_markdown"],
        "",
        *([f"Note: {data['champion_note']}", ""] if data.get("champion_note") else []),
        "## Promotion gates",
        "",
        gates.gates_markdown([gates.Gate(**g) for g in data["gates"]]),
        "",
        "## Sample answers",
        "",
    ]
    for sample in data["samples"]:
        lines += [f"### [{sample['category'] or NO_CATEGORY}] {sample['question']}", ""]
        lines += [f"_{sample['picked']}_", ""]
        lines += [
            f"- **{key}**: {sample[key]!s}".replace("\n", " ")
            for key in ("reference", "base", "candidate", "champion")
            if key in sample
        ]
        lines.append("")
    return "\n".join(lines)
