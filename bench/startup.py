"""Seconds from `polis dev` to a healthy `/health`: a first start and a second one.

    .venv/bin/python -m bench.startup [--runs 3]

The first start creates the data folder (initdb); later starts reuse it, as a developer's do.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench.harness import polis_dev
from bench.report import record, show


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="restarts to time after the first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="polis-bench-") as scratch:
        data_dir = Path(scratch) / "data"
        with polis_dev(data_dir) as (_, first):
            pass
        restarts = []
        for _ in range(args.runs):
            with polis_dev(data_dir) as (_, seconds):
                restarts.append(seconds)
    result = {
        "first_start_s": round(first, 2),
        "restart_median_s": round(statistics.median(restarts), 2),
        "restart_min_s": round(min(restarts), 2),
        "restart_max_s": round(max(restarts), 2),
        "restarts": len(restarts),
    }
    show("polis dev → healthy /health", result)
    record("startup", **result)


if __name__ == "__main__":
    main()
