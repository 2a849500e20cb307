"""Train stage: QLoRA adapters on the train split, validation each epoch (or every N steps), early
stopping, and the best evaluation's weights restored before the adapter is saved. The test
split is never read here.

Resumable: a checkpoint every `train.checkpoint_steps` steps (marked complete only once whole,
see checkpoints.py); running the stage again after a crash or `kill -9` resumes from the newest
complete one and ends with the same figures as an uninterrupted run. SIGTERM saves a checkpoint
and exits 143 with the MLflow run KILLED. Metrics go through a local buffer, so an MLflow outage
does not stop training or lose the curve. Multi-GPU: `accelerate launch` (DDP), rank 0 alone
tracks and saves (infra/accelerate/ddp.yaml).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tuneline import atomic, packing, prompts, tracking
from tuneline import checkpoints as ckpt
from tuneline.base_model import (
    BaseModelRef,
    compute_dtype,
    load_base_config,
    load_base_model,
    load_tokenizer,
    resolve_base,
)
from tuneline.errors import DataError, TunelineError
from tuneline.params import Params, TrainParams
from tuneline.prepare import read_jsonl

log = logging.getLogger(__name__)

CHECKPOINTS = Path("models/checkpoints")  # under the project root; removed after a finished run
PENDING_METRICS = "mlflow-pending.jsonl"  # in CHECKPOINTS: metrics MLflow has not received yet


@dataclass(frozen=True)
class TrainReport:
    run_id: str
    best_epoch: float  # epoch (fractional with eval_steps) of the evaluation whose weights are kept
    best_step: int
    best_eval_loss: float
    epochs_run: float
    steps_run: int
    stopped_early: bool
    curve: list[dict[str, float]]  # per evaluation: step, epoch, train_loss, eval_loss
    train_examples: int
    validation_examples: int
    batching: str
    examples_per_step: float  # mean examples per device per optimiser step (packed: ~batch_size)
    padding_share: float  # padded share of the positions the model computes on (this batching)
    naive_padding_share: float  # the same figure for the naive pad-to-longest collator
    memory_estimate_gib: float
    resumed_from_step: int | None  # the checkpoint this run continued from, if any
    adapter_dir: str


def is_main_process() -> bool:
    """Rank 0 under DDP (`accelerate launch`), or the only process."""
    return int(os.environ.get("RANK", "0")) == 0


def train_adapter(
    params: Params,
    root: Path,
    train_path: Path,
    validation_path: Path,
    adapter_dir: Path,
    data_hashes: dict[str, str],
) -> TrainReport:
    """Fine-tune LoRA adapters on a (quantised) base and save the best evaluation's adapter."""
    import transformers

    cfg = params.train
    transformers.set_seed(cfg.seed)
    base_ref = resolve_base(params.model, root)
    tokenizer = load_tokenizer(params.model, root)
    train_set, val_set = _encode_splits(params, tokenizer, train_path, validation_path)
    memory = check_memory(params, root)
    files = {p.name: _sha256(p) for p in (train_path, validation_path)}
    checkpoints = root / CHECKPOINTS
    # what decides the weights; knobs that do not (how long to wait for MLflow, how often to
    # checkpoint) may change between a crash and the re-run without discarding checkpoints
    weights_cfg = {
        k: v for k, v in asdict(cfg).items() if k not in ("tracking_wait_s", "checkpoint_steps")
    }
    print_ = ckpt.fingerprint(
        {"train": weights_cfg, "model": asdict(params.model), "base": asdict(base_ref)} | files
    )
    model = _with_adapters(load_base_model(params.model, root, cfg.quantization), cfg)
    trainer = make_trainer(model, tokenizer, train_set, val_set, cfg, checkpoints)
    with trainer.args.main_process_first(desc="checkpoint folder"):
        ckpt.prepare_dir(checkpoints, print_)  # rank 0 first: it may clear another config's
    with _tracked_run(params, root, checkpoints) as (run_id, buffer):
        if run_id:
            _log_inputs(params, root, base_ref, data_hashes | files, memory, train_set, val_set)
        control = control_of(trainer)
        control.buffer = buffer
        history, resumed_from = _run_training(trainer, control, checkpoints)
        _restore_best(trainer.model, control)
        report = _report(run_id or "", history, control, cfg, train_set, val_set, tokenizer)
        report = replace(
            report,
            memory_estimate_gib=round(memory.total / 1024**3, 3),
            resumed_from_step=resumed_from,
            adapter_dir=str(adapter_dir),
        )
        if is_main_process():
            _save_adapter(trainer.model, tokenizer, base_ref, adapter_dir)
        _deliver(buffer, report, adapter_dir, cfg, checkpoints)
    if is_main_process():
        ckpt.clear(checkpoints)  # the folder stays: it may be a mount point
    log.info(
        "train: best evaluation at step %d (epoch %.2f, eval_loss %.4f) of %d steps",
        report.best_step,
        report.best_epoch,
        report.best_eval_loss,
        report.steps_run,
    )
    return report


def _encode_splits(
    params: Params, tokenizer: Any, train_path: Path, validation_path: Path
) -> tuple[list[dict], list[dict]]:
    """Token ids and answer-only labels for both splits (the test split is never read here)."""
    train_rows, val_rows = read_jsonl(train_path), read_jsonl(validation_path)
    for path, rows in ((train_path, train_rows), (validation_path, val_rows)):
        if not rows:
            raise DataError(f"{path}: no examples; check the split stage and its fractions")
    system, max_length = params.model.system_prompt, params.train.max_length
    encode = prompts.encode_example
    return (
        [encode(tokenizer, r, system, max_length) for r in train_rows],
        [encode(tokenizer, r, system, max_length) for r in val_rows],
    )


def check_memory(params: Params, root: Path) -> Any:
    """Estimate peak memory from the base's config (no weights loaded yet), print it, and fail
    with the knobs to turn when it exceeds what this device has free."""
    import torch

    from tuneline import memory

    on_gpu = torch.cuda.is_available()
    config = load_base_config(params.model, root)
    meta = memory.meta_model(config, params.model.trust_remote_code)
    dtype_bytes = compute_dtype(params.model.compute_dtype).itemsize
    needed = memory.estimate(meta, params.train, dtype_bytes, on_gpu)
    layers = memory.adapted_layers(meta, params.train.target_modules)
    kinds = sorted({name.rsplit(".", 1)[-1] for name in layers})
    log.info("train: LoRA on %d Linear layers (%s)", len(layers), ", ".join(kinds))
    log.info(
        "train: memory estimate per device %s; %d trainable parameters",
        needed.describe(),
        needed.trainable_params,
    )
    if not layers:
        raise TunelineError(
            f"train.target_modules: {params.train.target_modules} matches no Linear layer; "
            f"this model has {sorted({n.rsplit('.', 1)[-1] for n in memory.linear_layers(meta)})}"
        )
    device = torch.cuda.get_device_name() if on_gpu else "CPU (host RAM)"
    memory.check_fits(needed, memory.available_bytes(on_gpu), params.train, device)
    return needed


def _with_adapters(model: Any, cfg: TrainParams) -> Any:
    """Wrap the frozen base with LoRA adapters on `train.target_modules`."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    model.config.use_cache = False  # a generation cache is dead weight in training
    if cfg.quantization != "none":
        # casts norms to fp32 and enables input grads so adapters train through frozen 4-bit layers
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=cfg.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
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


def make_trainer(
    model: Any,
    tokenizer: Any,
    train_set: list[dict],
    val_set: list[dict],
    cfg: TrainParams,
    checkpoints: Path,
) -> Any:
    """The Trainer with tuneline's batching, evaluation, checkpointing and early stopping.

    Early stopping and keeping the best weights are done by `TrainingControl` rather than
    `load_best_model_at_end`, which would force a checkpoint per evaluation only and re-read it.
    """
    import torch
    from transformers import PrinterCallback, Trainer, TrainingArguments

    on_gpu = torch.cuda.is_available()
    dtype = getattr(model, "dtype", torch.float32)
    by_steps = cfg.eval_steps > 0
    train_plan = batch_plan(cfg, train_set, tokenizer)
    val_plan = batch_plan(cfg, val_set, tokenizer)
    _log_plan(cfg, train_set, train_plan)
    args = TrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=cfg.max_epochs,
        per_device_train_batch_size=train_plan.per_step,  # packed: rows, else examples
        per_device_eval_batch_size=val_plan.per_step,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        activation_checkpointing=cfg.gradient_checkpointing,  # transformers 5 name for it
        activation_checkpointing_kwargs={"use_reentrant": False},
        learning_rate=cfg.learning_rate,
        optim=cfg.optimizer,
        lr_scheduler_type="constant_with_warmup",  # early stopping decides the length, not a decay
        warmup_steps=0.05,
        eval_strategy="steps" if by_steps else "epoch",
        eval_steps=cfg.eval_steps if by_steps else None,
        save_strategy="steps",
        save_steps=cfg.checkpoint_steps,
        save_total_limit=None,  # pruned by TrainingControl once a newer one is marked complete
        logging_strategy="steps",
        logging_steps=1,  # per-step losses: the epoch means stay exact across a resume
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=on_gpu and dtype == torch.bfloat16,
        fp16=on_gpu and dtype == torch.float16,
        report_to=[],
        use_cpu=not on_gpu,
        ddp_find_unused_parameters=False,  # every adapter weight gets a gradient
        disable_tqdm=True,  # one log line per evaluation instead of a bar in DVC/Prefect logs
        remove_unused_columns=False,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_plan.items,  # the Trainer shuffles these per epoch (data_seed)
        eval_dataset=val_plan.items,
        data_collator=train_plan.collator,  # the same for both splits
        processing_class=tokenizer,
        callbacks=[_as_callback(TrainingControl(cfg, checkpoints))],
    )
    trainer.remove_callback(PrinterCallback)  # a dict per step on stdout; we log per evaluation
    return trainer


def batch_plan(cfg: TrainParams, examples: list[dict], tokenizer: Any) -> packing.BatchPlan:
    """The items the Trainer batches for `examples` under `train.batching` (see packing.py)."""
    return packing.plan_batches(
        examples, cfg.batching, cfg.batch_size, cfg.pack_length, tokenizer.pad_token_id
    )


def _log_plan(cfg: TrainParams, examples: list[dict], plan: packing.BatchPlan) -> None:
    """Say how the examples were packed, and warn when a step's size drifts from batch_size."""
    if cfg.batching != "packed" or not examples:
        return
    tokens = sum(len(row["input_ids"]) for row in plan.items)
    log.info(
        "train: %d examples packed into %d rows of <= %d tokens (%.1f %% full); "
        "%d rows (~%.1f examples) per step",
        len(examples),
        len(plan.items),
        cfg.pack_length,
        100 * tokens / (len(plan.items) * cfg.pack_length),
        plan.per_step,
        plan.examples_per_step,
    )
    if abs(plan.examples_per_step - cfg.batch_size) > 0.25 * cfg.batch_size:
        log.warning(
            "train: a step takes whole rows of ~%.1f examples, so ~%.1f examples per step instead "
            "of train.batch_size %d; lower train.pack_length (>= max_length %d) for a closer fit",
            plan.examples_per_step / plan.per_step,
            plan.examples_per_step,
            cfg.batch_size,
            cfg.max_length,
        )


def control_of(trainer: Any) -> TrainingControl:
    """The trainer's TrainingControl callback."""
    return next(c for c in trainer.callback_handler.callbacks if isinstance(c, TrainingControl))


def _as_callback(control: TrainingControl) -> Any:
    """`control` as a transformers TrainerCallback (kept out of the class so that importing this
    module does not import transformers)."""
    from transformers import TrainerCallback

    control.__class__ = type("TrainingControlCallback", (TrainingControl, TrainerCallback), {})
    return control


class TrainingControl:
    """Early stopping, the best weights, completion markers, SIGTERM and live metrics.

    Every decision reads `state.log_history`, which the Trainer restores on resume, so a resumed
    run decides exactly as an uninterrupted one would.
    """

    def __init__(self, cfg: TrainParams, checkpoints: Path) -> None:
        self.cfg, self.checkpoints = cfg, checkpoints
        self.best_weights: dict[str, Any] | None = None
        self.best_info: dict[str, float] | None = None
        self.stop_requested = False
        self.stop_signal = signal.SIGTERM  # which signal asked for the stop (SIGTERM or SIGINT)
        self.buffer: tracking.MetricBuffer | None = None

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
        keep = ("loss", "eval_loss", "grad_norm", "learning_rate")
        metrics = {k: float(v) for k, v in (logs or {}).items() if k in keep}
        if self.buffer is not None and metrics:
            self.buffer.log({f"curve.{k}": v for k, v in metrics.items()}, step=state.global_step)

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kw: Any):
        from peft import get_peft_model_state_dict

        loss = float(metrics["eval_loss"])
        if self.best_info is None or loss < self.best_info["eval_loss"]:
            weights = get_peft_model_state_dict(kw["model"])
            self.best_weights = {k: v.detach().cpu().clone() for k, v in weights.items()}
            self.best_info = {"step": state.global_step, "epoch": state.epoch, "eval_loss": loss}
        evals = [e["eval_loss"] for e in state.log_history if "eval_loss" in e]
        since_best = len(evals) - 1 - evals.index(min(evals))
        log.info(
            "train: step %d epoch %.2f eval_loss %.4f (best %.4f)",
            state.global_step,
            state.epoch,
            loss,
            self.best_info["eval_loss"],
        )
        if since_best >= self.cfg.early_stopping_patience:
            log.info("train: no improvement in %d evaluation(s); stopping early", since_best)
            control.should_training_stop = True
        control.should_save = True  # a checkpoint after every evaluation
        return control

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> Any:
        if _any_process(self.stop_requested, args):
            log.warning(
                "train: %s; saving a checkpoint at step %d, then exiting",
                self.stop_signal.name,
                state.global_step,
            )
            control.should_save = control.should_training_stop = True
        last = state.global_step >= state.max_steps
        if last and self.cfg.eval_steps and state.global_step % self.cfg.eval_steps:
            control.should_evaluate = True  # the weights of the last steps are judged too
        return control

    def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> Any:
        if not state.is_world_process_zero:
            return control
        folder = self.checkpoints / f"checkpoint-{state.global_step}"
        if self.best_weights is not None and self.best_info is not None:
            ckpt.save_best(folder, self.best_weights, self.best_info)
        ckpt.mark_complete(folder, state.global_step)
        ckpt.prune(self.checkpoints, keep=folder)
        return control

    def restore(self, folder: Path) -> None:
        """Take the best-so-far weights back from a checkpoint being resumed from."""
        saved = ckpt.load_best(folder)
        if saved is not None:
            self.best_weights, self.best_info = saved


def _any_process(flag: bool, args: Any) -> bool:
    """`flag` OR-ed over all DDP processes, so every rank stops at the same step."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return flag
    value = torch.tensor([float(flag)], device=args.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def _run_training(
    trainer: Any, control: TrainingControl, checkpoints: Path
) -> tuple[list[dict], int | None]:
    """Train (resuming from the newest complete checkpoint if any); returns the log history and
    the step resumed from. SIGTERM stops at the next step with a checkpoint, then exits 143."""
    latest = ckpt.latest_complete(checkpoints)
    if latest is not None:
        control.restore(latest)
    resumed_from = _checkpoint_step(latest)
    if ckpt.is_finished(checkpoints) and latest is not None:
        log.info("train: training had finished at %s; saving and tracking only", latest.name)
        state = json.loads((latest / "trainer_state.json").read_text(encoding="utf-8"))
        return state["log_history"], resumed_from
    if latest is not None:
        log.info("train: resuming from %s", latest)
    with _graceful_sigterm(control), atomic.reporting_out_of_space(checkpoints):
        trainer.train(resume_from_checkpoint=str(latest) if latest is not None else None)
    if control.stop_requested:
        if control.buffer is not None:
            control.buffer.flush(force=True)
        raise tracking.Interrupted(128 + control.stop_signal)
    if is_main_process():
        ckpt.mark_finished(checkpoints)
    return trainer.state.log_history, resumed_from


def _checkpoint_step(folder: Path | None) -> int | None:
    return int(folder.name.rsplit("-", 1)[1]) if folder is not None else None


@contextmanager
def _graceful_sigterm(control: TrainingControl) -> Iterator[None]:
    """While training, SIGTERM (or Ctrl-C) asks for a checkpoint and a clean stop instead of
    dying mid-step; the process then exits 128 + the signal's number."""
    if not tracking._is_main_thread():
        yield
        return

    def request_stop(signum: int, frame: Any) -> None:
        control.stop_requested = True
        control.stop_signal = signal.Signals(signum)

    with tracking.signals_handled(request_stop):
        yield


@contextmanager
def _tracked_run(
    params: Params, root: Path, checkpoints: Path
) -> Iterator[tuple[str | None, tracking.MetricBuffer | None]]:
    """The MLflow run (rank 0 only): the one the checkpoints belong to when resuming, else new."""
    if not is_main_process():
        yield None, None
        return
    run_id = ckpt.read_run_id(checkpoints)
    if run_id and not tracking.run_exists(params.project, root, run_id):
        run_id = None
    with tracking.run(params.project, root, run_id=run_id, run_name="train") as run:
        ckpt.write_run_id(checkpoints, run.info.run_id)
        uri = tracking.tracking_uri(params.project, root)
        yield (
            run.info.run_id,
            tracking.MetricBuffer(uri, run.info.run_id, checkpoints / PENDING_METRICS),
        )


def _report(
    run_id: str,
    history: list[dict],
    control: TrainingControl,
    cfg: TrainParams,
    train_set: list[dict],
    val_set: list[dict],
    tokenizer: Any,
) -> TrainReport:
    """Figures of the finished training, all derived from the (resume-proof) log history."""
    curve = validation_curve(history)
    if not curve or control.best_info is None:
        raise TunelineError("train: no evaluation ran; check train.eval_steps and the data size")
    steps = max(int(e.get("step", 0)) for e in history)
    plan = batch_plan(cfg, train_set, tokenizer)
    naive = batch_plan(replace(cfg, batching="padded"), train_set, tokenizer)
    epochs_run = max(float(e.get("epoch", 0)) for e in history)
    return TrainReport(
        run_id=run_id,
        best_epoch=round(float(control.best_info["epoch"]), 4),
        best_step=int(control.best_info["step"]),
        best_eval_loss=float(control.best_info["eval_loss"]),
        epochs_run=round(epochs_run, 4),
        steps_run=steps,
        stopped_early=epochs_run < cfg.max_epochs - 1e-6,
        curve=curve,
        train_examples=len(train_set),
        validation_examples=len(val_set),
        batching=cfg.batching,
        examples_per_step=round(plan.examples_per_step, 2),
        padding_share=packing.plan_padding_share(plan, cfg.seed),
        naive_padding_share=packing.plan_padding_share(naive, cfg.seed),
        memory_estimate_gib=0.0,
        resumed_from_step=None,
        adapter_dir="",
    )


def validation_curve(history: list[dict]) -> list[dict[str, float]]:
    """One row per evaluation: its step and epoch, the mean training loss of the steps since the
    previous evaluation, and the validation loss."""
    losses = {int(e["step"]): float(e["loss"]) for e in history if "loss" in e}
    curve, previous = [], 0
    for entry in history:
        if "eval_loss" not in entry:
            continue
        step = int(entry["step"])
        window = [loss for s, loss in losses.items() if previous < s <= step]
        row = {"step": float(step), "epoch": round(float(entry["epoch"]), 4)}
        if window:
            row["train_loss"] = sum(window) / len(window)
        row["eval_loss"] = float(entry["eval_loss"])
        curve.append(row)
        previous = step
    return curve


def _save_adapter(model: Any, tokenizer: Any, base_ref: BaseModelRef, adapter_dir: Path) -> None:
    """Adapter weights (safetensors), the tokenizer and the base reference: all serving needs."""
    with atomic.output_dir(adapter_dir) as folder:  # the old adapter stays until this is whole
        model.save_pretrained(str(folder), safe_serialization=True)
        tokenizer.save_pretrained(str(folder))
        (folder / "base_model.json").write_text(base_ref.to_json() + "\n", encoding="utf-8")


def _restore_best(model: Any, control: TrainingControl) -> None:
    from peft import set_peft_model_state_dict

    if control.best_weights is not None:
        set_peft_model_state_dict(model, control.best_weights)


def _log_inputs(
    params: Params,
    root: Path,
    base_ref: BaseModelRef,
    data_hashes: dict[str, str],
    memory: Any,
    train_set: list[dict],
    val_set: list[dict],
) -> None:
    """Everything needed to reproduce the run: params, seeds, data hashes, versions, base."""
    import mlflow

    flat = {f"train.{k}": v for k, v in asdict(params.train).items()}
    flat |= {f"model.{k}": v for k, v in asdict(params.model).items() if k != "system_prompt"}
    flat |= {
        "data.train_examples": len(train_set),
        "data.validation_examples": len(val_set),
        "data.order": f"seeded shuffle per epoch (seed {params.train.seed}) of "
        + ("packed rows" if params.train.batching == "packed" else "examples"),
        "memory.estimate_gib": round(memory.total / 1024**3, 3),
        "memory.trainable_params": memory.trainable_params,
    }
    mlflow.log_params(flat)
    mlflow.set_tags(
        tracking.git_state(root)
        | _library_versions()
        | {f"data.{k}": v for k, v in data_hashes.items()}
        | {"model.trust_remote_code": str(params.model.trust_remote_code).lower()}
    )
    mlflow.log_text(base_ref.to_json(), "lineage/base_model.json")
    mlflow.log_artifact(str(root / "params.yaml"), "lineage")
    for name in ("dvc.lock", "data/sources.json"):
        if (root / name).is_file():
            mlflow.log_artifact(str(root / name), "lineage")


def _deliver(
    buffer: tracking.MetricBuffer | None,
    report: TrainReport,
    adapter_dir: Path,
    cfg: TrainParams,
    checkpoints: Path,
) -> None:
    """Send the buffered curve and the outputs to MLflow (rank 0), waiting out a short outage.

    If MLflow stays unreachable, the stage fails with the checkpoints kept: running it again
    skips the finished training and only saves and delivers.
    """
    if buffer is None:
        return
    if not buffer.flush_within(cfg.tracking_wait_s):
        raise TunelineError(
            f"train: MLflow unreachable for {cfg.tracking_wait_s} s after training; the adapter "
            f"is in {adapter_dir}, {buffer.pending} metric rows are kept in {buffer.path}. "
            "Run the train stage again when MLflow is back: it delivers without retraining."
        )
    _log_outputs(report, adapter_dir)


def _log_outputs(report: TrainReport, adapter_dir: Path) -> None:
    """Final figures, the chosen evaluation and the whole validation curve, and the adapter."""
    import mlflow

    mlflow.log_metrics(
        {
            "best_epoch": report.best_epoch,
            "best_step": report.best_step,
            "best_eval_loss": report.best_eval_loss,
            "epochs_run": report.epochs_run,
            "examples_per_step": report.examples_per_step,
            "padding_share": report.padding_share,
            "naive_padding_share": report.naive_padding_share,
        }
    )
    curve = [[row["step"], row["epoch"], row["eval_loss"]] for row in report.curve]
    mlflow.set_tags(
        {
            "train.best_epoch": str(report.best_epoch),
            "train.best_step": str(report.best_step),
            "train.best_eval_loss": f"{report.best_eval_loss:.6f}",
            "train.validation_curve": json.dumps(curve)[:5000],  # [step, epoch, eval_loss] rows
        }
    )
    mlflow.log_dict(asdict(report), "reports/train.json")
    mlflow.log_artifacts(str(adapter_dir), "adapter")


def _library_versions() -> dict[str, str]:
    import platform
    from importlib.metadata import version

    names = ("torch", "transformers", "peft", "bitsandbytes", "accelerate")
    return {f"lib.{name}": version(name) for name in names} | {
        "lib.python": platform.python_version()
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_report(report: TrainReport, path: Path) -> None:
    """reports/train.json (rank 0 only under DDP)."""
    if not is_main_process():
        return
    atomic.write_text(path, json.dumps(asdict(report), indent=2) + "\n")
