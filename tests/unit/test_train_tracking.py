"""MLflow unreachable during training: nothing stops, nothing is lost.

The metric buffer is pointed at a port where nothing listens (a real connection refusal from
MLflow's HTTP client), then at a real MLflow server: once on a store that a later process
reads back (the stage re-run path), once with a server stopped and started mid-run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tuneline.tracking import MetricBuffer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sqlite_run(tmp_path: Path) -> tuple[str, str]:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("t", artifact_location=(tmp_path / "a").as_uri())
    return uri, client.create_run(experiment).info.run_id


def _history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    from mlflow.tracking import MlflowClient

    rows = MlflowClient(tracking_uri=uri).get_metric_history(run_id, key)
    return sorted((m.step, m.value) for m in rows)


def test_unreachable_server_keeps_metrics_on_disk_and_a_later_process_delivers_them(
    tmp_path: Path,
) -> None:
    uri, run_id = _sqlite_run(tmp_path)
    pending = tmp_path / "pending.jsonl"
    dead = MetricBuffer(f"http://127.0.0.1:{_free_port()}", run_id, pending, retry_s=0)
    started = time.monotonic()
    for step in range(1, 6):
        dead.log({"curve.loss": 1.0 / step}, step=step)  # no exception: training goes on
    assert time.monotonic() - started < 10  # no minutes of HTTP retries per step
    assert dead.pending == 5 and len(pending.read_text().splitlines()) == 5

    later = MetricBuffer(uri, run_id, pending)  # e.g. the stage run again, MLflow back
    assert later.pending == 5
    assert later.flush(force=True)
    assert later.pending == 0 and pending.read_text() == ""
    assert _history(uri, run_id, "curve.loss") == [(s, 1.0 / s) for s in range(1, 6)]


def test_a_torn_last_line_from_a_crash_is_skipped(tmp_path: Path) -> None:
    pending = tmp_path / "pending.jsonl"
    pending.write_text('{"key": "a", "value": 1.0, "step": 1, "ts": 0}\n{"key": "a", "val')
    assert MetricBuffer("sqlite:///unused.db", "r", pending).pending == 1


def test_a_flush_cut_off_after_some_batches_never_sends_a_row_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri, run_id = _sqlite_run(tmp_path)
    pending = tmp_path / "pending.jsonl"
    offline = MetricBuffer(f"http://127.0.0.1:{_free_port()}", run_id, pending, retry_s=0)
    for step in range(2500):  # three batches of at most 1000 rows
        offline._pending.append({"key": "curve.loss", "value": float(step), "step": step, "ts": 0})
    offline._rewrite()
    buffer = MetricBuffer(uri, run_id, pending)
    real_log_batch, calls = MlflowClient.log_batch, []

    def second_batch_fails(self, *args, **kwargs):  # noqa: ANN001, ANN202 - a stand-in
        calls.append(1)
        if len(calls) == 2:
            raise MlflowException("connection reset")
        return real_log_batch(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", second_batch_fails)
    assert not buffer.flush(force=True)
    assert buffer.pending == 1500 and len(pending.read_text().splitlines()) == 1500
    assert buffer.flush(force=True) and pending.read_text() == ""
    steps = [step for step, _ in _history(uri, run_id, "curve.loss")]
    assert steps == list(range(2500))  # each row exactly once


def _start_server(store: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{store}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=os.environ | {"MLFLOW_DISABLE_TELEMETRY": "true"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its uvicorn worker goes down with it
    )
    # Ready when it answers HTTP, not when the port accepts: the port is bound before the
    # worker has loaded the app, and on a slow machine that takes longer than a metric upload
    # is given (tracking.quick_requests).
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as reply:
                if reply.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    _stop_server(proc)
    raise AssertionError("mlflow server did not start")


def _stop_server(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, 15)
    proc.wait(timeout=30)


@pytest.mark.integration
def test_server_stopped_mid_run_then_back_gets_every_metric(tmp_path: Path) -> None:
    uri, run_id = _sqlite_run(tmp_path)
    port = _free_port()
    buffer = MetricBuffer(f"http://127.0.0.1:{port}", run_id, tmp_path / "p.jsonl", retry_s=0)
    server = _start_server(tmp_path / "mlflow.db", port)
    try:
        buffer.log({"curve.loss": 1.0}, step=1)
        assert buffer.pending == 0  # delivered live
        _stop_server(server)
        for step in (2, 3, 4):
            buffer.log({"curve.loss": float(step)}, step=step)  # server down: kept
        assert buffer.pending == 3
        server = _start_server(tmp_path / "mlflow.db", port)
        buffer.log({"curve.loss": 5.0}, step=5)  # the next log delivers the backlog too
        assert buffer.pending == 0
    finally:
        _stop_server(server)
    assert _history(uri, run_id, "curve.loss") == [(s, float(s)) for s in range(1, 6)]
