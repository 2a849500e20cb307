"""The MLflow model registry: register a candidate as `challenger`, read versions and aliases,
and write tags and aliases for `tuneline.approval`, which alone decides when `champion` moves.
Versions hold the adapter and a reference to the base model (no pickle); tags tie each version
to its code, data, checks and decision.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tuneline import tracking
from tuneline.errors import RegistryError
from tuneline.params import ProjectParams

log = logging.getLogger(__name__)
CHALLENGER, CHAMPION, PREVIOUS = "challenger", "champion", "previous-champion"


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
        latest = max(existing, key=lambda v: int(v.version))
        number = str(latest.version)
        log.info(
            "run %s is already %s version %s; not registering again",
            run_id,
            project.model_name,
            number,
        )
        if latest.tags.get("review.status") == "pending":
            # Re-evaluated (e.g. the champion changed): the reviewer must see the new evidence.
            set_tags(project, root, number, tags)
            client.set_registered_model_alias(project.model_name, CHALLENGER, number)
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


def set_tags(project: ProjectParams, root: Path, version: str, tags: dict[str, str]) -> None:
    """Write `tags` on one version (existing keys are overwritten)."""
    client = _client(project, root)
    for key, value in tags.items():
        client.set_model_version_tag(project.model_name, version, key, value)


def aliases(project: ProjectParams, root: Path) -> dict[str, str]:
    """alias -> version number, read fresh from the store (search results carry no aliases)."""
    client = _client(project, root)
    from mlflow.exceptions import MlflowException

    try:
        found = client.get_registered_model(project.model_name).aliases
    except MlflowException:
        return {}
    return {alias: str(number) for alias, number in found.items()}


def set_alias(project: ProjectParams, root: Path, alias: str, version: str | None) -> None:
    """Point `alias` at `version`, or remove it when `version` is None."""
    client = _client(project, root)
    if version is not None:
        client.set_registered_model_alias(project.model_name, alias, version)
    elif alias in aliases(project, root):
        client.delete_registered_model_alias(project.model_name, alias)


def model_tags(project: ProjectParams, root: Path) -> dict[str, str] | None:
    """The registered model's own tags, or None when the model is not registered yet."""
    client = _client(project, root)
    from mlflow.exceptions import MlflowException

    try:
        return dict(client.get_registered_model(project.model_name).tags)
    except MlflowException:
        return None


def set_model_tag(project: ProjectParams, root: Path, key: str, value: str | None) -> None:
    """Write one tag on the registered model (one statement in the store), or delete it."""
    client = _client(project, root)
    if value is not None:
        client.set_registered_model_tag(project.model_name, key, value)
    elif key in (model_tags(project, root) or {}):
        client.delete_registered_model_tag(project.model_name, key)


def all_versions(project: ProjectParams, root: Path) -> list[Any]:
    """Every version of the model (tags included, aliases not), oldest first."""
    client = _client(project, root)
    versions = client.search_model_versions(f"name = '{project.model_name}'")
    return sorted(versions, key=lambda v: int(v.version))


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
            "gates": {"true": "passed", "false": "FAILED"}.get(v.tags.get("gates.passed", ""), "-"),
            "aliases": ",".join(sorted(by_version.get(str(v.version), []))),
            "run_id": v.run_id,
            "created": _ms_to_iso(v.creation_timestamp),
        }
        for v in sorted(versions, key=lambda v: int(v.version), reverse=True)
    ]


def _ms_to_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")


def download_adapter(source: str) -> Path:
    """A local folder holding a version's adapter files (its `source` artifact URI)."""
    import mlflow

    return Path(mlflow.artifacts.download_artifacts(artifact_uri=source))
