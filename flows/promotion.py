"""Review and promotion flows: wait in Prefect for a reviewer's decision on a registered version,
and run a later decision as its own flow run. The decision itself is `tuneline.approval.decide`,
so the Prefect UI, `tuneline review` and the policy all end in the same record.

The review flow pauses with a form (ReviewInput) that the Prefect UI shows on the paused run.
`tuneline review approve|reject` records the decision itself (with the identity it can check)
and then resumes the waiting run with the same input, so the run ends with that record too.
"""

from __future__ import annotations

import logging
import time
import urllib.request
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.input import RunInput
from pydantic import Field

from tuneline import approval, registry
from tuneline.approval import DecisionRequest, Identity
from tuneline.errors import TunelineError
from tuneline.params import Params, ProjectParams, load_params

log = logging.getLogger(__name__)


class ReviewInput(RunInput):
    """The form on the paused run in the Prefect UI."""

    decision: Literal["approve", "reject"]
    reviewer: str = Field(min_length=1, description="your name (recorded as self-declared)")
    comment: str = Field(min_length=1, description="why; read the reviewer pack first")
    override_reason: str = Field(
        default="", description="only to approve a candidate that failed a gate: why anyway"
    )


@flow(name="tuneline-review", log_prints=True)
def review_flow(
    project_dir: str, version: str, timeout_s: int | None = None, poll_s: int = 5
) -> dict:
    """Wait for a decision on `version`; on timeout it stays pending and the run still succeeds."""
    from prefect.runtime import flow_run

    root = Path(project_dir).resolve()
    params = load_params(root / "params.yaml")
    run_id = str(flow_run.id)
    approval.recover(params.project, root)  # an interrupted decision is completed first
    registry.set_tags(params.project, root, version, {"review.flow_run_id": run_id})
    wait = timeout_s or params.promotion.approval_timeout_s
    get_run_logger().info(
        "%s version %s waits up to %d s for a reviewer: resume this run in the Prefect UI, or "
        '`tuneline review approve %s --comment "..."` (or reject)',
        params.project.model_name,
        version,
        wait,
        version,
    )
    deadline = time.monotonic() + wait
    while (remaining := int(deadline - time.monotonic())) >= 1:
        reply = _wait_for_reviewer(run_id, remaining, poll_s)
        if reply is None:
            break
        outcome = _apply_reply(params, root, version, reply, run_id)
        if outcome is not None:
            return outcome
    return _outcome_without_reply(params.project, root, version, wait)


def _wait_for_reviewer(run_id: str, timeout_s: int, poll_s: int) -> ReviewInput | None:
    """Pause for the form; None on timeout, with the run set back to Running (not Failed)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run
    from prefect.states import Running

    try:
        return pause_flow_run(
            wait_for_input=ReviewInput, timeout=timeout_s, poll_interval=min(poll_s, timeout_s)
        )
    except FlowPauseTimeout:
        # The server fails a run whose pause expired; no decision is not a failure here.
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(UUID(run_id), Running(), force=True)
        return None


def _apply_reply(
    params: Params, root: Path, version: str, reply: ReviewInput, run_id: str
) -> dict | None:
    """Record the form's decision; None (wait again) when it was refused for a fixable reason."""
    logger = get_run_logger()
    request = DecisionRequest(
        version=version,
        approve=reply.decision == "approve",
        comment=reply.comment,
        reviewer=Identity(reply.reviewer.strip(), "self-declared"),
        via="prefect-ui",
        override_reason=reply.override_reason,
        flow_run_id=run_id,
    )
    try:
        record = approval.decide(params, root, request)
    except approval.AlreadyDecided:
        # Decided elsewhere, e.g. by `tuneline review approve`, which then resumed this run.
        return _outcome_without_reply(params.project, root, version, 0)
    except approval.StaleEvaluation as exc:
        logger.error("%s", exc)
        return {"status": "pending", "version": version, "message": exc.message}
    except TunelineError as exc:
        logger.error("decision refused: %s; waiting for another decision", exc.message)
        return None
    logger.info("version %s %s by %s", version, record.decision, record.reviewer)
    return {"status": record.decision, "version": version, "record": asdict(record)}


def _outcome_without_reply(project: ProjectParams, root: Path, version: str, waited: int) -> dict:
    """The recorded decision if someone decided outside this run, else 'pending'."""
    record = approval.recorded_decision(project, root, version)
    if record is not None:
        get_run_logger().info(
            "version %s %s by %s (%s, via %s)",
            version,
            record.decision,
            record.reviewer,
            record.identity,
            record.via,
        )
        return {"status": record.decision, "version": version, "record": asdict(record)}
    message = (
        f"no decision within {waited} s: version {version} stays pending review; decide later "
        f'with `tuneline review approve {version} --comment "..."` (promotion then runs as its '
        "own flow run)"
    )
    get_run_logger().info(message)
    return {"status": "pending", "version": version, "message": message}


@flow(name="tuneline-promotion", log_prints=True)
def promotion_flow(
    project_dir: str,
    version: str,
    approve: bool,
    comment: str,
    reviewer: str,
    identity: str,
    override_reason: str = "",
) -> dict:
    """A decision made after the review flow stopped waiting, as its own flow run."""
    root = Path(project_dir).resolve()
    params = load_params(root / "params.yaml")
    request = DecisionRequest(
        version, approve, comment, Identity(reviewer, identity), "promotion-flow", override_reason
    )
    record = approval.decide(params, root, request)
    return asdict(record)


def prefect_api_url() -> str | None:
    """The Prefect server this process talks to, if one is configured and answers."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if not url:
        return None
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=5):
            return url
    except OSError:
        return None


def waiting_review_run(project: ProjectParams, root: Path, version: str) -> str | None:
    """The id of a review flow run still paused for this version, when this process can reach
    it; a run whose pause is about to expire counts as gone (its own timeout handles it)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    run_id = registry.resolve_version(project, root, version).tags.get("review.flow_run_id")
    if run_id is None or prefect_api_url() is None:
        return None
    with get_client(sync_client=True) as client:
        try:
            state = client.read_flow_run(UUID(run_id)).state
        except ObjectNotFound:
            return None
    if state is None or not state.is_paused():
        return None
    expires = state.state_details.pause_timeout
    if expires is not None and expires <= datetime.now(UTC) + timedelta(seconds=3):
        return None
    return run_id


def resume_review(run_id: str, request: DecisionRequest) -> bool:
    """Hand the same decision to the waiting run so it ends with the record; False if too late
    or unreachable (the decision is already recorded; the paused run then ends on its timeout).
    """
    import httpx
    from prefect.exceptions import FlowPauseTimeout, NotPausedError, PrefectException
    from prefect.flow_runs import resume_flow_run

    reply = {
        "decision": "approve" if request.approve else "reject",
        "reviewer": request.reviewer.name,
        "comment": request.comment,
        "override_reason": request.override_reason,
    }
    try:
        resume_flow_run(UUID(run_id), run_input=reply)
    except (FlowPauseTimeout, NotPausedError):
        return False
    except (PrefectException, httpx.HTTPError) as exc:
        log.warning(
            "decision recorded, but the review run %s could not be resumed: %s", run_id, exc
        )
        return False
    return True
