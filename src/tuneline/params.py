"""params.yaml loaded once into frozen, typed objects; unknown keys and bad values fail at load.

Each stage reads one section. Errors name the key and what would be valid, so a typo in
params.yaml stops the run before any work is done.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from tuneline.errors import ConfigError

Quantization = Literal["nf4", "int8", "none"]
Severity = Literal["critical", "warning"]


@dataclass(frozen=True)
class ProjectParams:
    model_name: str
    experiment: str
    tracking_uri: str
    artifact_root: str


@dataclass(frozen=True)
class ColumnMap:
    question: str
    answer: str
    category: str = ""


@dataclass(frozen=True)
class SourceParams:
    """Per-file overrides under prepare.sources.<file name>."""

    question: str = ""  # field name, or a dotted path into nested records: instances.0.input
    answer: str = ""
    category: str = ""
    context: str = ""  # optional extra input appended to the question (like Alpaca's `input`)
    encoding: str | None = None
    format: Literal["auto", "csv", "jsonl", "json", "parquet"] = "auto"


@dataclass(frozen=True)
class PrepareParams:
    columns: ColumnMap
    sources: dict[str, SourceParams]
    conflict_policy: Literal["keep-latest", "drop", "fail"]
    pii_policy: Literal["redact", "drop", "fail"]
    max_bad_row_share: float
    max_question_chars: int
    max_answer_chars: int


@dataclass(frozen=True)
class ValidateParams:
    min_rows: int
    question_chars: tuple[int, int]
    answer_chars: tuple[int, int]
    allowed_categories: tuple[str, ...]
    pii: Severity


@dataclass(frozen=True)
class SplitParams:
    validation_fraction: float
    test_fraction: float
    salt: str


@dataclass(frozen=True)
class ModelParams:
    source: Literal["local", "hub"]
    base: str
    revision: str | None
    system_prompt: str
    trust_remote_code: bool  # runs Python shipped with the model: off unless asked, then logged
    compute_dtype: Literal["auto", "bf16", "fp16", "fp32"]  # auto: bf16 on GPUs that have it


Batching = Literal["packed", "padded"]
Optimizer = Literal["adamw_torch", "adamw_torch_fused", "adamw_8bit", "paged_adamw_8bit"]


@dataclass(frozen=True)
class DemoModelParams:
    vocab_size: int
    hidden_size: int
    layers: int
    heads: int
    max_positions: int
    pretrain_epochs: int
    seed: int


@dataclass(frozen=True)
class TrainParams:
    quantization: Quantization
    lora_r: int
    lora_alpha: int
    lora_dropout: float
    target_modules: str | tuple[str, ...]
    max_epochs: int
    early_stopping_patience: int
    learning_rate: float
    batch_size: int
    max_length: int
    seed: int
    batching: Batching  # packed: examples share rows, ~1 % padding; padded: pad to the longest
    pack_length: int  # packed: tokens per row (>= max_length; examples are never split)
    gradient_accumulation_steps: int
    gradient_checkpointing: bool
    optimizer: Optimizer
    eval_steps: int  # 0 = evaluate at the end of each epoch
    checkpoint_steps: int  # optimiser steps between resumable checkpoints
    tracking_wait_s: int  # how long the end of training waits for an unreachable MLflow


@dataclass(frozen=True)
class JudgeParams:
    """An optional LLM judge behind an OpenAI-compatible API: candidate vs champion, pairwise."""

    enabled: bool
    base_url: str  # e.g. http://localhost:8000/v1; POST {base_url}/chat/completions
    model: str
    api_key_env: str  # NAME of the environment variable holding the key, never the key
    timeout_s: float  # per request
    max_retries: int  # after the first attempt, with exponential backoff
    backoff_s: float  # first retry delay; doubles on each retry
    max_questions: int  # judge calls cost money: at most this many test questions


@dataclass(frozen=True)
class EvaluateParams:
    max_examples: int
    max_new_tokens: int
    batch_size: int
    latency_examples: int
    samples_to_show: int
    regressions_to_show: int
    bootstrap_samples: int
    seed: int
    judge: JudgeParams


@dataclass(frozen=True)
class PromotionParams:
    """Promotion policy as code: gates evaluated on every candidate, and who may approve."""

    min_metrics: dict[str, float]  # absolute floors on the candidate's test-set metrics
    max_regression: float  # largest drop allowed vs the champion, per metric (absolute)
    must_beat_base: bool  # the candidate must score above the base model on every min_metric
    latency_p95_ms: float  # per-answer latency budget
    require_human_approval: bool  # false = promote automatically when every gate passes
    allow_self_approval: bool  # may the identity that started training approve its own model?
    approval_timeout_s: int  # how long the training flow waits for a decision


@dataclass(frozen=True)
class MonitorParams:
    drift_threshold: float
    retrain_on_drift: bool


@dataclass(frozen=True)
class ScheduleParams:
    timezone: str
    retrain_cron: str
    drift_cron: str
    traffic_path: str


@dataclass(frozen=True)
class Params:
    project: ProjectParams
    prepare: PrepareParams
    validate: ValidateParams
    split: SplitParams
    model: ModelParams
    demo_model: DemoModelParams
    train: TrainParams
    evaluate: EvaluateParams
    promotion: PromotionParams
    monitor: MonitorParams
    schedule: ScheduleParams


def load_params(path: Path = Path("params.yaml")) -> Params:
    """Read params.yaml into `Params`, failing with the offending key on any problem."""
    import yaml

    if not path.is_file():
        raise ConfigError(
            f"{path}: not found. Run tuneline from the project root or pass --params."
        )
    try:
        text = path.read_text(encoding="utf-8")
        _refuse_duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader), str(path), "")
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    _refuse_non_finite(raw, str(path), "")
    params = _build(Params, raw, str(path))
    _check_combinations(params, str(path))
    return params


def _refuse_duplicate_keys(node: Any, where: str, dotted: str) -> None:
    """Fail on a key given twice in one mapping: YAML loaders keep the last one silently, so
    the value a reader sees first in the file is not the one used."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            path = f"{dotted}.{key}" if dotted else key
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(
                    f"{where}:{path}: given twice (lines {seen[key]} and {line}); YAML would "
                    "silently use the last one. Keep one of them"
                )
            seen[key] = line
            _refuse_duplicate_keys(value_node, where, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _refuse_duplicate_keys(item, where, f"{dotted}[{index}]")


def _refuse_non_finite(raw: Any, where: str, dotted: str) -> None:
    """Fail on .nan and .inf: every comparison with NaN is false, so a NaN threshold passes
    or fails every gate whatever the numbers, and an infinite one disables its check."""
    if isinstance(raw, float) and not math.isfinite(raw):
        raise ConfigError(f"{where}:{dotted}: {raw!r} is not a usable number; give a finite value")
    if isinstance(raw, dict):
        for key, value in raw.items():
            _refuse_non_finite(value, where, f"{dotted}.{key}" if dotted else str(key))
    elif isinstance(raw, list):
        for index, value in enumerate(raw):
            _refuse_non_finite(value, where, f"{dotted}[{index}]")


def _build(cls: type, raw: Any, where: str) -> Any:
    """Build dataclass `cls` from a mapping, rejecting unknown and missing keys."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(fields)}")
    values = {}
    for name, f in fields.items():
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{where}: missing key '{name}'")
            continue
        values[name] = _coerce(hints[name], raw[name], f"{where}:{name}")
    return cls(**values)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Check `value` against type `tp`, converting lists to tuples for frozen objects."""
    origin, args = get_origin(tp), get_args(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)  # type: ignore[arg-type]
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not valid; use one of {list(args)}")
        return value
    if origin in (types.UnionType, typing.Union):
        errors = []
        for option in args:
            try:
                return _coerce(option, value, where)
            except ConfigError as exc:
                errors.append(exc.message)
        raise ConfigError(
            f"{where}: {value!r} fits none of the allowed types ({'; '.join(errors)})"
        )
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"{where}: expected null")
        return None
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item_types = args[:-1] if args[-1:] == (Ellipsis,) else args
        if args[-1:] != (Ellipsis,) and len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
        kinds = [item_types[0]] * len(value) if args[-1:] == (Ellipsis,) else list(item_types)
        pairs = enumerate(zip(kinds, value, strict=True))
        return tuple(_coerce(t, v, f"{where}[{i}]") for i, (t, v) in pairs)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return {str(k): _coerce(args[1], v, f"{where}.{k}") for k, v in value.items()}
    return _scalar(tp, value, where)


def _scalar(tp: type, value: Any, where: str) -> Any:
    """Accept ints for floats, but never bools for numbers or numbers for strings."""
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def _check_combinations(p: Params, where: str) -> None:
    """Cross-field rules that no single type can express."""
    held_out = p.split.validation_fraction + p.split.test_fraction
    if not 0 < p.split.test_fraction < 1 or not 0 < p.split.validation_fraction < 1:
        raise ConfigError(f"{where}:split: validation_fraction and test_fraction must be in (0, 1)")
    if held_out >= 0.5:
        raise ConfigError(
            f"{where}:split: validation_fraction + test_fraction = {held_out:.2f} leaves too "
            "little for training; keep the sum below 0.5"
        )
    if p.model.source == "hub" and not p.model.revision:
        raise ConfigError(
            f"{where}:model.revision: '{p.model.base}' is a hub id; pin it with a revision "
            "(a commit sha) so the same weights are used every time"
        )
    for name, (low, high) in (
        ("question_chars", p.validate.question_chars),
        ("answer_chars", p.validate.answer_chars),
    ):
        if low > high:
            raise ConfigError(f"{where}:validate.{name}: min {low} is above max {high}")
    if not 1 <= p.train.max_epochs <= 20:
        raise ConfigError(f"{where}:train.max_epochs: {p.train.max_epochs}; use 2-5 (at most 20)")
    for name, source in p.prepare.sources.items():
        if bool(source.question) != bool(source.answer):
            raise ConfigError(f"{where}:prepare.sources.{name}: give both question and answer")
    if not 0 <= p.prepare.max_bad_row_share <= 1:
        raise ConfigError(f"{where}:prepare.max_bad_row_share: must be between 0 and 1")
    if p.train.quantization != "none" and p.demo_model.hidden_size % 64:
        raise ConfigError(
            f"{where}:demo_model.hidden_size: {p.demo_model.hidden_size} with quantization "
            f"'{p.train.quantization}'; bitsandbytes quantises in blocks of 64 input features, "
            "so use a multiple of 64 (64, 128, ...)"
        )
    if p.promotion.approval_timeout_s < 1 or p.promotion.latency_p95_ms <= 0:
        raise ConfigError(
            f"{where}:promotion: approval_timeout_s and latency_p95_ms must be positive"
        )
    _check_evaluate(p.evaluate, where)
    _check_promotion_gates(p.promotion, where)
    _check_train(p.train, where)


_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def looks_like_variable_name(value: str) -> bool:
    """Whether `value` reads as an environment variable name rather than a credential: a shell
    identifier of at most 64 characters that no secret detector flags (AKIA..., ghp_...), and
    not a mixed-case run with digits of 20 or more characters (a random key: names are words,
    JUDGE_API_KEY, not Xk3fP9...)."""
    from tuneline import pii

    if not _VARIABLE_NAME.fullmatch(value) or pii.has_pii(value):
        return False
    random_looking = (
        len(value) >= 20
        and any(c.islower() for c in value)
        and any(c.isupper() for c in value)
        and any(c.isdigit() for c in value)
    )
    return not random_looking


_GATED_METRICS = ("exact_match", "token_f1", "rouge_l", "chrf")  # tuneline.metrics.QUALITY_METRICS


def _check_evaluate(e: EvaluateParams, where: str) -> None:
    """Counts that must be positive, and a judge that can actually be called when enabled."""
    # latency_examples >= 1: the latency gate must never pass on a latency nobody measured
    for name in (
        "max_examples",
        "max_new_tokens",
        "batch_size",
        "latency_examples",
        "bootstrap_samples",
    ):
        if getattr(e, name) < 1:
            raise ConfigError(f"{where}:evaluate.{name}: must be at least 1")
    for name in ("samples_to_show", "regressions_to_show"):
        if getattr(e, name) < 0:
            raise ConfigError(f"{where}:evaluate.{name}: must be 0 or more")
    judge = e.judge
    if judge.api_key_env and not looks_like_variable_name(judge.api_key_env):
        # the value is never echoed: it may be the key itself
        raise ConfigError(
            f"{where}:evaluate.judge.api_key_env: give the NAME of an environment variable "
            "(e.g. JUDGE_API_KEY: letters, digits and _, not starting with a digit), never the "
            "key itself; keys do not belong in params.yaml. If a key was written there, "
            "remove it and rotate it"
        )
    if judge.timeout_s <= 0 or judge.max_retries < 0 or judge.backoff_s < 0:
        raise ConfigError(
            f"{where}:evaluate.judge: timeout_s must be positive, max_retries and backoff_s "
            "0 or more"
        )
    if judge.enabled and not (judge.base_url.startswith(("http://", "https://")) and judge.model):
        raise ConfigError(
            f"{where}:evaluate.judge: enabled needs base_url (http(s)://host/v1) and model; "
            "or set enabled: false"
        )
    if judge.enabled and judge.max_questions < 1:
        raise ConfigError(f"{where}:evaluate.judge.max_questions: must be at least 1")


def _check_promotion_gates(g: PromotionParams, where: str) -> None:
    """Gate thresholds only on metrics the evaluation computes, in their 0-1 range."""
    unknown = sorted(set(g.min_metrics) - set(_GATED_METRICS))
    if unknown:
        raise ConfigError(
            f"{where}:promotion.min_metrics: unknown metric(s) {unknown}; use "
            f"{', '.join(_GATED_METRICS)} (latency has its own key, latency_p95_ms)"
        )
    for name, floor in g.min_metrics.items():
        if not 0 <= floor <= 1:
            raise ConfigError(
                f"{where}:promotion.min_metrics.{name}: {floor} is outside 0-1; these metrics "
                "are shares, e.g. 0.15"
            )
    if not 0 <= g.max_regression <= 1:
        raise ConfigError(f"{where}:promotion.max_regression: must be between 0 and 1")


def _check_train(t: TrainParams, where: str) -> None:
    """Training knobs whose wrong values would only fail deep inside the Trainer."""
    for name in ("lora_r", "lora_alpha", "batch_size", "gradient_accumulation_steps"):
        if getattr(t, name) < 1:
            raise ConfigError(f"{where}:train.{name}: must be at least 1")
    for name in ("checkpoint_steps", "early_stopping_patience"):
        if getattr(t, name) < 1:
            raise ConfigError(f"{where}:train.{name}: must be at least 1")
    if t.eval_steps < 0 or t.tracking_wait_s < 0:
        raise ConfigError(
            f"{where}:train: eval_steps (0 = each epoch) and tracking_wait_s must be 0 or more"
        )
    if not 0 <= t.lora_dropout < 1:
        raise ConfigError(f"{where}:train.lora_dropout: {t.lora_dropout}; use 0 to 0.5")
    if t.max_length < 8:
        raise ConfigError(f"{where}:train.max_length: {t.max_length} tokens; use at least 8")
    if t.pack_length < t.max_length:
        raise ConfigError(
            f"{where}:train.pack_length: {t.pack_length} tokens is shorter than train.max_length "
            f"({t.max_length}); a packed row must hold the longest example: use at least "
            f"{t.max_length} (2 x max_length = {2 * t.max_length} keeps padding near 1 %)"
        )
    if t.learning_rate <= 0:
        raise ConfigError(f"{where}:train.learning_rate: must be positive")
