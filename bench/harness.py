"""Shared by the benchmarks: `polis dev` in a scratch data folder (the e2e tests' harness)."""

from __future__ import annotations

import signal
import tempfile
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


@contextmanager
def scratch_polis_dev() -> Iterator[tuple[str, Path]]:
    """`polis dev` in a throw-away data folder with rate limits off (a benchmark sends from one
    address): yields (base URL, data folder, whose servers.json names its servers)."""
    with tempfile.TemporaryDirectory(prefix="polis-bench-") as scratch:
        data_dir = Path(scratch) / "data"
        with polis_dev(data_dir, POLIS_RATE_LIMIT_ENABLED="false", POLIS_LOG_LEVEL="WARNING") as (
            base,
            _,
        ):
            yield base, data_dir
