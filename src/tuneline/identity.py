"""Whose decision it is: the rules that make an approval's name mean something.

A name is either a login the tracking server confirmed (`mlflow-auth`) or a name nobody checked
(`self-declared`: `--reviewer NAME`, the Prefect UI form, the OS account). Where the tracking
server has logins, only confirmed names may decide; self-declared names remain where nothing
could check them (the embedded SQLite store, a server without auth), and the record says so.
Whether the server has logins is asked of the server (a request without one answered 401), so
no setting on the client can turn the rule off.
"""

from __future__ import annotations

import os

from tuneline import tracking
from tuneline.errors import RegistryError
from tuneline.params import ProjectParams

CONFIRMED, SELF_DECLARED, POLICY = "mlflow-auth", "self-declared", "policy"


def require_confirmed(project: ProjectParams, name: str, source: str) -> None:
    """Refuse a decision under a name the tracking server could have checked and did not.

    A `mlflow-auth` name must also be this process's own confirmed login: the identity travels
    through a Prefect flow's parameters, where anyone could type it.
    """
    uri = project.tracking_uri
    if source == POLICY or not uri.startswith(("http://", "https://")):
        return
    if not tracking.server_requires_auth(uri):
        return
    login, how = tracking.user_identity(project)
    if source == CONFIRMED and how == CONFIRMED and login == name:
        return
    username = os.environ.get("MLFLOW_TRACKING_USERNAME", "").strip()
    if how == CONFIRMED:
        why = f"this process is logged in as {login!r}, not {name!r}"
    elif username:
        why = f"it did not accept the login {username!r} (wrong password, or a disabled account)"
    else:
        why = "no login was given"
    raise RegistryError(
        f"the tracking server {uri} has logins, so a decision must come from a confirmed login "
        f"and not a self-declared name ({name!r}); {why}. Set MLFLOW_TRACKING_USERNAME and "
        "MLFLOW_TRACKING_PASSWORD to your reviewer account and decide with `tuneline review`"
    )


def started_training(tags: dict[str, str], name: str, source: str) -> str | None:
    """Who started the version's training, when that is `name` (self-approval), else None.

    The version carries the identity that started its training run (`training.started_by`, and
    how it was known). Under a server with logins both sides are confirmed logins, so the
    comparison cannot be dodged by choosing a name; elsewhere it compares the names given.
    """
    starter = tags.get("training.started_by", "").strip()
    if source == POLICY or not starter or starter.casefold() != name.strip().casefold():
        return None
    how = tags.get("training.started_by_identity", "unknown")
    return f"{starter} ({how})"
