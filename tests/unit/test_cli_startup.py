"""The CLI starts without importing heavy libraries: handlers import what they need when called.

peft, great_expectations and evidently each take seconds to import; `tuneline --help` or a typo
in a command must not pay for them. Checked in a fresh interpreter, since this test process may
already have imported them for other tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = {
    "torch",
    "transformers",
    "peft",
    "mlflow",
    "prefect",
    "great_expectations",
    "evidently",
    "pandas",
    "dvc",
}


def _imported_top_level(stderr: str) -> set[str]:
    """Top-level package names from `-X importtime` output ('import time: self | cum | name')."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            module = line.rsplit("|", 1)[1].strip()
            if module and module != "imported package":
                names.add(module.split(".")[0])
    return names


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_importing_the_cli_imports_no_heavy_library(tmp_path: Path) -> None:
    result = _run(["-X", "importtime", "-c", "import tuneline.cli"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = _imported_top_level(result.stderr)
    assert "tuneline" in imported  # the parse found the import we asked for
    assert imported & HEAVY == set()


def test_help_exits_zero_and_imports_no_heavy_library(tmp_path: Path) -> None:
    result = _run(["-X", "importtime", "-m", "tuneline", "--help"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage: tuneline" in result.stdout
    for command in ("ingest", "stage", "run", "review", "drift", "lineage"):
        assert command in result.stdout
    assert _imported_top_level(result.stderr) & HEAVY == set()
