"""Review decisions: who may approve, the compare-and-set that moves `champion`, rollback, and the
append-only history that answers "what was champion on date D, and who approved it".

`decide` is the one place a decision is recorded, whether it comes from `tuneline review`, the
reviewer's input to the paused flow in the Prefect UI, a late decision run as its own flow run,
or the policy (every gate passed and no human approval required). All of them end in the same
record, stored on the version and appended to the history.

All or nothing: a decision (or rollback) is first written whole as an intent, one tag on the
registered model (one statement in the store, seen by every machine), then carried out step by
step (aliases, the version's tags, the history line, the history's anchors), and the intent is
removed last. Every step is idempotent, so a process killed at any point leaves an intent that
the next command touching the registry completes (`recover`, and `tuneline review recover`).
Tests kill the process at every step through `crash_point`.

Scope of the lock: `decide` and `rollback` hold an exclusive lock around "recover, read the
champion, check, write the intent, carry it out". With the embedded SQLite store that is an
flock on a file beside the database (one machine, which is where that store lives). With a
`postgresql://` tracking URI it is a PostgreSQL advisory lock in that database, shared by every
machine. With an `http(s)://` tracking server the lock is the flock file under mlruns/, so it
covers reviewers on one machine only.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tuneline import history, identity, layout, registry, tracking
from tuneline.base_model import sha256_file
from tuneline.errors import GateFailed, RegistryError
from tuneline.history import INTENT_TAG, read_history
from tuneline.params import Params, ProjectParams
from tuneline.registry import CHALLENGER, CHAMPION, PREVIOUS

log = logging.getLogger(__name__)
LOCK_WAIT_S = 60.0  # a decision takes well under a second; longer means a stuck process
CRASH_ENV = "TUNELINE_CRASH_AT"  # fault injection: the step after which to exit like kill -9
# Every step of carrying out an intent, in order; `crash_point` is called after each.
STEPS = (
    "checked",  # refusals passed, nothing written yet
    "intent",
    "alias:previous-champion",
    "alias:champion",
    "alias:challenger",
    "tags:first",
    "tags",
    "history",
    "head",
    "artifact",
)
ALIAS_ORDER = (PREVIOUS, CHAMPION, CHALLENGER)
__all__ = ["read_history"]  # re-exported: the history lives in tuneline.history


class AlreadyDecided(RegistryError):
    """The version is no longer pending: someone decided first."""


class StaleEvaluation(RegistryError):
    """The champion moved since the evaluation the reviewer saw."""


@dataclass(frozen=True)
class Identity:
    name: str
    source: str  # mlflow-auth (the tracking server checked it) | self-declared | policy


POLICY = Identity("policy", "policy")


@dataclass(frozen=True)
class DecisionRequest:
    version: str  # number or alias
    approve: bool
    comment: str
    reviewer: Identity
    via: str  # cli | prefect-ui | promotion-flow | policy
    override_reason: str = ""  # approving a candidate that failed a gate needs one
    flow_run_id: str | None = None  # the Prefect run that waited for this decision, if any


@dataclass(frozen=True)
class DecisionRecord:
    """Everything an auditor needs about one decision; stored on the version and in the history."""

    model: str
    version: str
    decision: str  # approved | rejected | rolled-back
    reviewer: str
    identity: str  # mlflow-auth | self-declared | policy
    via: str
    decided_at: str  # UTC ISO 8601
    comment: str
    override: bool
    override_reason: str | None
    gates_passed: bool | None  # None: the evaluation recorded no gates
    gates: list[dict[str, Any]]
    champion_seen: str | None  # the champion the evaluation compared against
    champion_before: str | None  # champion when the decision was taken
    champion_after: str | None
    previous_champion: str | None  # alias previous-champion after the decision
    adapter_sha256: str
    data_hashes: dict[str, str]  # dvc.lock md5 of every data path, at registration
    report_sha256: dict[str, str]  # sha256 of the reports the reviewer saw
    training_run_id: str
    training_started_by: str | None
    flow_run_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    decision_id: str | None = None  # the intent it was recorded under


@dataclass(frozen=True)
class Intent:
    """A decision written whole before any of it is carried out (see the module doc)."""

    id: str
    kind: str  # decision | rollback
    version: str
    record: dict[str, Any]  # the DecisionRecord
    aliases_before: dict[str, str | None]  # champion, previous-champion, challenger
    aliases_after: dict[str, str | None]
    tags: dict[str, str]  # on the version, the anchor included
    seq: int  # its line number in the history
    prev_sha256: str | None  # of the line before
    line: str  # the history line itself

    def describe(self) -> str:
        r = self.record
        return (
            f"{self.kind} {self.id[:8]}: version {self.version} {r['decision']} by "
            f"{r['reviewer']} at {r['decided_at']} (champion -> {r['champion_after'] or 'none'})"
        )


def reviewer_identity(project: ProjectParams, declared: str | None) -> Identity:
    """The MLflow login where the tracking server has auth; otherwise the declared name."""
    name, source = tracking.user_identity(project)
    if source == "mlflow-auth":
        if declared and declared.strip() != name:
            raise RegistryError(
                f"--reviewer {declared!r} differs from your MLflow login {name!r}; the tracking "
                "server knows who you are, so leave --reviewer out"
            )
        return Identity(name, source)
    chosen = (declared or name).strip()
    if not chosen:
        raise RegistryError("a decision needs a reviewer name (--reviewer NAME)")
    identity.require_confirmed(project, chosen, "self-declared")  # refused where logins exist
    return Identity(chosen, "self-declared")


def adapter_digest(folder: Path) -> str:
    """One sha256 over every file of an adapter folder (relative path + content hash)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if not files:
        raise RegistryError(f"{folder}: no adapter files to hash")
    lines = [f"{p.relative_to(folder).as_posix()} {sha256_file(p)}" for p in files]
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def lock_path(project: ProjectParams, root: Path) -> Path:
    """The lock file beside the SQLite store, or under mlruns/ for any other tracking URI."""
    uri = tracking.tracking_uri(project, root)
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).parent / "registry.lock"
    return root / "mlruns" / "registry.lock"


@contextlib.contextmanager
def registry_lock(
    project: ProjectParams, root: Path, wait_s: float = LOCK_WAIT_S
) -> Iterator[None]:
    """Exclusive across processes: a PostgreSQL advisory lock or an flock (see module doc)."""
    if project.tracking_uri.startswith("postgresql"):
        with _advisory_lock(project.tracking_uri, project.model_name, wait_s):
            yield
        return
    path = lock_path(project, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        _acquire(lambda: _try_flock(handle), f"the lock file {path}", wait_s)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _try_flock(handle: Any) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _acquire(try_once: Any, what: str, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while not try_once():
        if time.monotonic() > deadline:
            raise RegistryError(
                f"another decision has held {what} for over {wait_s:.0f} s; if no tuneline "
                "process is running, try again (a stuck process holds it until it exits)"
            )
        time.sleep(0.05)


@contextlib.contextmanager
def _advisory_lock(uri: str, model_name: str, wait_s: float) -> Iterator[None]:
    """pg_try_advisory_lock on a key derived from the model name, in the tracking database."""
    from sqlalchemy import create_engine, text

    key = int.from_bytes(hashlib.sha256(f"tuneline:{model_name}".encode()).digest()[:8], "big")
    key -= 1 << 63 if key >= 1 << 63 else 0  # a signed bigint
    engine = create_engine(uri)
    try:
        with engine.connect() as conn:
            query = text("SELECT pg_try_advisory_lock(:key)")
            _acquire(lambda: bool(conn.execute(query, {"key": key}).scalar()), uri, wait_s)
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    finally:
        engine.dispose()


def crash_point(step: str) -> None:
    """Exit like `kill -9` after `step` when TUNELINE_CRASH_AT names it (the recovery tests)."""
    if os.environ.get(CRASH_ENV) == step:
        os._exit(137)


def check(params: Params, root: Path, request: DecisionRequest) -> None:
    """Raise the refusal `decide` would give, without deciding (a pre-flight check).

    Under the lock, after recovering an interrupted decision, so it reads a complete state.
    The same decision already recorded (a command given again after a crash) is not refused.
    """
    _check_comment(request)
    with registry_lock(params.project, root):
        _recover_locked(params.project, root)
        mv = registry.resolve_version(params.project, root, request.version)
        if _same_decision(mv, request) is not None:
            return
        champion = registry.aliases(params.project, root).get(CHAMPION)
        _refuse_unless_decidable(params, mv, champion, request)


def decide(params: Params, root: Path, request: DecisionRequest) -> DecisionRecord:
    """Record an approval or rejection; approval moves champion (compare-and-set, locked).

    Giving the same decision again (same version, decision, reviewer and comment) returns the
    record already stored, so a command repeated after a crash ends in the one full record.
    """
    project = params.project
    _check_comment(request)
    number = str(registry.resolve_version(project, root, request.version).version)
    with registry_lock(project, root):
        _recover_locked(project, root)
        mv = registry.resolve_version(project, root, number)  # fresh, under the lock
        same = _same_decision(mv, request)
        if same is not None:
            log.info("version %s was already %s by %s", number, same.decision, same.reviewer)
            return same
        now = registry.aliases(project, root)
        champion = now.get(CHAMPION)
        digest = _refuse_unless_decidable(params, mv, champion, request)
        after = number if request.approve else champion
        previous = champion if request.approve and champion is not None else now.get(PREVIOUS)
        record = _record(mv, request, digest, champion, after, previous)
        before = {alias: now.get(alias) for alias in ALIAS_ORDER}
        target = dict(before)
        if request.approve:
            target |= {PREVIOUS: previous, CHAMPION: number}
        if now.get(CHALLENGER) == number:
            target[CHALLENGER] = None
        intent = _begin(project, root, "decision", record, before, target, _review_tags(record))
        _carry_out(project, root, intent)
    log.info("version %s %s by %s (%s)", number, record.decision, record.reviewer, request.via)
    return record


def rollback(params: Params, root: Path, comment: str, who: Identity) -> DecisionRecord:
    """Move champion back to previous-champion; the demoted version becomes `rolled-back`."""
    project = params.project
    if not comment.strip():
        raise RegistryError("a rollback needs a --comment saying why")
    with registry_lock(project, root):
        recovered = _recover_locked(project, root)
        if recovered is not None and recovered.kind == "rollback":
            raise RegistryError(
                f"an interrupted rollback was completed first ({recovered.describe()}); "
                "nothing more was rolled back: run `tuneline rollback` again to go further back"
            )
        now = registry.aliases(project, root)
        champion, previous = now.get(CHAMPION), now.get(PREVIOUS)
        if champion is None:
            raise RegistryError("there is no champion to roll back")
        if previous is None:
            raise RegistryError(
                f"version {champion} is champion but there is no previous-champion to roll back "
                "to; approve another version instead"
            )
        mv = registry.resolve_version(project, root, champion)
        request = DecisionRequest(champion, False, comment.strip(), who, "cli")
        older = _champion_before(project, root, previous)
        digest = mv.tags.get("adapter.sha256", "unknown")
        record = replace(
            _record(mv, request, digest, champion, previous, older), decision="rolled-back"
        )
        before = {alias: now.get(alias) for alias in ALIAS_ORDER}
        target = before | {CHAMPION: previous, PREVIOUS: older}
        tags = {"review.rollback": json.dumps(asdict(record)), "review.status": "rolled-back"}
        _carry_out(project, root, _begin(project, root, "rollback", record, before, target, tags))
    return record


def recover(project: ProjectParams, root: Path) -> Intent | None:
    """Complete an interrupted decision or rollback, if there is one (under the lock).

    The first look is without the lock (one read, and the MLflow import, outside it), so
    commands that find nothing to do do not hold up a decision in progress.
    """
    if INTENT_TAG not in (registry.model_tags(project, root) or {}):
        return None
    with registry_lock(project, root):
        return _recover_locked(project, root)


def _recover_locked(project: ProjectParams, root: Path) -> Intent | None:
    """Carry out the intent left on the registered model by a process that did not finish."""
    raw = (registry.model_tags(project, root) or {}).get(INTENT_TAG)
    if raw is None:
        return None
    intent = Intent(**json.loads(raw))
    log.warning("completing an interrupted %s", intent.describe())
    _refuse_unless_resumable(project, root, intent)
    _carry_out(project, root, intent)
    log.warning("completed: %s", intent.describe())
    return intent


def _refuse_unless_resumable(project: ProjectParams, root: Path, intent: Intent) -> None:
    """Each alias must be where the intent found it or where it puts it; anything else means
    someone moved it outside tuneline since, and rolling forward would hide that."""
    now = registry.aliases(project, root)
    for alias in (PREVIOUS, CHAMPION):  # challenger moves with every registration: not here
        if now.get(alias) not in (intent.aliases_before[alias], intent.aliases_after[alias]):
            raise RegistryError(
                f"cannot complete the interrupted {intent.describe()}: alias {alias} is at "
                f"{now.get(alias) or 'no version'}, neither {intent.aliases_before[alias]} "
                f"(before) nor {intent.aliases_after[alias]} (after); it was moved outside "
                "tuneline. Check with `tuneline verify`, then put it back"
            )


def _begin(
    project: ProjectParams,
    root: Path,
    kind: str,
    record: DecisionRecord,
    before: dict[str, str | None],
    after: dict[str, str | None],
    status_tags: dict[str, str],
) -> Intent:
    """Write the whole decision as one tag on the registered model: from here on it completes."""
    problem = history.head_problem(root, registry.model_tags(project, root) or {})
    if problem is not None:
        raise RegistryError(
            f"nothing recorded: {problem}. Recording on top would hide that; run "
            "`tuneline verify` and restore the history from a backup"
        )
    lines = history.history_lines(root) or []
    prev = history.line_sha256(lines[-1]) if lines else None
    line = history.entry_line(asdict(record), prev)
    anchor = {
        "seq": len(lines) + 1,
        "line_sha256": history.line_sha256(line),
        "prev_sha256": prev,
        "decision_id": record.decision_id,
    }
    anchor_tag = history.ANCHOR_TAGS[history.RECORD_TAGS[record.decision]]
    tags = {anchor_tag: json.dumps(anchor, sort_keys=True)} | status_tags
    tags["review.status"] = tags.pop("review.status")  # last: a half-written version reads pending
    intent = Intent(
        str(record.decision_id), kind, record.version, asdict(record), before, after, tags,
        len(lines) + 1, prev, line,
    )  # fmt: skip
    crash_point("checked")
    registry.set_model_tag(project, root, INTENT_TAG, json.dumps(asdict(intent)))
    crash_point("intent")
    return intent


def _carry_out(project: ProjectParams, root: Path, intent: Intent) -> None:
    """Every step of an intent, each idempotent, then remove the intent (the completion mark)."""
    now = registry.aliases(project, root)
    for alias in ALIAS_ORDER:
        target = intent.aliases_after[alias]
        moved_since = alias == CHALLENGER and now.get(alias) != intent.aliases_before[alias]
        if now.get(alias) != target and not moved_since:  # a newer candidate keeps challenger
            registry.set_alias(project, root, alias, target)
        crash_point(f"alias:{alias}")
    for i, (key, value) in enumerate(intent.tags.items()):  # review.status last
        registry.set_tags(project, root, intent.version, {key: value})
        if i == 0:
            crash_point("tags:first")
    crash_point("tags")
    history.write_line(root, intent.seq, intent.prev_sha256, intent.line)
    crash_point("history")
    head = history.head_anchor(intent.seq, intent.line)
    registry.set_model_tag(project, root, history.HEAD_TAG, head)
    crash_point("head")
    _copy_to_run(project, root, DecisionRecord(**intent.record))
    crash_point("artifact")
    registry.set_model_tag(project, root, INTENT_TAG, None)


def promote_by_policy(params: Params, root: Path, version: str) -> DecisionRecord:
    """Approval without a person: only when every gate passed and none is required."""
    comment = "every gate passed and promotion.require_human_approval is false"
    return decide(params, root, DecisionRequest(version, True, comment, POLICY, "policy"))


def recorded_decision(project: ProjectParams, root: Path, version: str) -> DecisionRecord | None:
    """The decision stored on a version (an interrupted one completed first), None if pending."""
    recover(project, root)
    mv = registry.resolve_version(project, root, version)
    raw = mv.tags.get("review.record")
    return DecisionRecord(**json.loads(raw)) if raw else None


def _same_decision(mv: Any, request: DecisionRequest) -> DecisionRecord | None:
    """The record on the version if it is this very decision (given again), else None."""
    raw = mv.tags.get("review.record")
    if raw is None:
        return None
    record = DecisionRecord(**json.loads(raw))
    same = (
        record.decision == ("approved" if request.approve else "rejected")
        and mv.tags.get("review.status") == record.decision
        and record.reviewer == request.reviewer.name
        and record.comment == request.comment.strip()
    )
    return record if same else None


def _check_comment(request: DecisionRequest) -> None:
    if not request.comment.strip():
        raise RegistryError("a decision needs a --comment saying why")


def _refuse_unless_decidable(
    params: Params, mv: Any, champion: str | None, request: DecisionRequest
) -> str:
    """Raise when this decision may not be recorded now; returns the adapter's sha256."""
    tags, number = mv.tags, str(mv.version)
    identity.require_confirmed(params.project, request.reviewer.name, request.reviewer.source)
    status = tags.get("review.status")
    if status != "pending":
        by = f" by {tags.get('review.reviewer')} at {tags.get('review.decided_at')}"
        raise AlreadyDecided(
            f"version {number} was already {status}{by if 'review.reviewer' in tags else ''}; "
            "nothing to decide"
        )
    digest = _verify_adapter(params.project, mv)
    if not request.approve:
        return digest
    _refuse_stale(tags, number, champion)
    _refuse_failed_gates(tags, number, request.override_reason)
    starter = identity.started_training(tags, request.reviewer.name, request.reviewer.source)
    if starter is not None and not params.promotion.allow_self_approval:
        raise RegistryError(
            f"{request.reviewer.name} started the training run of version {number} (recorded "
            f"as {starter}); promotion.allow_self_approval is false, so someone else must "
            "approve it"
        )
    return digest


def _refuse_stale(tags: dict[str, str], number: str, champion: str | None) -> None:
    """Compare-and-set: the champion must still be the one the evaluation compared against."""
    rerun = (
        "re-run the training flow (`tuneline run`): it re-evaluates against the current champion "
        "and refreshes this version's evidence; then approve"
    )
    if "evaluation.champion_seen" not in tags:
        raise StaleEvaluation(
            f"version {number} has no record of the champion its evaluation saw; {rerun}"
        )
    recorded = tags["evaluation.champion_seen"]
    seen = None if recorded == "none" else recorded
    if seen != champion:
        raise StaleEvaluation(
            f"the champion changed from {seen or 'none'} to {champion or 'none'} since this "
            f"evaluation of version {number}; {rerun}"
        )


def _refuse_failed_gates(tags: dict[str, str], number: str, override_reason: str) -> None:
    gates_failed = tags.get("gates.passed") == "false"
    if gates_failed and not override_reason.strip():
        failed = [g for g in json.loads(tags.get("gates.json", "[]")) if not g.get("passed")]
        names = "; ".join(f"{g['name']} ({g.get('detail', '')})" for g in failed) or "see tags"
        raise GateFailed(
            f"version {number} failed gate(s): {names}. Approving it anyway needs "
            '--override "REASON" (recorded with the decision)'
        )
    if override_reason.strip() and not gates_failed:
        raise RegistryError(f"version {number} failed no gate; --override is not needed")


def _verify_adapter(project: ProjectParams, mv: Any) -> str:
    """sha256 of the registered adapter files, which must equal the one taken at registration."""
    digest = adapter_digest(registry.download_adapter(mv.source))
    recorded = mv.tags.get("adapter.sha256")
    if recorded is not None and recorded != digest:
        raise RegistryError(
            f"{project.model_name} version {mv.version}: the adapter files at {mv.source} hash to "
            f"{digest}, not {recorded} as registered; they changed, so this version cannot be "
            "decided on; register the run again"
        )
    return digest


def _record(
    mv: Any,
    request: DecisionRequest,
    digest: str,
    before: str | None,
    after: str | None,
    previous: str | None,
) -> DecisionRecord:
    tags = mv.tags
    seen = tags.get("evaluation.champion_seen")
    gates_passed = {"true": True, "false": False}.get(tags.get("gates.passed", ""))
    return DecisionRecord(
        model=mv.name,
        version=str(mv.version),
        decision="approved" if request.approve else "rejected",
        reviewer=request.reviewer.name,
        identity=request.reviewer.source,
        via=request.via,
        decided_at=datetime.now(UTC).isoformat(timespec="seconds"),
        comment=request.comment.strip(),
        override=bool(request.override_reason.strip()) and request.approve,
        override_reason=request.override_reason.strip() or None,
        gates_passed=gates_passed,
        gates=json.loads(tags.get("gates.json", "[]")),
        champion_seen=None if seen in (None, "none") else seen,
        champion_before=before,
        champion_after=after,
        previous_champion=previous,
        adapter_sha256=digest,
        data_hashes={k.removeprefix("data."): v for k, v in tags.items() if k.startswith("data.")},
        report_sha256=json.loads(tags.get("evidence.sha256", "{}")),
        training_run_id=mv.run_id,
        training_started_by=tags.get("training.started_by"),
        flow_run_id=request.flow_run_id,
        decision_id=uuid.uuid4().hex,
    )


def _review_tags(record: DecisionRecord) -> dict[str, str]:
    return {
        "review.status": record.decision,
        "review.reviewer": record.reviewer,
        "review.identity": record.identity,
        "review.via": record.via,
        "review.decided_at": record.decided_at,
        "review.comment": record.comment,
        "review.override": str(record.override).lower(),
        "review.record": json.dumps(asdict(record)),
    }


def _champion_before(project: ProjectParams, root: Path, version: str) -> str | None:
    """The champion `version` replaced, if that one is still an approved version."""
    raw = registry.resolve_version(project, root, version).tags.get("review.record")
    before = json.loads(raw).get("champion_before") if raw else None
    if before is None:
        return None
    status = registry.resolve_version(project, root, before).tags.get("review.status")
    return before if status == "approved" else None


def _copy_to_run(project: ProjectParams, root: Path, record: DecisionRecord) -> None:
    """Keep a copy of the record in the training run's artifacts (same path when repeated)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    stamp = record.decided_at.replace(":", "")
    try:  # the decision is on the version and in the history: this copy is extra
        MlflowClient(tracking.tracking_uri(project, root)).log_text(
            record.training_run_id,
            json.dumps(asdict(record), indent=2),
            f"review/{stamp}-{record.decision}.json",
        )
    except (MlflowException, OSError) as exc:
        log.warning(
            "decision recorded on version %s and in %s, but its copy in the run's artifacts "
            "failed: %s",
            record.version,
            layout.REVIEW_HISTORY,
            str(exc).splitlines()[0][:200],
        )


def parse_when(text: str) -> datetime:
    """A date (the end of that day, UTC) or an ISO date-time (UTC unless it says otherwise)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise RegistryError(f"--at {text!r}: use a date (2026-03-31) or ISO time") from exc
    if len(text) == 10:  # a bare date means "on that day": its last second
        when = when.replace(hour=23, minute=59, second=59)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def champion_at(entries: list[dict[str, Any]], when: datetime) -> dict[str, Any] | None:
    """Who was champion at `when`, the approval that made it champion, and the last change."""
    champion, approvals, last = None, {}, None
    for entry in entries:
        if datetime.fromisoformat(entry["decided_at"]) > when:
            break
        if entry["decision"] == "approved":
            approvals[entry["version"]] = entry
        if entry["decision"] in ("approved", "rolled-back"):
            champion, last = entry["champion_after"], entry
    if champion is None:
        return None
    return {"champion": champion, "approved": approvals.get(champion), "changed_by": last}
