"""Shared by the benchmarks: start `polis dev` in a scratch data folder and wait for health."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_healthy(base: str, process: subprocess.Popen[bytes], timeout: float = 180.0) -> float:
    """Seconds until ``base``/health answered 200."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError("polis dev exited early")
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError("polis dev did not become healthy")


@contextmanager
def polis_dev(data_dir: Path, port: int | None = None) -> Iterator[tuple[str, float]]:
    """Run `polis dev`; yields (base URL, seconds from launch to a healthy /health)."""
    port = port or free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in {"POLIS_DATABASE_URL", "POLIS_REDIS_URL"}
    }
    env["POLIS_LOG_LEVEL"] = "WARNING"
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "polis", "dev", "--port", str(port), "--data-dir", str(data_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield base, wait_healthy(base, process)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=90)
