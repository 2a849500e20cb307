"""`tuneline schedule` against a real `prefect server` that the test starts and stops by PID
(the `prefect_api` fixture in conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _post(url: str, body: dict) -> list:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_schedule_creates_daily_drift_and_quarterly_retrain_deployments(prefect_api, tmp_path):
    env = os.environ | {"PREFECT_API_URL": prefect_api, "PREFECT_HOME": str(tmp_path / "client")}
    done = subprocess.run(
        [sys.executable, "-m", "tuneline", "--project", str(REPO), "schedule"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "quarterly-retrain" in done.stdout and "daily-drift-check" in done.stdout

    deployments = {d["name"]: d for d in _post(f"{prefect_api}/deployments/filter", {})}
    assert set(deployments) == {"quarterly-retrain", "daily-drift-check"}
    crons = {
        name: [s["schedule"]["cron"] for s in d["schedules"]] for name, d in deployments.items()
    }
    assert crons == {"quarterly-retrain": ["0 3 1 1,4,7,10 *"], "daily-drift-check": ["0 6 * * *"]}
    timezones = {s["schedule"]["timezone"] for d in deployments.values() for s in d["schedules"]}
    assert timezones == {"UTC"}
    assert deployments["quarterly-retrain"]["work_pool_name"] == "tuneline"


def test_schedule_without_a_server_says_how_to_start_one(tmp_path):
    env = os.environ | {"PREFECT_API_URL": "", "PREFECT_HOME": str(tmp_path / "client")}
    done = subprocess.run(
        [sys.executable, "-m", "tuneline", "--project", str(REPO), "schedule"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "prefect server start" in done.stderr and "Traceback" not in done.stderr
