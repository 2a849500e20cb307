"""Benchmark: prepare + validate on N synthetic support rows; prints rows/s and peak memory.

    python bench/prepare_validate.py --rows 1000000

Rows come from the sample-data generator with their order numbers varied, so questions are
distinct and the grouping pass does real work; 2 % carry a real export's defects (duplicates,
near duplicates, conflicts, empty answers, artefacts, e-mail addresses, zero-width characters).
Target: >= 100k rows/s on 2 cores.

Validate runs twice: cold, as `tuneline stage validate` runs (importing Great Expectations,
a one-off few seconds whatever the row count, is counted), then warm (already imported), which
is the part that grows with the rows. Both figures are printed, with CPU seconds: on shared
cores the wall time depends on what else runs.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuneline.params import load_params
from tuneline.prepare import prepare_records
from tuneline.sample_data import generate_support_rows
from tuneline.validate import validate_records

REPO = Path(__file__).resolve().parents[1]


def write_rows(path: Path, rows: int, defect_share: float) -> None:
    """`rows` Q/A pairs: the sample set with a running number in every question, and about
    `defect_share` of them the defects a real export has (see `_defect`), so the slow paths run.
    """
    seed_rows = [r for r in generate_support_rows(n_pairs=2000, seed=11) if r["answer"].strip()]
    every = round(1 / defect_share) if defect_share > 0 else 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ticket_id", "created_at", "category", "question", "answer"])
        for i in range(rows):
            r = seed_rows[i % len(seed_rows)]
            question, answer = f"{r['question']} (ref {i})", r["answer"]
            if every and i >= every and i % every == 0:
                question, answer = _defect(i // every, i - every // 2, seed_rows, question, answer)
            writer.writerow([f"T{i}", r["created_at"], r["category"], question, answer])


def _defect(k: int, earlier: int, seed_rows: list[dict], question: str, answer: str) -> tuple:
    """One defect, in turn: exact duplicate, near duplicate (case, spacing), conflicting answer,
    empty answer, `<noinput>` artefact, e-mail address, zero-width character."""
    before = seed_rows[earlier % len(seed_rows)]
    earlier_q, earlier_a = f"{before['question']} (ref {earlier})", before["answer"]
    kinds = (
        (earlier_q, earlier_a),
        (f"  {earlier_q.upper()}  ", earlier_a),
        (earlier_q, f"{earlier_a} (updated policy)"),
        (question, ""),
        (question, "<noinput>"),
        (question, f"{answer} Write to jo.doe{k}@example.com if it persists."),
        (question.replace(" ", " \u200b", 1), answer),
    )
    return kinds[k % len(kinds)]


def _cpu_seconds() -> float:
    """User + system CPU of this process, all threads: wall time alone misleads on shared cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(call: Callable[[], Any]) -> tuple[Any, float, float]:
    """call()'s result, wall seconds and CPU seconds."""
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    result = call()
    return result, time.perf_counter() - start, _cpu_seconds() - cpu_start


def _cpu_ticks() -> tuple[int, int] | None:
    """(stolen, all) CPU ticks of the machine so far, from /proc/stat (Linux); None elsewhere.
    Stolen ticks are those the hypervisor gave to other virtual machines: on a shared host they
    stretch wall times without any change in the code."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        return int(fields[7]), sum(int(value) for value in fields)
    except (OSError, IndexError, ValueError):
        return None


def _python_loop_seconds(steps: int = 10_000_000) -> float:
    """CPU seconds of a plain Python loop: how fast this machine's cores run Python right now,
    to compare figures taken on different machines."""
    start = time.process_time()
    total = 0
    for step in range(steps):
        total += step
    return time.process_time() - start


def _line(label: str, rows: int, wall: float, cpu: float, note: str) -> str:
    return f"{label:<22} {wall:6.1f} s {rows / wall:10,.0f} rows/s  {cpu:5.1f} s CPU  {note}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--defect-share",
        type=float,
        default=0.02,
        help="share of rows with a defect (duplicates, conflicts, empty, PII...); 0 = clean data",
    )
    parser.add_argument(
        "--keep", type=Path, help="copy qa.jsonl, quarantine.jsonl and the reports here"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    params = load_params(REPO / "params.yaml")
    loop_before = _python_loop_seconds()
    ticks_before = _cpu_ticks()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "raw").mkdir()
        start = time.perf_counter()
        write_rows(root / "raw" / "bench.csv", args.rows, args.defect_share)
        size_mb = (root / "raw" / "bench.csv").stat().st_size / 1e6
        print(
            f"generated {args.rows:,} rows ({size_mb:.0f} MB CSV) in "
            f"{time.perf_counter() - start:.1f} s; load average {os.getloadavg()[0]:.1f}"
        )
        report, prepared, prepare_cpu = _timed(
            lambda: prepare_records(
                root / "raw", params.prepare, root / "qa.jsonl", root / "quarantine.jsonl"
            )
        )
        summary, cold, cold_cpu = _timed(
            lambda: validate_records(root / "qa.jsonl", params.validate, root / "validation")
        )
        _, warm, warm_cpu = _timed(
            lambda: validate_records(root / "qa.jsonl", params.validate, root / "validation")
        )
        if args.keep is not None:
            shutil.copytree(root, args.keep, ignore=shutil.ignore_patterns("raw"))
    ticks_after = _cpu_ticks()
    loop_after = _python_loop_seconds()
    rows = args.rows
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        _line(
            "prepare",
            rows,
            prepared,
            prepare_cpu,
            f"kept {report.rows_kept:,}, quarantined {report.rows_quarantined:,}",
        )
    )
    checks = f"success={summary.success}, {len(summary.outcomes)} checks"
    print(_line("validate (cold)", rows, cold, cold_cpu, f"{checks}; GX import counted"))
    print(_line("validate (warm)", rows, warm, warm_cpu, "GX already imported"))
    print(
        f"{'one-off GX start-up':<22} {cold - warm:6.1f} s {'':17}  "
        f"{cold_cpu - warm_cpu:5.1f} s CPU  cold - warm: does not grow with the rows"
    )
    print(_line("total (cold)", rows, prepared + cold, prepare_cpu + cold_cpu, "what a run costs"))
    print(
        _line(
            "total (per-row part)",
            rows,
            prepared + warm,
            prepare_cpu + warm_cpu,
            "prepare + warm validate: what scales with the rows",
        )
    )
    print(
        f"peak memory {peak_mb:,.0f} MB; load average now {os.getloadavg()[0]:.1f} (2 cores shared)"
    )
    stolen = ""
    if ticks_before is not None and ticks_after is not None:
        all_ticks = ticks_after[1] - ticks_before[1]
        share = (ticks_after[0] - ticks_before[0]) / all_ticks if all_ticks else 0.0
        stolen = f"; CPU time stolen by the hypervisor during the run {share:.0%}"
    print(
        f"this machine: a 10M-step Python loop took {loop_before:.2f} s CPU before the run and "
        f"{loop_after:.2f} s after{stolen}"
    )
    print(
        "note: the token-length check is off here (no tokenizer); it tokenises only rows whose "
        "UTF-8 bytes exceed train.max_length",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
