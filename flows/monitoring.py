"""The monitoring flow: drift check on new traffic; on drift, the training flow runs at once."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from prefect import flow, get_run_logger, task

from flows.training import training_flow
from tuneline.params import load_params


@task(retries=2, retry_delay_seconds=30, timeout_seconds=1800)
def check_drift(project_dir: str, traffic_path: str) -> dict:
    from tuneline.monitor import check_drift as run_check

    root = Path(project_dir)
    summary = run_check(load_params(root / "params.yaml"), root, Path(traffic_path))
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(summary).items()}


@flow(name="tuneline-monitoring", log_prints=True)
def monitoring_flow(
    project_dir: str = ".", traffic_path: str | None = None, retrain: bool = True
) -> dict:
    """Drift report on `traffic_path`; retrains when it drifted and params allow it."""
    root = Path(project_dir).resolve()
    params = load_params(root / "params.yaml")
    traffic = traffic_path or str(root / params.schedule.traffic_path)
    summary = check_drift(str(root), traffic)
    result = {
        "drifted": summary["drifted"],
        "share": summary["share"],
        "report": summary["report_html"],
        "retrained": None,
    }
    if summary["drifted"] and retrain and params.monitor.retrain_on_drift:
        get_run_logger().warning(
            "drift share %.2f >= %.2f: starting the training flow",
            summary["share"],
            summary["threshold"],
        )
        reason = f"drift: {summary['share']:.0%} of descriptors drifted ({traffic})"
        result["retrained"] = training_flow(project_dir=str(root), reason=reason)
    return result
