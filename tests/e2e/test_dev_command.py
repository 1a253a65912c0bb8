"""`polis dev` as a user runs it: start, serve, stop on a signal, leave nothing running."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

START_TIMEOUT_SECONDS = 120.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class DevRun:
    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"POLIS_DATABASE_URL", "POLIS_REDIS_URL"}
        }
        env["POLIS_LOG_LEVEL"] = "WARNING"
        self.log_path = log_path
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "polis",
                "dev",
                "--port",
                str(self.port),
                "--data-dir",
                str(data_dir),
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.data_dir = data_dir

    def wait_healthy(self) -> float:
        started = time.monotonic()
        while time.monotonic() - started < START_TIMEOUT_SECONDS:
            assert self.process.poll() is None, self.output()
            try:
                if httpx.get(self.base + "/health", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            time.sleep(0.2)  # polling a process that is booting, not waiting for time to pass
        raise AssertionError("polis dev did not become healthy:\n" + self.output())

    def everything_it_runs(self) -> set[int]:
        pids = {p.pid for p in psutil.Process(self.process.pid).children(recursive=True)}
        runtime = json.loads((self.data_dir / "servers.json").read_text())
        pids.update({runtime["postgres_pid"], runtime["redis_pid"]})
        return pids

    def stop(self, sig: signal.Signals) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout=90)
        self.log.close()
        return code

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")


@pytest.mark.slow
def test_polis_dev_starts_serves_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = DevRun(data_dir, tmp_path / "first.log")
    try:
        first.wait_healthy()
        pids = first.everything_it_runs()
        # API, worker (+ its pool), beat, PostgreSQL, Redis.
        assert len(pids) >= 5

        health = httpx.get(first.base + "/health").json()
        assert health["success"] is True
        missing = httpx.get(first.base + "/api/v1/no-such-thing")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == 4001
        schema = httpx.get(first.base + "/api/v1/openapi.json").json()
        assert schema["openapi"].startswith("3.")
        metrics = httpx.get(first.base + "/metrics").text
        assert 'polis_http_requests_total{method="GET",route="/health",status="200"}' in metrics
    finally:
        code = first.stop(signal.SIGINT)
    output = first.output()
    assert code == 0, output
    assert "Seeded: 1 created, 0 already there" in output
    assert "+995500000001" in output  # the demo admin's number, for the developer to log in
    assert "/api/v1/docs" in output
    survivors = [pid for pid in pids if _alive(pid)]
    assert survivors == [], output

    # A second start reuses the data folder and seeds nothing twice; SIGTERM stops it too.
    second = DevRun(data_dir, tmp_path / "second.log")
    try:
        second.wait_healthy()
        pids = second.everything_it_runs()
    finally:
        code = second.stop(signal.SIGTERM)
    output = second.output()
    assert code == 0, output
    assert "Seeded: 0 created, 1 already there" in output
    assert [pid for pid in pids if _alive(pid)] == [], output
