"""A real `prefect server` on a free 127.0.0.1 port, started by the test and stopped by its PID.

Its database is a throwaway PostgreSQL database when a server answers on 127.0.0.1:5432 (SQLite
locks up under a server plus several flow processes on two cores), else SQLite in PREFECT_HOME.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES = ("127.0.0.1", "5432", "postgres")  # host, port, user (trust auth on test machines)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_database() -> str | None:
    """Create a throwaway database; its name, or None when no PostgreSQL is reachable."""
    if shutil.which("createdb") is None:
        return None
    host, port, user = POSTGRES
    name = f"prefect_test_{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        ["createdb", "-h", host, "-p", port, "-U", user, name], capture_output=True, timeout=30
    )
    return name if done.returncode == 0 else None


def _drop_database(name: str) -> None:
    host, port, user = POSTGRES
    subprocess.run(
        ["dropdb", "--if-exists", "--force", "-h", host, "-p", port, "-U", user, name],
        capture_output=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API URL of a fresh Prefect server for this test module."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    database = _postgres_database()
    env = os.environ | {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": "",
    }
    if database is not None:
        host, db_port, user = POSTGRES
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = (
            f"postgresql+asyncpg://{user}@{host}:{db_port}/{database}"
        )
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
        + ["--port", str(port)],
        env=env,
        stdout=(home / "server.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        _wait_healthy(url, server, home / "server.log")
        yield url
    finally:
        server.terminate()  # this server's PID only
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
        if database is not None:
            _drop_database(database)


def _wait_healthy(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                tail = log.read_text()[-3000:] if log.is_file() else ""
                raise RuntimeError(f"prefect server did not start:\n{tail}") from None
            time.sleep(1)
