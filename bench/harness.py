"""Shared by the benchmarks: `polis dev` in a scratch data folder (the e2e tests' harness)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.harness import DevRun


@contextmanager
def polis_dev(data_dir: Path, **env: str) -> Iterator[tuple[str, float]]:
    """Run `polis dev`; yields (base URL, seconds from launch to a healthy /health)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    run = DevRun(data_dir, data_dir.parent / "polis-dev.log", **env)
    try:
        yield run.base, run.wait_healthy()
    finally:
        run.stop(signal.SIGINT)
