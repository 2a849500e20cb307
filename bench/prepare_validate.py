"""Benchmark: prepare + validate on N synthetic support rows; prints rows/s and peak memory.

    python bench/prepare_validate.py --rows 1000000

Rows come from the sample-data generator with their order numbers varied, so questions are
distinct and the grouping pass does real work. Target: >= 100k rows/s on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from tuneline.params import load_params
from tuneline.prepare import prepare_records
from tuneline.sample_data import generate_support_rows
from tuneline.validate import validate_records

REPO = Path(__file__).resolve().parents[1]


def write_rows(path: Path, rows: int) -> None:
    """`rows` distinct Q/A pairs: the sample set, with a running number in every question."""
    seed_rows = [r for r in generate_support_rows(n_pairs=2000, seed=11) if r["answer"].strip()]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ticket_id", "created_at", "category", "question", "answer"])
        for i in range(rows):
            r = seed_rows[i % len(seed_rows)]
            writer.writerow(
                [f"T{i}", r["created_at"], r["category"], f"{r['question']} (ref {i})", r["answer"]]
            )


def _cpu_seconds() -> float:
    """User + system CPU of this process, all threads: wall time alone misleads on shared cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    params = load_params(REPO / "params.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "raw").mkdir()
        start = time.perf_counter()
        write_rows(root / "raw" / "bench.csv", args.rows)
        size_mb = (root / "raw" / "bench.csv").stat().st_size / 1e6
        print(
            f"generated {args.rows:,} rows ({size_mb:.0f} MB CSV) in "
            f"{time.perf_counter() - start:.1f} s"
        )
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        report = prepare_records(
            root / "raw", params.prepare, root / "qa.jsonl", root / "quarantine.jsonl"
        )
        prepared, prepare_cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        summary = validate_records(root / "qa.jsonl", params.validate, root / "validation")
        validated, validate_cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
    total = prepared + validated
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"prepare   {prepared:6.1f} s  {args.rows / prepared:10,.0f} rows/s  "
        f"(kept {report.rows_kept:,}, quarantined {report.rows_quarantined:,}; "
        f"{prepare_cpu:.1f} s CPU)"
    )
    print(
        f"validate  {validated:6.1f} s  {args.rows / validated:10,.0f} rows/s  "
        f"(success={summary.success}, {len(summary.outcomes)} checks; {validate_cpu:.1f} s CPU, "
        "GX import included)"
    )
    print(
        f"total     {total:6.1f} s  {args.rows / total:10,.0f} rows/s  "
        f"peak memory {peak_mb:,.0f} MB"
    )
    print(f"load average now: {os.getloadavg()[0]:.1f} (2 cores shared: compare CPU seconds)")
    print(
        "note: the token-length check is off here (no tokenizer); it tokenises only rows whose "
        "UTF-8 bytes exceed train.max_length",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
