"""`tuneline schedule` against a real `prefect server` that the test starts and stops by PID."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def prefect_api(tmp_path):
    port = _free_port()
    env = os.environ | {
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": "",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("prefect server did not start") from None
                time.sleep(1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=60)


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
