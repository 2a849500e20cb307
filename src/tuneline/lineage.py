"""Lineage: from a model version back to the run, code, parameters, data hashes, raw files,
checks and approval that produced it, re-hashing the raw files on disk as it goes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tuneline import layout, registry, tracking
from tuneline.base_model import sha256_file
from tuneline.params import ProjectParams


def trace(project: ProjectParams, root: Path, ref: str) -> dict[str, Any]:
    """The whole chain for version number or alias `ref`, as plain data."""
    from mlflow import MlflowClient

    mv = registry.resolve_version(project, root, ref)
    client = MlflowClient(tracking.tracking_uri(project, root))
    run = client.get_run(mv.run_id)
    tags = mv.tags
    return {
        "model": {
            "name": mv.name,
            "version": str(mv.version),
            "ref": ref,
            "status": tags.get("review.status"),
            "source": mv.source,
        },
        "run": {
            "id": run.info.run_id,
            "status": run.info.status,
            "experiment_id": run.info.experiment_id,
            "params": dict(run.data.params),
        },
        "code": {
            "git_commit": run.data.tags.get("git.commit"),
            "git_dirty": run.data.tags.get("git.dirty") == "true",
        },
        "data": {
            k.removeprefix("data."): v for k, v in sorted(tags.items()) if k.startswith("data.")
        },
        "raw_sources": _raw_sources(run.info.run_id, root),
        "base_model": _artifact_json(run.info.run_id, "lineage/base_model.json"),
        "validation": _artifact_json(
            run.info.run_id, f"reports/{layout.VALIDATION_JSON.name}", summary=True
        ),
        "gates": {
            "passed": tags.get("gates.passed"),
            "results": json.loads(tags.get("gates.json", "[]")),
        },
        "evidence_sha256": json.loads(tags.get("evidence.sha256", "{}")),
        "adapter_sha256": tags.get("adapter.sha256"),
        "approval": json.loads(tags["review.record"]) if "review.record" in tags else None,
        "rollback": json.loads(tags["review.rollback"]) if "review.rollback" in tags else None,
    }


def _artifact_json(run_id: str, path: str, summary: bool = False) -> Any:
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        data = json.loads(mlflow.artifacts.load_text(f"runs:/{run_id}/{path}"))
    except (MlflowException, OSError) as exc:  # reported in the chain as missing, not hidden
        return {"missing": f"{path}: {exc}"}
    if summary:
        keep = ("success", "rows", "suite", "timestamp")
        failed = [o["name"] for o in data.get("outcomes", []) if not o.get("success")]
        return {k: data.get(k) for k in keep} | {"failed_checks": failed}
    return data


def _raw_sources(run_id: str, root: Path) -> list[dict[str, Any]]:
    """Each raw file recorded at training time, with its sha256 re-computed from disk now."""
    manifest = _artifact_json(run_id, "lineage/sources.json")
    rows = []
    for name, entry in sorted(manifest.get("sources", {}).items()):
        path = root / layout.RAW_DIR / name
        on_disk = sha256_file(path) if path.is_file() else None
        rows.append(
            {
                "name": name,
                "path": str(layout.RAW_DIR / name),
                "sha256": entry["sha256"],
                "rows": entry["rows"],
                "bytes": entry["bytes"],
                "original_path": entry["original_path"],
                "ingested_at": entry["ingested_at"],
                "ingested_by": entry["ingested_by"],
                "sha256_on_disk": on_disk,
                "matches_disk": on_disk == entry["sha256"],
            }
        )
    return rows


def format_text(chain: dict[str, Any]) -> str:
    """The chain as indented lines for people."""
    m, r, c = chain["model"], chain["run"], chain["code"]
    lines = [
        f"model    {m['name']} version {m['version']} ({m['ref']}, review: {m['status']})",
        f"  run    {r['id']} ({r['status']})",
        f"  code   git {c['git_commit']}{' + uncommitted changes' if c['git_dirty'] else ''}",
        "  params " + ", ".join(f"{k}={v}" for k, v in sorted(r["params"].items())),
        "  data (dvc.lock md5)",
    ]
    lines += [f"    {path}: {md5}" for path, md5 in chain["data"].items()]
    lines.append("  raw sources (sha256)")
    for src in chain["raw_sources"]:
        state = "matches disk" if src["matches_disk"] else "DIFFERS FROM DISK (or missing)"
        lines.append(f"    {src['path']}: {src['sha256']} ({src['rows']} rows, {state})")
    base = chain["base_model"]
    lines.append(f"  base   {base.get('source')} {base.get('base')} rev={base.get('revision')}")
    v = chain["validation"]
    lines.append(f"  checks validation success={v.get('success')} failed={v.get('failed_checks')}")
    failed = [g["name"] for g in chain["gates"]["results"] if not g.get("passed")]
    lines.append(f"  gates  passed={chain['gates']['passed']} failed={failed or 'none'}")
    lines.append(f"  adapter sha256 {chain['adapter_sha256']}")
    a = chain["approval"]
    lines.append(
        "  review "
        + (
            f"{a['decision']} by {a['reviewer']} ({a['identity']}) at "
            f"{a['decided_at']}: {a['comment']}"
            if a
            else "no decision yet"
        )
    )
    if a and a.get("override"):
        lines.append(f"         gate override: {a['override_reason']}")
    if a and "champion_seen" in a:
        lines.append(f"         evaluated against champion {a['champion_seen'] or 'none'}")
    r = chain["rollback"]
    if r:
        lines.append(
            f"  rolled back by {r['reviewer']} ({r['identity']}) at {r['decided_at']}: "
            f"{r['comment']} (champion -> {r['champion_after']})"
        )
    return "\n".join(lines)
