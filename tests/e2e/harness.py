"""Running `polis dev` as a child process, the way a developer does, for end-to-end tests."""

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

START_TIMEOUT_SECONDS = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class DevRun:
    def __init__(self, data_dir: Path, log_path: Path, **env_overrides: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"POLIS_DATABASE_URL", "POLIS_REDIS_URL"}
        }
        env["POLIS_LOG_LEVEL"] = "WARNING"
        env.update(env_overrides)
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
            time.sleep(0.05)  # polling a process that is booting, not waiting for time to pass
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
