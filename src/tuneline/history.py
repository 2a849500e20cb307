"""The review history (`mlruns/review_history.jsonl`) and the anchors that make it tamper-evident.

Each line is one decision and carries the sha256 of the line before (a hash chain), so an edit
in the middle shows. The chain alone cannot show a removed or edited last line, a re-chained
file or a deleted file, so every decision is also anchored where the history file cannot
rewrite it, in the model registry:

- on the version, `review.anchor` (or `review.rollback.anchor`): the decision's line number,
  the sha256 of its line and of the line before;
- on the registered model, `review.history.head`: how many lines there are and the sha256 of
  the last one.

`audit` cross-checks the file, these anchors, the records on the versions and the aliases.
Someone who can write the file but not the registry is caught; someone who can write both the
registry database and the file is not (that is for the tracking server's auth and backups).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuneline import layout, registry
from tuneline.errors import RegistryError
from tuneline.params import ProjectParams
from tuneline.registry import CHAMPION, PREVIOUS

HEAD_TAG = "review.history.head"  # on the registered model: {"count", "sha256"}
INTENT_TAG = "review.intent"  # on the registered model while a decision is being recorded
RECORD_TAGS = {"approved": "review.record", "rejected": "review.record"}
RECORD_TAGS["rolled-back"] = "review.rollback"
ANCHOR_TAGS = {"review.record": "review.anchor", "review.rollback": "review.rollback.anchor"}


@dataclass(frozen=True)
class HistoryAudit:
    """What `audit` compared and every disagreement it found, worded for people."""

    lines: int
    versions: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def line_sha256(line: bytes | str) -> str:
    """The sha256 of one history line (without its newline), as chained and anchored."""
    data = line.encode("utf-8") if isinstance(line, str) else line
    return hashlib.sha256(data).hexdigest()


def history_lines(root: Path) -> list[bytes] | None:
    """The raw lines of the history, or None when the file does not exist."""
    path = root / layout.REVIEW_HISTORY
    return path.read_bytes().splitlines() if path.is_file() else None


def entry_line(record: dict[str, Any], prev_sha256: str | None) -> str:
    """The history line for a decision record that follows a line with sha256 `prev_sha256`."""
    return json.dumps(record | {"prev_sha256": prev_sha256}, sort_keys=True)


def read_history(root: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """Every decision in order, and the line numbers whose hash chain is broken (edited)."""
    entries, broken, previous = [], [], None
    for number, line in enumerate(history_lines(root) or [], start=1):
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict):
            broken.append(number)
            entries.append({"decided_at": "", "version": "?", "decision": "unreadable"})
        else:
            if entry.get("prev_sha256") != previous:
                broken.append(number)
            entries.append(entry)
        previous = line_sha256(line)
    return entries, broken


def write_line(root: Path, seq: int, prev_sha256: str | None, line: str) -> None:
    """Make `line` line number `seq` of the history; a no-op if it already is (idempotent).

    The file is rewritten whole (temp file, fsync, rename), so a crash leaves the old history or
    the new one, never a torn line. Refuses when the history is not the one the decision was
    prepared against (it changed outside tuneline).
    """
    path = root / layout.REVIEW_HISTORY
    lines = history_lines(root) or []
    if len(lines) >= seq and lines[seq - 1] == line.encode("utf-8"):
        return
    last = line_sha256(lines[-1]) if lines else None
    if len(lines) != seq - 1 or last != prev_sha256:
        raise RegistryError(
            f"{path} has {len(lines)} line(s) (last sha256 {last}), but this decision was "
            f"prepared as line {seq} after sha256 {prev_sha256}: the history changed outside "
            "tuneline; run `tuneline verify` and restore the file from a backup"
        )
    data = b"".join(x + b"\n" for x in lines) + line.encode("utf-8") + b"\n"
    _write_atomically(path, data)


def _write_atomically(path: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, rename over, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def head_anchor(count: int, last_line: str) -> str:
    """The value of HEAD_TAG for a history of `count` lines ending in `last_line`."""
    return json.dumps({"count": count, "sha256": line_sha256(last_line)}, sort_keys=True)


def head_problem(root: Path, model_tags: dict[str, str]) -> str | None:
    """How the history file disagrees with the head anchored on the registered model, if it does.

    No anchor and no file is a fresh project; lines without an anchor are reported (history
    written before anchoring, or the anchor removed from the registry).
    """
    path = root / layout.REVIEW_HISTORY
    lines = history_lines(root)
    raw = model_tags.get(HEAD_TAG)
    if raw is None:
        if lines:
            return (
                f"{path} has {len(lines)} line(s) but the registry anchors none "
                f"({HEAD_TAG} missing on the registered model)"
            )
        return None
    head = json.loads(raw)
    if lines is None:
        return (
            f"{path} is missing; the registry anchors {head['count']} decision(s) in it "
            "(deleted? restore it from a backup)"
        )
    if len(lines) != head["count"]:
        return (
            f"{path} has {len(lines)} line(s); the registry anchors {head['count']} "
            "(lines removed or added outside tuneline)"
        )
    if lines and line_sha256(lines[-1]) != head["sha256"]:
        return (
            f"{path}: the last line (line {len(lines)}) is not the one the registry anchored "
            f"(sha256 {line_sha256(lines[-1])[:12]}..., anchored {head['sha256'][:12]}...): "
            "edited, or every hash re-chained"
        )
    return None


def audit(project: ProjectParams, root: Path) -> HistoryAudit:
    """Cross-check the history, its anchors, the records on the versions and the aliases."""
    lines = history_lines(root) or []
    entries, broken = read_history(root)
    path = root / layout.REVIEW_HISTORY
    problems = [
        f"{path}: line {n} does not carry the sha256 of the line before it "
        "(a line was edited, inserted or removed)"
        for n in broken
    ]
    model_tags = registry.model_tags(project, root)
    if model_tags is None:
        if lines:
            problems.append(f"{path} has {len(lines)} decision(s) but the registry has no model")
        return HistoryAudit(len(lines), 0, tuple(problems))
    if INTENT_TAG in model_tags:
        problems.append(
            "a decision was interrupted and is not complete yet; `tuneline review recover` "
            "completes it"
        )
    problems += [p for p in [head_problem(root, model_tags)] if p]
    versions = {str(v.version): v for v in registry.all_versions(project, root)}
    problems += _lines_without_records(entries, broken, versions)
    problems += _records_without_lines(lines, versions)
    problems += _status_problems(versions)
    problems += _alias_problems(entries, registry.aliases(project, root))
    return HistoryAudit(len(lines), len(versions), tuple(problems))


def _lines_without_records(
    entries: list[dict[str, Any]], broken: list[int], versions: dict[str, Any]
) -> list[str]:
    """Every history line must be the record stored on its version."""
    problems = []
    for seq, entry in enumerate(entries, start=1):
        if entry.get("decision") == "unreadable":
            problems.append(f"history line {seq} is not a JSON object")
            continue
        number, decision = str(entry.get("version")), str(entry.get("decision"))
        mv, tag = versions.get(number), RECORD_TAGS.get(decision, "review.record")
        if mv is None:
            problems.append(f"history line {seq}: version {number} is not in the registry")
            continue
        recorded = mv.tags.get(tag)
        expected = {k: v for k, v in entry.items() if k != "prev_sha256"}
        if recorded is None:
            problems.append(
                f"history line {seq}: version {number} {decision}, but the version has no {tag}"
            )
        elif json.loads(recorded) != expected:
            problems.append(
                f"history line {seq}: version {number}'s {tag} differs from the history "
                "(the record or the line was edited)"
            )
    return problems


def _records_without_lines(lines: list[bytes], versions: dict[str, Any]) -> list[str]:
    """Every record on a version must be anchored to its own line of the history."""
    problems = []
    for number, mv in versions.items():
        for tag, anchor_tag in ANCHOR_TAGS.items():
            if tag not in mv.tags:
                continue
            raw = mv.tags.get(anchor_tag)
            if raw is None:
                problems.append(f"version {number} has {tag} but no {anchor_tag} (not anchored)")
                continue
            seq = int(json.loads(raw)["seq"])
            if seq > len(lines):
                problems.append(
                    f"version {number}'s {tag} is history line {seq}, but the history has "
                    f"{len(lines)} line(s) (truncated or deleted)"
                )
            elif line_sha256(lines[seq - 1]) != json.loads(raw)["line_sha256"]:
                problems.append(
                    f"history line {seq} is not the line version {number}'s {tag} anchored "
                    "(edited, or re-chained)"
                )
    return problems


def _status_problems(versions: dict[str, Any]) -> list[str]:
    """review.status must say what the records say (no `approved` without a record)."""
    problems = []
    for number, mv in versions.items():
        status, record = mv.tags.get("review.status"), mv.tags.get("review.record")
        if status is None:
            continue  # not registered by tuneline
        expected = "pending" if record is None else json.loads(record)["decision"]
        expected = "rolled-back" if "review.rollback" in mv.tags else expected
        if status != expected:
            problems.append(f"version {number} is {status!r} but its records say {expected!r}")
    return problems


def expected_aliases(entries: list[dict[str, Any]]) -> dict[str, str | None]:
    """champion and previous-champion as the history leaves them."""
    now: dict[str, str | None] = {CHAMPION: None, PREVIOUS: None}
    for entry in entries:
        if entry.get("decision") in ("approved", "rolled-back"):
            now = {CHAMPION: entry["champion_after"], PREVIOUS: entry["previous_champion"]}
    return now


def _alias_problems(entries: list[dict[str, Any]], aliases: dict[str, str]) -> list[str]:
    """The aliases must be where the last champion change in the history put them."""
    problems = []
    for alias, expected in expected_aliases(entries).items():
        if aliases.get(alias) != expected:
            problems.append(
                f"alias {alias} points at {_version(aliases.get(alias))}, but the history says "
                f"{_version(expected)} (moved outside tuneline?)"
            )
    return problems


def _version(number: str | None) -> str:
    return f"version {number}" if number is not None else "no version"
