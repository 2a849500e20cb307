"""Train stage: QLoRA adapters on the train split, validation each epoch, early stopping, and the
best epoch's weights restored before the adapter is saved. The test split is never read here.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tuneline import prompts, tracking
from tuneline.base_model import load_base_model, load_tokenizer, resolve_base
from tuneline.errors import DataError
from tuneline.params import Params, TrainParams
from tuneline.prepare import read_jsonl

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainReport:
    run_id: str
    best_epoch: int
    best_eval_loss: float
    epochs_run: int
    stopped_early: bool
    curve: list[dict[str, float]]  # per epoch: epoch, train_loss, eval_loss
    train_examples: int
    validation_examples: int
    padding_share: float  # share of padded positions in the training batches
    adapter_dir: str


def train_adapter(
    params: Params,
    root: Path,
    train_path: Path,
    validation_path: Path,
    adapter_dir: Path,
    data_hashes: dict[str, str],
) -> TrainReport:
    """Fine-tune LoRA adapters on a (quantised) base and save the best epoch's adapter."""
    import transformers

    cfg = params.train
    transformers.set_seed(cfg.seed)
    base_ref = resolve_base(params.model, root)
    tokenizer = load_tokenizer(params.model, root)
    train_rows, val_rows = read_jsonl(train_path), read_jsonl(validation_path)
    if not train_rows or not val_rows:
        raise DataError(f"{train_path} or {validation_path} is empty; check the split stage")
    system = params.model.system_prompt
    train_set = [prompts.encode_example(tokenizer, r, system, cfg.max_length) for r in train_rows]
    val_set = [prompts.encode_example(tokenizer, r, system, cfg.max_length) for r in val_rows]
    model = _with_adapters(load_base_model(params.model, root, cfg.quantization), cfg)
    checkpoints = root / "models" / "checkpoints"
    shutil.rmtree(checkpoints, ignore_errors=True)  # a fresh run: no stale checkpoint to pick
    with tracking.run(params.project, root, run_name="train") as run:
        _log_inputs(params, root, base_ref.to_json(), data_hashes, len(train_set), len(val_set))
        trainer = _make_trainer(model, tokenizer, train_set, val_set, cfg, checkpoints)
        trainer.train()
        report = _report(run.info.run_id, trainer, train_set, val_set, tokenizer, cfg, adapter_dir)
        _save_adapter(trainer.model, tokenizer, base_ref.to_json(), adapter_dir)
        _log_outputs(report, adapter_dir)
    shutil.rmtree(checkpoints, ignore_errors=True)
    log.info(
        "train: best epoch %d (eval_loss %.4f) of %d",
        report.best_epoch,
        report.best_eval_loss,
        report.epochs_run,
    )
    return report


def _with_adapters(model: Any, cfg: TrainParams) -> Any:
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if cfg.quantization != "none":
        # casts norms to fp32 and enables input grads so adapters train through frozen 4-bit layers
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    targets = (
        cfg.target_modules if isinstance(cfg.target_modules, str) else list(cfg.target_modules)
    )
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def _make_trainer(
    model: Any, tokenizer: Any, train_set: list, val_set: list, cfg: TrainParams, checkpoints: Path
) -> Any:
    import torch
    from transformers import EarlyStoppingCallback, Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=cfg.max_epochs,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="constant_with_warmup",  # early stopping decides the length, not a decay
        warmup_steps=0.05,
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="epoch",
        load_best_model_at_end=True,  # roll back to the best epoch when validation got worse
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        save_total_limit=cfg.early_stopping_patience + 1,  # the best one is always kept too
        seed=cfg.seed,
        data_seed=cfg.seed,
        report_to=[],
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=False,
        remove_unused_columns=False,
    )
    return Trainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=val_set,
        data_collator=prompts.PadCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=[
            EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience),
            _epoch_logger(),
        ],
    )


def _epoch_curve(log_history: list[dict]) -> list[dict[str, float]]:
    """Merge the Trainer's per-epoch train and eval log entries into one row per epoch."""
    rows: dict[int, dict[str, float]] = {}
    for entry in log_history:
        if "epoch" not in entry:
            continue
        epoch = round(entry["epoch"])
        row = rows.setdefault(epoch, {"epoch": float(epoch)})
        if "loss" in entry:
            row["train_loss"] = float(entry["loss"])
        if "eval_loss" in entry:
            row["eval_loss"] = float(entry["eval_loss"])
    return [rows[e] for e in sorted(rows) if "eval_loss" in rows[e]]


def _report(
    run_id: str,
    trainer: Any,
    train_set: list,
    val_set: list,
    tokenizer: Any,
    cfg: TrainParams,
    adapter_dir: Path,
) -> TrainReport:
    curve = _epoch_curve(trainer.state.log_history)
    best = min(curve, key=lambda row: row["eval_loss"])
    return TrainReport(
        run_id=run_id,
        best_epoch=int(best["epoch"]),
        best_eval_loss=best["eval_loss"],
        epochs_run=len(curve),
        stopped_early=len(curve) < cfg.max_epochs,
        curve=curve,
        train_examples=len(train_set),
        validation_examples=len(val_set),
        padding_share=prompts.padding_share(train_set, cfg.batch_size),
        adapter_dir=str(adapter_dir),
    )


def _save_adapter(model: Any, tokenizer: Any, base_ref_json: str, adapter_dir: Path) -> None:
    """Adapter weights (safetensors), the tokenizer and the base reference: all serving needs."""
    shutil.rmtree(adapter_dir, ignore_errors=True)
    model.save_pretrained(str(adapter_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(adapter_dir))
    (adapter_dir / "base_model.json").write_text(base_ref_json + "\n", encoding="utf-8")


def _log_inputs(
    params: Params,
    root: Path,
    base_ref_json: str,
    data_hashes: dict[str, str],
    n_train: int,
    n_val: int,
) -> None:
    import mlflow

    flat = {f"train.{k}": v for k, v in asdict(params.train).items()}
    flat |= {f"model.{k}": v for k, v in asdict(params.model).items() if k != "system_prompt"}
    mlflow.log_params(flat | {"data.train_examples": n_train, "data.validation_examples": n_val})
    mlflow.set_tags(
        tracking.git_state(root)
        | _library_versions()
        | {f"data.{k}": v for k, v in data_hashes.items()}
    )
    mlflow.log_text(base_ref_json, "lineage/base_model.json")
    mlflow.log_artifact(str(root / "params.yaml"), "lineage")
    for name in ("dvc.lock", "data/sources.json"):
        if (root / name).is_file():
            mlflow.log_artifact(str(root / name), "lineage")


def _log_outputs(report: TrainReport, adapter_dir: Path) -> None:
    import mlflow

    mlflow.log_metrics(
        {
            "best_epoch": report.best_epoch,
            "best_eval_loss": report.best_eval_loss,
            "epochs_run": report.epochs_run,
            "padding_share": report.padding_share,
        }
    )
    mlflow.log_dict(asdict(report), "reports/train.json")
    mlflow.log_artifacts(str(adapter_dir), "adapter")


def _library_versions() -> dict[str, str]:
    from importlib.metadata import version

    names = ("torch", "transformers", "peft", "bitsandbytes", "accelerate")
    return {f"lib.{name}": version(name) for name in names}


def _epoch_logger() -> Any:
    """A Trainer callback that sends each epoch's losses to the active MLflow run as they come."""
    from transformers import TrainerCallback

    class MlflowEpochLogger(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            import mlflow

            keep = {
                k: float(v)
                for k, v in (logs or {}).items()
                if k in ("loss", "eval_loss", "grad_norm", "learning_rate")
            }
            if keep and mlflow.active_run() is not None:
                mlflow.log_metrics(
                    {f"curve.{k}": v for k, v in keep.items()}, step=round(state.epoch or 0)
                )

    return MlflowEpochLogger()


def write_report(report: TrainReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(report), indent=2) + "\n", encoding="utf-8")
