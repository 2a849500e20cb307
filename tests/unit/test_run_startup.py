"""`tuneline run` when Prefect's temporary server does not start in time: one message that says
what to do, exit 2, no traceback, and no server process left behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tuneline.cli import main

REPO = Path(__file__).resolve().parents[2]


def _project(root: Path) -> Path:
    root.mkdir()
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(REPO / name, root / name)
    return root


def test_a_server_that_does_not_start_is_one_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from prefect.server.api.server import SubprocessASGIServer

    asked: list[int | None] = []

    def slow_start(self: SubprocessASGIServer, timeout: int | None = None) -> None:
        asked.append(timeout)
        raise RuntimeError(
            "Timed out while attempting to connect to ephemeral Prefect API server. stdout: ..."
        )

    monkeypatch.setattr(SubprocessASGIServer, "start", slow_start)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", raising=False)

    code = main(["--project", str(_project(tmp_path / "project")), "run"])

    err = capsys.readouterr().err
    assert code == 2
    assert asked == [180]  # a start-up timeout fit for a loaded machine, not Prefect's 20 s
    assert "did not start within 180 s" in err
    assert "prefect server start" in err and "PREFECT_API_URL" in err
    assert "Traceback" not in err


def test_a_real_start_up_timeout_stops_the_server_it_began(tmp_path: Path) -> None:
    """A 1 s start-up timeout (Prefect's own setting, which wins over ours) cannot be met."""
    project = _project(tmp_path / "project")
    env = os.environ | {
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "1",
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuneline", "--project", str(project), "run"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, err = proc.communicate(timeout=120)

    assert proc.returncode == 2, err[-3000:]
    assert "Traceback" not in err
    assert "did not start within 1 s" in err.strip().splitlines()[-1]
    assert _processes_with_env(f"PREFECT_HOME={tmp_path / 'prefect-home'}") == []


def _processes_with_env(entry: str) -> list[int]:
    """Running processes (not zombies) whose environment holds `entry` (Linux /proc)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if entry.encode() not in environ.read_bytes().split(b"\0"):
                continue
            stat = (environ.parent / "stat").read_text()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2 :].split()[0] not in ("Z", "X"):
            found.append(int(environ.parent.name))
    return found
