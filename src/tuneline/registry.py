"""The MLflow model registry: register a candidate as `challenger`, record the reviewer's decision,
and move `champion` only on approval. Versions hold the adapter and a reference to the base model
(no pickle); tags tie each version to its code, data and checks.
"""

from __future__ import annotations

import getpass
import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tuneline import layout, tracking
from tuneline.errors import RegistryError
from tuneline.params import ProjectParams

log = logging.getLogger(__name__)
CHALLENGER, CHAMPION, PREVIOUS = "challenger", "champion", "previous-champion"


@dataclass(frozen=True)
class Decision:
    version: str
    decision: str  # approved | rejected
    reviewer: str
    identity: str  # how the reviewer is known: self-declared (no tracking-server auth)
    decided_at: str  # UTC ISO 8601
    comment: str
    previous_champion: str | None


def _client(project: ProjectParams, root: Path) -> Any:
    from mlflow import MlflowClient

    tracking.configure(project, root)
    return MlflowClient()


def register_candidate(
    project: ProjectParams, root: Path, run_id: str, tags: dict[str, str]
) -> str:
    """A new version from the run's adapter artifacts, aliased `challenger`, pending review."""
    client = _client(project, root)
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(project.model_name)
    except MlflowException:
        client.create_registered_model(
            project.model_name,
            description="LoRA adapters fine-tuned by tuneline; base model in base_model.json",
        )
    existing = client.search_model_versions(
        f"name = '{project.model_name}' and run_id = '{run_id}'"
    )
    if existing:  # nothing changed since that run: one run, one version
        number = str(max(int(v.version) for v in existing))
        log.info(
            "run %s is already %s version %s; not registering again",
            run_id,
            project.model_name,
            number,
        )
        return number
    run = client.get_run(run_id)
    version = client.create_model_version(
        project.model_name,
        source=f"{run.info.artifact_uri}/adapter",
        run_id=run_id,
        tags=tags | {"review.status": "pending"},
        description="Candidate awaiting human review (tuneline review approve/reject).",
    )
    client.set_registered_model_alias(project.model_name, CHALLENGER, version.version)
    log.info("registered %s version %s as %s", project.model_name, version.version, CHALLENGER)
    return str(version.version)


def resolve_version(project: ProjectParams, root: Path, ref: str) -> Any:
    """A model version by number or alias (champion, challenger, previous-champion)."""
    client = _client(project, root)
    from mlflow.exceptions import MlflowException

    try:
        if ref.isdigit():
            return client.get_model_version(project.model_name, ref)
        return client.get_model_version_by_alias(project.model_name, ref)
    except MlflowException as exc:
        raise RegistryError(
            f"model '{project.model_name}' has no version or alias '{ref}'; "
            "see `tuneline review list`"
        ) from exc


def champion_version(project: ProjectParams, root: Path) -> Any | None:
    """The current champion's model version, or None before the first approval."""
    try:
        return resolve_version(project, root, CHAMPION)
    except RegistryError:
        return None


def decide(
    project: ProjectParams,
    root: Path,
    version: str,
    approve: bool,
    comment: str,
    reviewer: str | None = None,
) -> Decision:
    """Record an approval or rejection on the version; approval makes it champion."""
    if not comment.strip():
        raise RegistryError("a decision needs a --comment saying why")
    client = _client(project, root)
    mv = resolve_version(project, root, version)
    status = mv.tags.get("review.status")
    if status != "pending":
        raise RegistryError(
            f"version {mv.version} is '{status}', not pending review; nothing to decide"
        )
    current = champion_version(project, root)
    record = Decision(
        version=str(mv.version),
        decision="approved" if approve else "rejected",
        reviewer=reviewer or getpass.getuser(),
        identity="self-declared",
        decided_at=datetime.now(UTC).isoformat(timespec="seconds"),
        comment=comment.strip(),
        previous_champion=str(current.version) if current is not None else None,
    )
    for key, value in {
        "review.status": record.decision,
        "review.reviewer": record.reviewer,
        "review.identity": record.identity,
        "review.decided_at": record.decided_at,
        "review.comment": record.comment,
        "review.record": json.dumps(asdict(record)),
    }.items():
        client.set_model_version_tag(project.model_name, mv.version, key, value)
    if approve:
        if current is not None:
            client.set_registered_model_alias(project.model_name, PREVIOUS, current.version)
        client.set_registered_model_alias(project.model_name, CHAMPION, mv.version)
    if client.get_registered_model(project.model_name).aliases.get(CHALLENGER) == mv.version:
        client.delete_registered_model_alias(project.model_name, CHALLENGER)
    _append_history(root, record)
    return record


def _append_history(root: Path, record: Decision) -> None:
    """Append-only log of every decision, beside the MLflow store."""
    path = root / layout.REVIEW_HISTORY
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(asdict(record)) + "\n")


def list_versions(project: ProjectParams, root: Path) -> list[dict[str, str]]:
    """Every version, newest first, with its review status and aliases."""
    client = _client(project, root)
    from mlflow.exceptions import MlflowException

    try:
        aliases = client.get_registered_model(project.model_name).aliases  # alias -> version
    except MlflowException:
        return []
    by_version: dict[str, list[str]] = {}
    for alias, number in aliases.items():
        by_version.setdefault(str(number), []).append(alias)
    versions = client.search_model_versions(f"name = '{project.model_name}'")
    return [
        {
            "version": str(v.version),
            "status": v.tags.get("review.status", "-"),
            "aliases": ",".join(sorted(by_version.get(str(v.version), []))),
            "run_id": v.run_id,
            "created": _ms_to_iso(v.creation_timestamp),
        }
        for v in sorted(versions, key=lambda v: int(v.version), reverse=True)
    ]


def _ms_to_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")
