"""infra/ guards: every server listens on 127.0.0.1 unless configured otherwise, auth is on by
default, secrets come from environment files and the examples hold placeholders only."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

INFRA = Path(__file__).resolve().parents[2] / "infra"
UNITS = sorted((INFRA / "systemd").glob("*.service"))
EXAMPLES = [INFRA / "systemd/tuneline.env.example", INFRA / "mlflow-auth.env.example"]
SECRET_KEYS = re.compile(r"(PASSWORD|SECRET|TOKEN|AUTH_STRING|_KEY)(_|$)")


def _values(path: Path) -> dict[str, str]:
    """KEY=value lines of an env file, commented-out ones included (they are examples too)."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^#?([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if match:
            found[match.group(1)] = match.group(2)
    return found


def test_every_server_listens_on_localhost_by_default() -> None:
    env = _values(INFRA / "systemd/tuneline.env.example")
    assert env["PREFECT_SERVER_API_HOST"] == "127.0.0.1"
    assert env["MLFLOW_HOST"] == "127.0.0.1"
    for unit in UNITS:
        text = unit.read_text()
        assert "0.0.0.0" not in text.split("[Service]")[1], unit.name
        for host in re.findall(r"--host (\S+)", text):
            assert host in ("${PREFECT_SERVER_API_HOST}", "${MLFLOW_HOST}"), (unit.name, host)


def test_auth_is_on_by_default() -> None:
    env = _values(INFRA / "systemd/tuneline.env.example")
    assert env["PREFECT_SERVER_API_AUTH_STRING"] and env["PREFECT_API_AUTH_STRING"]
    prefect = (INFRA / "systemd/prefect-server.service").read_text()
    assert re.search(r"ExecStartPre=.*PREFECT_SERVER_API_AUTH_STRING", prefect)
    worker = (INFRA / "systemd/prefect-worker.service").read_text()
    assert re.search(r"ExecStartPre=.*PREFECT_API_AUTH_STRING", worker)
    mlflow = (INFRA / "systemd/mlflow-server.service").read_text()
    start = next(line for line in mlflow.splitlines() if line.startswith("ExecStart="))
    assert "tracking-server start" in start and "--env-file /etc/tuneline/" in start


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_hold_placeholders_not_secrets(example: Path) -> None:
    for key, value in _values(example).items():
        if SECRET_KEYS.search(key) and not key.endswith("_USERNAME"):
            assert "CHANGE-ME" in value, f"{example.name}: {key} holds a value, not CHANGE-ME"
        assert not re.search(r"://[^:/@\s]+:(?!CHANGE-ME@)[^@\s]+@", value), (example, key)


def test_units_take_secrets_from_environment_files_only() -> None:
    for unit in UNITS:
        text = unit.read_text()
        assert "EnvironmentFile=/etc/tuneline/" in text, unit.name
        for line in text.splitlines():
            if line.startswith(("ExecStart=", "Environment=")):
                assert not SECRET_KEYS.search(line.split("${")[0]), (unit.name, line)
                assert "CHANGE-ME" not in line, (unit.name, line)


def test_secret_files_are_ignored_by_git() -> None:
    root = INFRA.parent
    done = subprocess.run(
        ["git", "check-ignore", "-q", "infra/mlflow-auth.env"], cwd=root, capture_output=True
    )
    assert done.returncode == 0, "infra/mlflow-auth.env would be committed"
    readme = (INFRA / "README.md").read_text()
    assert "chmod 0640" not in readme and "-m 0640" not in readme  # secrets files are 0600
