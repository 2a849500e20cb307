"""The pipeline's file-producing stages: what each reads, writes and which params it uses, and the
few lines that run it. dvc.yaml must declare exactly this (a test checks), and the Prefect flow
runs these stages through `dvc repro`, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tuneline import atomic, layout
from tuneline.errors import GateFailed
from tuneline.params import Params

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageSpec:
    name: str
    deps: tuple[str, ...]
    params: tuple[str, ...]  # params.yaml keys (sections) the stage reads
    outs: tuple[str, ...]
    metrics: tuple[str, ...] = ()

    @property
    def cmd(self) -> str:
        return f"python -m tuneline stage {self.name}"


def _src(module: str) -> str:
    return f"src/tuneline/{module}.py"


PIPELINE: tuple[StageSpec, ...] = (
    StageSpec(
        "prepare",
        (
            str(layout.RAW_DIR),
            str(layout.SOURCES_MANIFEST),
            _src("prepare"),
            _src("prepare_columnar"),
            _src("sources"),
            _src("mapping"),
            _src("pii"),
        ),
        (
            "prepare",
            "model.source",
            "model.base",
            "model.revision",
            "model.system_prompt",
            "train.max_length",
        ),
        (str(layout.PREPARED), str(layout.QUARANTINE)),
        (str(layout.PREPARE_REPORT),),
    ),
    StageSpec(
        "validate",
        (
            str(layout.PREPARED),
            _src("validate"),
            _src("expectations"),
            _src("pii"),  # the "no personal data left" check uses the same detectors
            _src("prepare"),  # read_jsonl
            _src("prepare_columnar"),  # the fast reader
        ),
        ("validate",),
        (str(layout.VALIDATION_DIR),),
    ),
    StageSpec(
        "split",
        (str(layout.PREPARED), str(layout.VALIDATION_DIR), _src("split")),
        ("split",),
        (str(layout.TRAIN), str(layout.VALIDATION), str(layout.TEST)),
        (str(layout.SPLIT_REPORT),),
    ),
    StageSpec(
        "train",
        (
            str(layout.TRAIN),
            str(layout.VALIDATION),
            _src("train"),
            _src("prompts"),
            _src("base_model"),
            _src("packing"),
            _src("checkpoints"),
            _src("memory"),
        ),
        ("model", "train"),
        (str(layout.ADAPTER_DIR),),
        (str(layout.TRAIN_REPORT),),
    ),
    StageSpec(
        "evaluate",
        (
            str(layout.TEST),
            str(layout.ADAPTER_DIR),
            str(layout.PREPARE_REPORT),  # data-quality summary in the reviewer pack
            str(layout.VALIDATION_DIR),
            _src("evaluate"),
            _src("metrics"),
            _src("prompts"),
            _src("gates"),
            _src("judge"),
            _src("reviewer_pack"),
        ),
        (
            "model",
            "train.quantization",
            "train.max_length",
            "evaluate",
            "promotion.min_metrics",
            "promotion.max_regression",
            "promotion.must_beat_base",
            "promotion.latency_p95_ms",
            "promotion.require_human_approval",
        ),
        (str(layout.EVAL_DIR),),
    ),
)


def run_stage(name: str, params: Params, root: Path) -> None:
    """Run one stage by name in `root` (what `tuneline stage NAME` and dvc.yaml call)."""
    runners: dict[str, Callable[[Params, Path], None]] = {
        "prepare": _prepare,
        "validate": _validate,
        "split": _split,
        "train": _train,
        "evaluate": _evaluate,
    }
    runners[name](params, root)


def _write_json(path: Path, data: object) -> None:
    atomic.write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _prepare(params: Params, root: Path) -> None:
    from tuneline.base_model import load_tokenizer
    from tuneline.ingest import read_manifest
    from tuneline.prepare import prepare_records
    from tuneline.prompts import context_check

    tokenizer = load_tokenizer(params.model, root)
    fits = context_check(tokenizer, params.model.system_prompt, params.train.max_length)
    manifest = read_manifest(root)["sources"]
    oldest_first = sorted(manifest, key=lambda name: manifest[name]["ingested_at"])
    with atomic.group():  # qa.jsonl, quarantine.jsonl and prepare.json: all new, or all old
        report = prepare_records(
            root / layout.RAW_DIR,
            params.prepare,
            root / layout.PREPARED,
            root / layout.QUARANTINE,
            fits_context=fits,
            order=oldest_first,
            formats={name: entry["format"] for name, entry in manifest.items()},
        )
        _write_json(
            root / layout.PREPARE_REPORT, asdict(report) | {"reconciled": report.reconciled}
        )


def _validate(params: Params, root: Path) -> None:
    from tuneline.validate import validate_records

    validate_records(root / layout.PREPARED, params.validate, root / layout.VALIDATION_DIR)


def _split(params: Params, root: Path) -> None:
    from tuneline.prepare import read_jsonl
    from tuneline.split import split_records

    with atomic.group():  # the three splits and split.json: all new, or all old
        report = split_records(
            read_jsonl(root / layout.PREPARED),
            params.split,
            root / layout.TRAIN,
            root / layout.VALIDATION,
            root / layout.TEST,
        )
        _write_json(root / layout.SPLIT_REPORT, asdict(report))
    if report.leaked_questions:
        raise GateFailed(
            f"split: {report.leaked_questions} test question(s) also in train/validation"
        )


def _train(params: Params, root: Path) -> None:
    from tuneline import dvc_tools
    from tuneline.train import train_adapter, write_report

    # The adapter folder is replaced whole when training ends, and the report written after
    # it; a stale report must not describe a new adapter if this run fails in between.
    (root / layout.TRAIN_REPORT).unlink(missing_ok=True)
    report = train_adapter(
        params,
        root,
        root / layout.TRAIN,
        root / layout.VALIDATION,
        root / layout.ADAPTER_DIR,
        dvc_tools.lock_hashes(root),
    )
    write_report(report, root / layout.TRAIN_REPORT)


def _evaluate(params: Params, root: Path) -> None:
    import mlflow

    from tuneline import evaluate, registry, tracking
    from tuneline.base_model import resolve_base, same_base

    run_id = json.loads((root / layout.TRAIN_REPORT).read_text(encoding="utf-8"))["run_id"]
    champion = registry.champion_version(params.project, root)
    champion_adapter, compared, note = None, None, None
    if champion is not None and champion.run_id != run_id:
        downloaded = Path(mlflow.artifacts.download_artifacts(champion.source))
        if same_base(downloaded / "base_model.json", resolve_base(params.model, root)):
            champion_adapter, compared = downloaded, str(champion.version)
        else:  # an adapter on other base weights would score as noise, not as the champion
            note = (
                f"champion version {champion.version} was trained on other base weights, "
                "so it is not compared here; see its own evaluation in its run"
            )
            log.warning("evaluate: %s", note)
    report = evaluate.evaluate_models(
        params,
        root,
        root / layout.TEST,
        root / layout.ADAPTER_DIR,
        champion_adapter,
        compared,
        champion_seen=str(champion.version) if champion is not None else None,
        champion_note=note,
    )
    with atomic.group():  # evaluation.json/.md and the reviewer pack change together
        evaluate.write_report(report, root / layout.EVAL_DIR, root)
    with tracking.run(params.project, root, run_id=run_id):
        for name, scores in report.models.items():
            mlflow.log_metrics({f"test.{name}.{k}": v for k, v in asdict(scores).items()})
        for comparison, by_metric in report.differences.items():
            mlflow.log_metrics(
                {
                    f"test.{comparison}.{metric}.{bound}": value
                    for metric, interval in by_metric.items()
                    for bound, value in interval.items()
                }
            )
        if report.judge.get("win_rate") is not None:
            mlflow.log_metric(
                f"test.judge.win_rate_vs_{report.judge['opponent']}", report.judge["win_rate"]
            )
        mlflow.set_tags(
            {f"gate.{g['name']}": "passed" if g["passed"] else "failed" for g in report.gates}
            | {
                "gates.passed": str(report.gates_passed).lower(),
                "judge.status": report.judge["status"],
            }
        )
        mlflow.log_artifacts(str(root / layout.EVAL_DIR), "reports/evaluation")
    failed = [g["name"] for g in report.gates if not g["passed"]]
    if failed:  # recorded for the reviewer and the registry; promotion decides, not this stage
        log.warning("evaluate: promotion gate(s) failed: %s", ", ".join(failed))
    log.info("evaluate:\n%s", report.table_markdown)
