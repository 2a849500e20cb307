"""The training flow: ingest -> prepare -> validate -> split -> train -> evaluate -> register.

The file-producing stages run through `dvc repro`, so the flow and dvc.yaml run the very same
stages, DVC skips what has not changed, and dvc.lock records every hash for lineage.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.tasks import exponential_backoff

from tuneline import dvc_tools, layout
from tuneline.errors import ConfigError, DataError, TunelineError
from tuneline.params import load_params
from tuneline.stages import PIPELINE

FLOW_STAGES = ("ingest", *(s.name for s in PIPELINE), "register")

# Prefect's own default (20 s) is about what its first start on a new database takes on two
# idle cores; under load it is not enough. PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
# when set, wins.
EPHEMERAL_STARTUP_TIMEOUT_S = 180


def _retry_unless_expected(task, task_run, state) -> bool:  # noqa: ANN001 - Prefect's hook signature
    """Retry infrastructure hiccups, never bad data or a failed gate: those need a person."""
    try:
        state.result()
    except TunelineError:
        return False
    except Exception:  # noqa: BLE001 - anything else is worth another try
        return True
    return False


@contextmanager
def prefect_api() -> Iterator[str | None]:
    """The Prefect API the flow will report to. Without PREFECT_API_URL, Prefect's temporary
    server is started here (with a start-up timeout fit for a loaded machine), so that a slow
    start is one clear message and the server is stopped when the run ends, however it ends."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url or not settings.server.ephemeral.enabled:
        yield settings.api.url  # a real server (or Prefect's own message that one is needed)
        return
    timeout = _startup_timeout()
    server = SubprocessASGIServer()  # the instance Prefect's client uses too (one per process)
    try:
        server.start(timeout=timeout)
    except RuntimeError as exc:
        server.stop()
        first_line = str(exc).split(". ", 1)[0]
        raise ConfigError(
            f"the temporary Prefect server did not start within {timeout} s ({first_line}). "
            "Start one that stays up: `prefect server start` (or `make ui-prefect`), then "
            "`export PREFECT_API_URL=http://127.0.0.1:4200/api` and run again; or allow a "
            "slower start with PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
        ) from None
    try:
        yield server.api_url
    finally:
        _send_pending_logs()  # the flow run's last log lines, while the server still answers
        server.stop()


def _send_pending_logs() -> None:
    """Block (up to 5 s) until Prefect's API log handler has sent what it queued."""
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()


def _startup_timeout() -> int:
    """Seconds to wait for the temporary server: the setting when the user set it (environment
    or Prefect profile), else ours."""
    from prefect.settings import get_current_settings

    ephemeral = get_current_settings().server.ephemeral
    if "startup_timeout_seconds" in ephemeral.model_fields_set:
        return int(ephemeral.startup_timeout_seconds)
    return EPHEMERAL_STARTUP_TIMEOUT_S


@task(
    retries=2,
    retry_delay_seconds=exponential_backoff(backoff_factor=5),
    retry_condition_fn=_retry_unless_expected,
    timeout_seconds=1800,
)
def ingest(project_dir: str, source: str) -> str:
    from tuneline.ingest import ingest_source

    root = Path(project_dir)
    result = ingest_source(Path(source), root, load_params(root / "params.yaml").prepare)
    return f"{result.provenance.name} sha256={result.provenance.sha256}"


@task(
    retries=1,
    retry_delay_seconds=10,
    retry_condition_fn=_retry_unless_expected,
    timeout_seconds=6 * 3600,
)
def reproduce(project_dir: str, stage: str, force: bool = False) -> str:
    get_run_logger().info("dvc repro %s%s", stage, " (forced)" if force else "")
    return dvc_tools.reproduce(Path(project_dir), stage, force=force)


@task
def evaluation_is_stale(project_dir: str) -> bool:
    """True when the champion changed since the evaluation was made (DVC cannot see that)."""
    from tuneline import registry

    root = Path(project_dir)
    report = root / layout.EVAL_JSON
    if not report.is_file():
        return False
    champion = registry.champion_version(load_params(root / "params.yaml").project, root)
    seen = json.loads(report.read_text(encoding="utf-8")).get("champion_seen")
    return seen != (str(champion.version) if champion is not None else None)


@task(
    retries=2,
    retry_delay_seconds=exponential_backoff(backoff_factor=2),
    retry_condition_fn=_retry_unless_expected,
    timeout_seconds=600,
)
def register(project_dir: str, reason: str) -> dict:
    from tuneline.promotion import register_from_reports

    return register_from_reports(Path(project_dir), reason)


@task
def promote_by_policy(project_dir: str, version: str) -> dict:
    """Every gate passed and no human approval is required: promote, recorded as the policy."""
    from dataclasses import asdict

    from tuneline.approval import promote_by_policy as promote

    root = Path(project_dir)
    record = promote(load_params(root / "params.yaml"), root, version)
    return {"status": record.decision, "version": version, "record": asdict(record)}


def await_decision(project_dir: str, registered: dict) -> dict:
    """Promote by policy, wait for a reviewer (review subflow), or say why neither happens."""
    from flows.promotion import prefect_api_url, review_flow

    version = registered["version"]
    if registered["status"] != "pending":
        return {"status": registered["status"], "version": version, "message": "already decided"}
    if not registered["approval_required"] and registered["gates_passed"] is True:
        return promote_by_policy(project_dir, version)
    if prefect_api_url() is None:
        message = (
            "no Prefect server (PREFECT_API_URL) that a reviewer could resume this run on: not "
            f"waiting; version {version} stays pending for `tuneline review approve|reject`"
        )
        get_run_logger().info(message)
        return {"status": "pending", "version": version, "message": message}
    return review_flow(project_dir, version)


@flow(name="tuneline-training", log_prints=True)
def training_flow(
    project_dir: str = ".", sources: list[str] | None = None, reason: str = "manual"
) -> dict:
    """Chain every stage, register, then wait for the review; a failed gate stops the flow."""
    root = str(Path(project_dir).resolve())
    ingested = [ingest(root, source) for source in sources or []]
    raw = Path(root) / layout.RAW_DIR
    if not raw.is_dir() or not any(p.is_file() for p in raw.iterdir()):
        raise DataError(
            f"{raw}: no source ingested yet; run `tuneline ingest PATH` first, or "
            "`tuneline run --ingest PATH`"
        )
    for stage in PIPELINE:
        force = stage.name == "evaluate" and evaluation_is_stale(root)
        reproduce(root, stage.name, force=force)
    dvc_tools.push(Path(root))
    registered = register(root, reason)
    review = await_decision(root, registered)
    return registered | {"stages": list(FLOW_STAGES), "ingested": ingested, "review": review}
