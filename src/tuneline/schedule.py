"""Prefect deployments: a daily drift check and a quarterly retrain, on a real Prefect server."""

from __future__ import annotations

import os
from pathlib import Path

from tuneline.errors import ConfigError
from tuneline.params import Params

TRAINING_DEPLOYMENT = "quarterly-retrain"
MONITORING_DEPLOYMENT = "daily-drift-check"


def _require_server() -> str:
    """Deployments made against an in-process ephemeral server would vanish with the process."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value() or os.environ.get("PREFECT_API_URL")
    if not url:
        raise ConfigError(
            "PREFECT_API_URL is not set: start a server (`prefect server start`) and export "
            "PREFECT_API_URL=http://127.0.0.1:4200/api, or use `tuneline schedule --serve`"
        )
    return url


def _ensure_work_pool(name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))
        except ObjectAlreadyExists:
            pass  # already there: deployments are updated in place


def create_deployments(params: Params, root: Path, work_pool: str) -> list[str]:
    """Create (or update) both deployments on the server; returns lines for people."""
    from prefect import Flow
    from prefect.schedules import Cron

    url = _require_server()
    _ensure_work_pool(work_pool)
    tz = params.schedule.timezone
    plans = [
        (
            "flows/training.py:training_flow",
            TRAINING_DEPLOYMENT,
            params.schedule.retrain_cron,
            {"project_dir": str(root), "reason": "scheduled quarterly retrain"},
        ),
        (
            "flows/monitoring.py:monitoring_flow",
            MONITORING_DEPLOYMENT,
            params.schedule.drift_cron,
            {"project_dir": str(root)},
        ),
    ]
    lines = []
    for entrypoint, name, cron, parameters in plans:
        deployable = Flow.from_source(source=str(root), entrypoint=entrypoint)
        assert isinstance(deployable, Flow)  # from_source is sync outside an event loop
        deployable.deploy(
            name=name,
            work_pool_name=work_pool,
            schedules=[Cron(cron, timezone=tz)],
            parameters=parameters,
            build=False,
            push=False,
            print_next_steps=False,
        )
        lines.append(
            f"deployment {deployable.name}/{name}: cron '{cron}' ({tz}) on pool {work_pool}"
        )
    lines.append(
        f"server {url}; start a worker to run them: prefect worker start --pool {work_pool}"
    )
    return lines


def serve_deployments(params: Params, root: Path) -> None:
    """Serve both schedules from this process (no work pool needed); blocks until stopped."""
    from prefect import serve
    from prefect.schedules import Cron

    from flows.monitoring import monitoring_flow
    from flows.training import training_flow

    tz = params.schedule.timezone
    serve(
        training_flow.to_deployment(  # type: ignore[arg-type]
            name=TRAINING_DEPLOYMENT,
            schedules=[Cron(params.schedule.retrain_cron, timezone=tz)],
            parameters={"project_dir": str(root), "reason": "scheduled quarterly retrain"},
        ),
        monitoring_flow.to_deployment(  # type: ignore[arg-type]
            name=MONITORING_DEPLOYMENT,
            schedules=[Cron(params.schedule.drift_cron, timezone=tz)],
            parameters={"project_dir": str(root)},
        ),
    )
