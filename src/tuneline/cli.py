"""The `tuneline` command. Handlers import what they need when called, so `--help` stays fast."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tuneline.errors import TunelineError

log = logging.getLogger("tuneline")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no weight-loading bars in logs
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per Prefect API call otherwise
    # library deprecation notices (transformers v6 renames) are for us, not for operators
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    try:
        return int(args.handler(args) or 0)
    except TunelineError as exc:
        print(f"tuneline: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except FileNotFoundError as exc:
        print(f"tuneline: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        refused = _server_refusal(exc)
        if refused is None:
            raise
        print(f"tuneline: {refused}", file=sys.stderr)
        return 6  # RegistryError's code: the registry refused the operation


def _server_refusal(exc: Exception) -> str | None:
    """A message for a tracking server that refused the login (401) or the action (403);
    None for any other error. Matched by MLflow's error code, so mlflow stays unimported."""
    code = getattr(exc, "error_code", None)
    if not type(exc).__module__.startswith("mlflow") or code not in _REFUSALS:
        return None
    detail = str(getattr(exc, "message", exc)).splitlines()[0][:300]
    return f"the tracking server refused {_REFUSALS[code]} ({detail}). " + (
        "Set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to your MLflow account; "
        "moving champion and writing review tags need a reviewer account"
    )


_REFUSALS = {"UNAUTHENTICATED": "the login", "PERMISSION_DENIED": "this action"}


def _root(args: argparse.Namespace) -> Path:
    from tuneline.layout import find_project_root

    return find_project_root(Path(args.project) if args.project else None)


def _params(args: argparse.Namespace):  # noqa: ANN202 - Params, imported lazily
    from tuneline.params import load_params

    return load_params(_root(args) / "params.yaml")


def _sample_data(args: argparse.Namespace) -> int:
    from tuneline.sample_data import write_sample_csv

    summary = write_sample_csv(Path(args.path), n_pairs=args.rows, seed=args.seed)
    print(
        f"wrote {summary.rows} Q/A pairs to {summary.path} "
        f"({len(summary.categories)} categories; planted defects {summary.defects})"
    )
    return 0


def _demo_model(args: argparse.Namespace) -> int:
    from tuneline.base_model import build_demo_model
    from tuneline.sample_data import generate_support_rows

    params, root = _params(args), _root(args)
    # Another seed than the sample data: the same company language with other order numbers,
    # dates and amounts, so the base never saw the held-out answers themselves.
    rows = generate_support_rows(n_pairs=args.rows, seed=params.demo_model.seed + 1000)
    corpus = [r["question"] for r in rows] + [r["answer"] for r in rows]
    corpus.append(params.model.system_prompt)
    out = build_demo_model(corpus, root / params.model.base, params.demo_model)
    print(f"demo base model saved to {out}")
    return 0


def _ingest(args: argparse.Namespace) -> int:
    from tuneline.ingest import ingest_source
    from tuneline.layout import QUARANTINE

    result = ingest_source(
        Path(args.path), _root(args), _params(args).prepare, args.name, args.format
    )
    p = result.provenance
    state = "ingested" if result.changed else "unchanged (same sha256), nothing to do"
    print(f"{p.name}: {state}; {p.rows} rows, {p.bytes} bytes, sha256 {p.sha256}")
    if result.malformed:
        print(
            f"{len(result.malformed)} malformed record(s); prepare will quarantine them "
            f"({QUARANTINE}), or stop if they exceed prepare.max_bad_row_share:"
        )
        for line in result.malformed[:_MALFORMED_SHOWN]:
            print(f"  {line}")
        if len(result.malformed) > _MALFORMED_SHOWN:
            print(f"  ... and {len(result.malformed) - _MALFORMED_SHOWN} more")
    return 0


_MALFORMED_SHOWN = 20  # the first malformed records `tuneline ingest` lists


def _stage(args: argparse.Namespace) -> int:
    from tuneline.stages import run_stage

    run_stage(args.name, _params(args), _root(args))
    return 0


def _run(args: argparse.Namespace) -> int:
    """The training flow. SIGTERM or Ctrl-C stops the whole tree: the stage in progress is told
    to stop and waited for (training saves a checkpoint and ends its MLflow run KILLED), the
    flow run ends CRASHED (Prefect's state for a run its process stopped; CANCELLED is for a
    cancel requested through the API), the temporary Prefect server stops, and this exits
    128 + the signal's number."""
    from flows.training import prefect_api, training_flow
    from tuneline.tracking import Interrupted

    root = _root(args)
    try:
        with _stop_on_signals(), prefect_api():
            result = training_flow(project_dir=str(root), sources=args.ingest, reason=args.reason)
    except Interrupted as exc:
        code = int(exc.code or 1)
        print(
            f"tuneline: run stopped by {_signal_name(code - 128)}: the stage in progress was "
            "stopped (training saves a checkpoint first), the flow run ended CRASHED; "
            "`tuneline run` again resumes from the checkpoint",
            file=sys.stderr,
        )
        return code
    print(_run_summary(result))
    return 0


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGINT end the run as `Interrupted(128 + n)`, a SystemExit, so every
    `finally` and context exit runs (child processes stopped, servers shut down), instead of
    the process dying on the spot (SIGTERM's default) and orphaning them."""
    from tuneline.tracking import Interrupted, signals_handled

    def interrupt(signum: int, frame: Any) -> None:
        raise Interrupted(128 + signum)

    with signals_handled(interrupt):
        yield


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _run_summary(result: dict) -> str:
    lines = [
        "",
        "tuneline run finished",
        f"  stages      {' -> '.join(result['stages'])}",
        f"  prepared    {result['prepare']}",
        f"  evaluation  {result['evaluation_report']}",
        f"  gates       {'all passed' if result.get('gates_passed') else 'NOT all passed'}",
        "",
        result["table"],
        "",
        f"  registered  {result['model_name']} version {result['version']}",
        f"  review      {result['review']['status']}",
    ]
    if result["review"]["status"] == "pending":
        pack = result.get("reviewer_pack", {}).get("html", result["evaluation_report"])
        lines += [
            "",
            "Reviewer, next:",
            f"  open {pack}   (metrics, gates, answers side by side)",
            f"  tuneline review show {result['version']}",
            f'  tuneline review approve {result["version"]} --comment "..." --reviewer NAME'
            "   (or reject)",
        ]
    return "\n".join(lines)


def _review(args: argparse.Namespace) -> int:
    from tuneline import approval, registry

    params, root = _params(args), _root(args)
    recovered = approval.recover(params.project, root)  # an interrupted decision, completed
    if args.action == "recover":
        print(f"completed the interrupted {recovered.describe()}" if recovered else "nothing to do")
        return 0
    if args.action == "list":
        rows = registry.list_versions(params.project, root)
        print(f"{'version':>7}  {'status':<11} {'gates':<7} {'aliases':<28} created")
        for r in rows:
            print(
                f"{r['version']:>7}  {r['status']:<11} {r['gates']:<7} {r['aliases'] or '-':<28} "
                f"{r['created']}"
            )
        return 0
    if args.action == "show":
        mv = registry.resolve_version(params.project, root, args.version)
        if args.format == "json":
            shown = {"version": mv.version, "run_id": mv.run_id, "source": mv.source}
            print(json.dumps(shown | {"tags": dict(sorted(mv.tags.items()))}, indent=2))
        else:
            print(_version_summary(mv, registry.aliases(params.project, root)))
        return 0
    if args.action == "history":
        return _history(params, root, args)
    return _decide(args, params, root)


def _version_summary(mv: Any, aliases: dict[str, str]) -> str:
    """What a reviewer reads before deciding: status, gates, champion compared, evidence."""
    tags = mv.tags
    mine = sorted(a for a, v in aliases.items() if v == str(mv.version))
    lines = [
        f"version {mv.version} ({', '.join(mine) or 'no alias'}): {tags.get('review.status')}",
        f"  run          {mv.run_id} (started by {tags.get('training.started_by', '?')})",
        f"  compared to  champion {tags.get('evaluation.champion_seen', '?')} "
        f"(champion now: {aliases.get('champion', 'none')})",
        f"  validation   success={tags.get('validation.success')} "
        f"failed={tags.get('validation.failed_checks')}",
        "  test metrics "
        + ", ".join(
            f"{k.removeprefix('test.candidate.')}={v}"
            for k, v in sorted(tags.items())
            if k.startswith("test.candidate.")
        ),
    ]
    gates = json.loads(tags.get("gates.json", "[]"))
    lines.append(f"  gates        {'none recorded' if not gates else ''}")
    lines += [
        f"    {'pass' if g['passed'] else 'FAIL'}  {g['name']}: {g.get('detail')}" for g in gates
    ]
    for kind in ("html", "markdown"):
        if f"review.pack.{kind}" in tags:
            lines.append(f"  pack         {tags[f'review.pack.{kind}']}")
    if "review.record" in tags:
        lines.append(
            f"  decision     {tags['review.status']} by {tags.get('review.reviewer')} "
            f"({tags.get('review.identity')}, via {tags.get('review.via')}) at "
            f"{tags.get('review.decided_at')}: {tags.get('review.comment')}"
        )
    lines.append("  (all tags: --format json)")
    return "\n".join(lines)


def _decide(args: argparse.Namespace, params: Any, root: Path) -> int:
    """Record the decision; a review flow run still waiting for it is resumed with the same
    input; a late decision runs as its own flow run when a Prefect server is configured."""
    from dataclasses import replace

    from flows import promotion as review_flows
    from tuneline import approval, registry

    request = approval.DecisionRequest(
        version=str(registry.resolve_version(params.project, root, args.version).version),
        approve=args.action == "approve",
        comment=args.comment,
        reviewer=approval.reviewer_identity(params.project, args.reviewer),
        via="cli",
        override_reason=getattr(args, "override", None) or "",
    )
    approval.check(params, root, request)  # refusals come here, before anything runs
    waiting = review_flows.waiting_review_run(params.project, root, request.version)
    if waiting is not None:
        record = approval.decide(params, root, replace(request, flow_run_id=waiting))
        resumed = review_flows.resume_review(waiting, request)
        note = f"resumed the waiting review flow run {waiting}" if resumed else ""
    elif review_flows.prefect_api_url() is not None:
        record = approval.DecisionRecord(
            **review_flows.promotion_flow(
                str(root),
                request.version,
                request.approve,
                request.comment,
                request.reviewer.name,
                request.reviewer.source,
                request.override_reason,
            )
        )
        note = "recorded by the tuneline-promotion flow run"
    else:
        record = approval.decide(params, root, request)
        note = ""
    _print_decision(record, note)
    return 0


def _print_decision(record: Any, note: str) -> None:
    print(
        f"version {record.version} {record.decision} by {record.reviewer} "
        f"({record.identity}) at {record.decided_at}"
        + (f"; override: {record.override_reason}" if record.override else "")
    )
    if record.decision in ("approved", "rolled-back"):
        previous = record.previous_champion
        print(
            f"champion -> version {record.champion_after}"
            + (f" (previous-champion -> {previous})" if previous else "")
        )
    if note:
        print(note)


def _history(params: Any, root: Path, args: argparse.Namespace) -> int:
    from tuneline import approval, history

    entries, _ = approval.read_history(root)
    if args.at:
        found = approval.champion_at(entries, approval.parse_when(args.at))
        if found is None:
            print(f"no champion at {args.at}")
            return 0
        approved, change = found["approved"] or {}, found["changed_by"]
        print(
            f"champion at {args.at}: version {found['champion']}, approved by "
            f"{approved.get('reviewer', '?')} ({approved.get('identity', '?')}) at "
            f"{approved.get('decided_at', '?')}: {approved.get('comment', '')}"
        )
        if change["decision"] == "rolled-back":
            print(
                f"  (restored by {change['reviewer']}'s rollback of version {change['version']} "
                f"at {change['decided_at']}: {change['comment']})"
            )
    else:
        print(f"{'decided at':<26}{'version':>7}  {'decision':<12}{'champion':>9}  by")
        for e in entries:
            print(
                f"{e['decided_at']:<26}{e['version']:>7}  {e['decision']:<12}"
                f"{e['champion_after'] or '-':>9}  {e['reviewer']} ({e['identity']}, {e['via']})"
                f": {e['comment']}"
            )
    found_problems = history.audit(params.project, root).problems
    for problem in found_problems:
        print(f"WARNING: {problem}")
    return 3 if found_problems else 0


def _rollback(args: argparse.Namespace) -> int:
    from tuneline import approval

    params, root = _params(args), _root(args)
    who = approval.reviewer_identity(params.project, args.reviewer)
    record = approval.rollback(params, root, args.comment, who)
    print(
        f"version {record.version} rolled back by {record.reviewer} ({record.identity}) at "
        f"{record.decided_at}"
    )
    previous = record.previous_champion
    print(
        f"champion -> version {record.champion_after}"
        + (f" (previous-champion -> {previous})" if previous else "")
    )
    return 0


def _predict(args: argparse.Namespace) -> int:
    from tuneline.predict import load_model

    model = load_model(args.ref, _root(args))
    result = model.answer(args.question, args.max_new_tokens)
    print(result.answer)
    print(f"({result.model_uri}, {result.latency_s:.2f} s)", file=sys.stderr)
    return 0


def _merge(args: argparse.Namespace) -> int:
    from tuneline.merge import merge_adapter

    root = _root(args)
    out = merge_adapter(_params(args), root, root / args.adapter, root / args.out, args.dtype)
    print(f"merged model ({args.dtype}) written to {out}")
    return 0


def _drift(args: argparse.Namespace) -> int:
    from tuneline.monitor import check_drift

    params, root = _params(args), _root(args)
    summary = check_drift(params, root, Path(args.current), args.column)
    verdict = "DRIFT" if summary.drifted else "no drift"
    print(
        f"{verdict}: {summary.share:.0%} of descriptors drifted "
        f"(threshold {summary.threshold:.0%}; {summary.current_rows} new vs "
        f"{summary.reference_rows} training questions)\n  report {summary.report_html}"
    )
    return 5 if summary.drifted else 0


def _monitor(args: argparse.Namespace) -> int:
    from flows.monitoring import monitoring_flow

    result = monitoring_flow(
        project_dir=str(_root(args)), traffic_path=args.current, retrain=not args.no_retrain
    )
    print(json.dumps(result, indent=2))
    return 5 if result["drifted"] else 0


def _schedule(args: argparse.Namespace) -> int:
    from tuneline.schedule import create_deployments, serve_deployments

    params, root = _params(args), _root(args)
    if args.serve:
        serve_deployments(params, root)
        return 0
    for line in create_deployments(params, root, args.work_pool):
        print(line)
    return 0


def _verify(args: argparse.Namespace) -> int:
    """DVC-tracked data against dvc.lock (exit 3), then the review history against the registry
    (exit 6 when they disagree)."""
    from tuneline.verify import verify_tracked_data

    report = verify_tracked_data(_root(args))
    code = _verify_data(report)
    return _verify_history(args) or code


def _verify_history(args: argparse.Namespace) -> int:
    """The review history, its anchors, the versions' records and the aliases, cross-checked."""
    from tuneline import approval, history

    params, root = _params(args), _root(args)
    approval.recover(params.project, root)
    audit = history.audit(params.project, root)
    for problem in audit.problems:
        print(f"TAMPERED  {problem}")
    verdict = "ok" if audit.ok else f"{len(audit.problems)} problem(s)"
    print(
        f"verify: review history ({audit.lines} decisions) against the registry "
        f"({audit.versions} versions, aliases, anchors): {verdict}"
    )
    return 0 if audit.ok else 6


def _verify_data(report: Any) -> int:
    """Print the DVC re-hash result; 3 when a file differs."""
    if report.checked_files == 0:
        print(
            "verify: nothing is DVC-tracked yet (no dvc.lock outputs, no .dvc files); "
            "ingest a source and run the pipeline first"
        )
        return 0
    for m in report.mismatches:
        actual = m.actual_md5 or "missing"
        print(
            f"MISMATCH {m.where:<9} {m.path}: expected {m.expected_md5} (from {m.recorded_in}),"
            f" found {actual}"
        )
    verdict = "ok" if report.ok else f"{len(report.mismatches)} mismatch(es)"
    print(
        f"verify: {report.checked_files} files, {report.checked_bytes / 1e6:.1f} MB re-hashed "
        f"against dvc.lock, *.dvc and the cache: {verdict}"
    )
    return 0 if report.ok else 3


def _lineage(args: argparse.Namespace) -> int:
    from tuneline.approval import recover
    from tuneline.lineage import format_text, trace

    project, root = _params(args).project, _root(args)
    recover(project, root)  # an interrupted decision is completed before it is traced
    chain = trace(project, root, args.ref)
    print(json.dumps(chain, indent=2) if args.format == "json" else format_text(chain))
    return 0 if all(s["matches_disk"] for s in chain["raw_sources"]) else 3


def _tracking_server(args: argparse.Namespace) -> int:
    """`start`: the MLflow server with logins (replaces this process); `setup`: its users."""
    from tuneline import auth_server

    root = _root(args)
    env_file = root / args.env_file
    if args.action == "start":
        env = auth_server.server_environment(env_file, root / args.data_dir)
        command = auth_server.start_command(args.host, args.port, args.workers)
        print(f"MLflow with logins on http://{args.host}:{args.port} (Ctrl-C stops)", flush=True)
        os.execve(command[0], command, env)
    params = _params(args)
    url = args.url or params.project.tracking_uri
    if not url.startswith(("http://", "https://")):
        url = "http://127.0.0.1:5000"
    values = auth_server.read_env_file(env_file)
    done = auth_server.setup(url, values, params.project.experiment, params.project.model_name)
    print(f"users created: {', '.join(done.created) or '-'}")
    print(f"users that existed: {', '.join(done.existing) or '-'}")
    print("\n".join(f"  {grant}" for grant in done.grants))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuneline",
        description="Fine-tune an open LLM on your Q/A data, safely and on a schedule.",
    )
    parser.add_argument("--project", help="project folder (default: found upwards from here)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("sample-data", help="write the bundled sample support Q/A set as CSV")
    p.add_argument("path")
    p.add_argument("--rows", type=int, default=1200)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(handler=_sample_data)

    p = sub.add_parser("demo-model", help="build the tiny offline base model at model.base")
    p.add_argument("--rows", type=int, default=1200, help="sample rows to train the tokenizer on")
    p.set_defaults(handler=_demo_model)

    p = sub.add_parser("ingest", help="add a raw source file (DVC-versioned, pushed, provenance)")
    p.add_argument("path")
    p.add_argument("--name", help="file name under data/raw (default: the source's name)")
    p.add_argument("--format", default="auto", choices=["auto", "csv", "jsonl", "json", "parquet"])
    p.set_defaults(handler=_ingest)

    p = sub.add_parser("stage", help="run one pipeline stage (what dvc.yaml calls)")
    p.add_argument("name", choices=["prepare", "validate", "split", "train", "evaluate"])
    p.set_defaults(handler=_stage)

    p = sub.add_parser("run", help="run the training flow: ingest -> ... -> register")
    p.add_argument(
        "--ingest",
        action="append",
        default=[],
        metavar="PATH",
        help="source file to ingest first (repeatable)",
    )
    p.add_argument("--reason", default="manual", help="why this run (recorded on the run)")
    p.set_defaults(handler=_run)

    p = sub.add_parser("review", help="see candidates and approve or reject them")
    rsub = p.add_subparsers(dest="action", required=True)
    rsub.add_parser("list", help="all versions with status and aliases")
    show = rsub.add_parser("show", help="one version's evidence and tags")
    show.add_argument("version", help="number or alias (challenger, champion)")
    show.add_argument("--format", choices=["text", "json"], default="text")
    for action in ("approve", "reject"):
        d = rsub.add_parser(action, help=f"{action} a pending version (recorded)")
        d.add_argument("version")
        d.add_argument("--comment", required=True)
        d.add_argument(
            "--reviewer",
            help="your name (default: the OS user; recorded as self-declared unless the MLflow "
            "server authenticates you)",
        )
        if action == "approve":
            d.add_argument(
                "--override",
                metavar="REASON",
                help="approve although a gate failed, saying why (recorded)",
            )
    history = rsub.add_parser("history", help="every decision; --at DATE: who was champion")
    history.add_argument("--at", help="a date (2026-03-31) or ISO time, UTC")
    rsub.add_parser(
        "recover",
        help="complete a decision or rollback interrupted by a crash (every review "
        "command does this first)",
    )
    p.set_defaults(handler=_review)

    p = sub.add_parser("rollback", help="champion back to previous-champion (recorded)")
    p.add_argument("--comment", required=True)
    p.add_argument("--reviewer", help="your name (as for review approve)")
    p.set_defaults(handler=_rollback)

    p = sub.add_parser("predict", help="answer a question with a registered version")
    p.add_argument("question")
    p.add_argument("--ref", default="champion", help="alias or version number")
    p.add_argument("--max-new-tokens", type=int, help="default: evaluate.max_new_tokens")
    p.set_defaults(handler=_predict)

    p = sub.add_parser("merge", help="fold the adapter into a bf16/fp32 copy of the base")
    p.add_argument("--adapter", default="models/adapter", help="adapter folder")
    p.add_argument("--out", default="models/merged", help="where the merged model goes")
    p.add_argument("--dtype", default="bf16", choices=["bf16", "fp32"])
    p.set_defaults(handler=_merge)

    p = sub.add_parser("drift", help="compare new questions with the training questions")
    p.add_argument("current", help="CSV/JSONL/JSON of new questions")
    p.add_argument(
        "--column", help="field holding the question (default: prepare.columns.question)"
    )
    p.set_defaults(handler=_drift)

    p = sub.add_parser("monitor", help="run the monitoring flow: drift check, retrain on drift")
    p.add_argument("current", help="CSV/JSONL/JSON of new questions")
    p.add_argument("--no-retrain", action="store_true")
    p.set_defaults(handler=_monitor)

    p = sub.add_parser(
        "schedule", help="create the Prefect deployments (daily drift, quarterly retrain)"
    )
    p.add_argument("--work-pool", default="tuneline")
    p.add_argument("--serve", action="store_true", help="serve them from this process instead")
    p.set_defaults(handler=_schedule)

    p = sub.add_parser("tracking-server", help="MLflow server with logins: start | setup users")
    p.add_argument("action", choices=["start", "setup"])
    p.add_argument("--env-file", default="infra/mlflow-auth.env", help="secrets (mode 0600)")
    p.add_argument("--host", default="127.0.0.1", help="start: address to listen on")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--workers", type=int, default=2, help="start: uvicorn worker processes")
    p.add_argument("--data-dir", default="mlruns/server", help="start: SQLite stores, artifacts")
    p.add_argument("--url", help="setup: the server (default: project.tracking_uri)")
    p.set_defaults(handler=_tracking_server)

    p = sub.add_parser("verify", help="re-hash DVC-tracked data and cache (dvc status does not)")
    p.set_defaults(handler=_verify)

    p = sub.add_parser("lineage", help="trace a model version back to data, code, checks, approval")
    p.add_argument("ref", help="version number or alias (champion, challenger)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(handler=_lineage)
    return parser


if __name__ == "__main__":
    sys.exit(main())
