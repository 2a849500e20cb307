"""Answering with a registered version: `models:/<name>@champion` (or any alias or number) loaded
as base + adapter, asked with the prompt format of training, every answer logged for monitoring.

    from tuneline.predict import load_model
    model = load_model("champion")
    print(model.answer("Where is my order?").answer)

The adapter's files must hash to the sha256 recorded at registration and the base weights on
disk to the ones recorded in its base_model.json; the system prompt and quantisation are the
ones the training run used. Each answer is appended to data/traffic/predictions.jsonl (time,
version, question, answer, latency), which `tuneline drift` and the monitoring flow read; the
question and answer are redacted there first with the detectors prepare uses (tuneline.pii), and
the line says which kinds were redacted, never the values.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tuneline import pii, prompts, registry
from tuneline.errors import ConfigError, DataError, RegistryError
from tuneline.layout import find_project_root
from tuneline.params import ModelParams, Params, load_params

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str
    model_uri: str  # models:/<name>/<version>
    latency_s: float  # generation time for this answer
    new_tokens: int


class ServingModel:
    """A loaded version: base + adapter, its tokenizer, and the training run's system prompt."""

    def __init__(
        self,
        model_uri: str,
        model: Any,
        tokenizer: Any,
        system_prompt: str,
        max_new_tokens: int,
        traffic_log: Path | None,
    ) -> None:
        self.model_uri, self.model, self.tokenizer = model_uri, model, tokenizer
        self.system_prompt, self.max_new_tokens = system_prompt, max_new_tokens
        self.traffic_log = traffic_log

    def answer(self, question: str, max_new_tokens: int | None = None) -> Answer:
        """A greedy answer to one question (the prompt exactly as in training), logged."""
        import torch

        if not question.strip():
            raise DataError("predict: the question is empty")
        text = prompts.build_prompt(self.tokenizer, question.strip(), self.system_prompt)
        ids = self.tokenizer(text, add_special_tokens=False, return_tensors="pt")
        began = time.perf_counter()
        with torch.no_grad():
            out = self.model.generate(
                **ids.to(self.model.device),
                max_new_tokens=max_new_tokens or self.max_new_tokens,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=self.tokenizer.eos_token_id,
            )
        latency = time.perf_counter() - began
        new = out[0, ids["input_ids"].shape[1] :]  # (new tokens,)
        result = Answer(
            question=question.strip(),
            answer=self.tokenizer.decode(new, skip_special_tokens=True).strip(),
            model_uri=self.model_uri,
            latency_s=round(latency, 4),
            new_tokens=int(new.numel()),
        )
        if self.traffic_log is not None:
            log_traffic(self.traffic_log, result)
        return result


def log_traffic(path: Path, answer: Answer) -> None:
    """Append one prediction, personal data and secrets redacted (placeholders such as
    "[EMAIL]", and counts by kind under `pii_redacted`): the log is kept for months and read
    by monitoring, so it must not become a store of customers' data. The question sits under
    `question`, as the drift check reads it."""
    question, in_question = pii.redact_pii(answer.question)
    text, in_answer = pii.redact_pii(answer.answer)
    redacted = replace(answer, question=question, answer=text)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (
        {"time": datetime.now(UTC).isoformat(timespec="milliseconds")}
        | asdict(redacted)
        | {"pii_redacted": dict(sorted((in_question + in_answer).items()))}
    )
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, ensure_ascii=False) + "\n")


def load_model(
    ref: str = "champion", project_dir: str | Path | None = None, record_traffic: bool = True
) -> ServingModel:
    """Load version `ref` (alias or number) of the project's registered model for answering."""
    from peft import PeftModel

    from tuneline.approval import adapter_digest
    from tuneline.base_model import load_base_model

    root = find_project_root(Path(project_dir) if project_dir else None)
    params = load_params(root / "params.yaml")
    mv = registry.resolve_version(params.project, root, ref)
    model_uri = f"models:/{params.project.model_name}/{mv.version}"
    adapter = registry.download_adapter(mv.source)
    recorded = mv.tags.get("adapter.sha256")
    if recorded is not None and adapter_digest(adapter) != recorded:
        raise RegistryError(
            f"{model_uri}: the adapter files at {mv.source} do not hash to the sha256 recorded "
            f"at registration ({recorded}); they changed since, so they are not served"
        )
    run = _training_run(params, root, mv.run_id)
    base = _checked_base(params.model, adapter, root, _system_prompt(params, run))
    # the quantisation it was trained and evaluated with, not whatever params.yaml says today
    quantization: Any = run.data.params.get("train.quantization", params.train.quantization)
    tokenizer = _tokenizer(adapter)
    model = PeftModel.from_pretrained(load_base_model(base, root, quantization), str(adapter))
    model.eval()
    log.info("loaded %s (%s, base %s, %s)", model_uri, ref, base.base, quantization)
    return ServingModel(
        model_uri,
        model,
        tokenizer,
        base.system_prompt,
        params.evaluate.max_new_tokens,
        root / params.schedule.traffic_path if record_traffic else None,
    )


def _training_run(params: Params, root: Path, run_id: str) -> Any:
    from mlflow import MlflowClient

    from tuneline import tracking

    return MlflowClient(tracking.tracking_uri(params.project, root)).get_run(run_id)


def _system_prompt(params: Params, run: Any) -> str:
    """The system prompt of the training run (its params.yaml), so serving asks the same way."""
    import mlflow
    import yaml
    from mlflow.exceptions import MlflowException

    uri = f"runs:/{run.info.run_id}/lineage/params.yaml"
    try:
        trained = yaml.safe_load(mlflow.artifacts.load_text(uri))
    except (MlflowException, OSError):
        log.warning("%s not found; using model.system_prompt from params.yaml instead", uri)
        return params.model.system_prompt
    return str(trained["model"]["system_prompt"])


def _checked_base(model: ModelParams, adapter: Path, root: Path, system_prompt: str) -> ModelParams:
    """The base named in the adapter's base_model.json, whose weights must hash as recorded."""
    from tuneline.base_model import resolve_base

    path = adapter / "base_model.json"
    if not path.is_file():
        raise RegistryError(f"{path}: missing; the adapter does not say which base it needs")
    recorded = json.loads(path.read_text(encoding="utf-8"))
    base = replace(
        model,
        source=recorded["source"],
        base=recorded["base"],
        revision=recorded["revision"],
        system_prompt=system_prompt,
    )
    found = asdict(resolve_base(base, root))
    if found != recorded:
        differing = sorted(
            name
            for name in set(found["weight_sha256"]) | set(recorded["weight_sha256"])
            if found["weight_sha256"].get(name) != recorded["weight_sha256"].get(name)
        )
        raise ConfigError(
            f"base {recorded['base']}: the weights on disk differ from the ones this adapter was "
            f"trained on (files {differing or 'same names, other source'}); restore that base "
            "(e.g. `dvc pull` or the same hub revision) before serving this version"
        )
    return base


def _tokenizer(adapter: Path) -> Any:
    """The tokenizer saved with the adapter at training time."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(adapter))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
