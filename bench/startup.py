"""Seconds from `polis dev` to a healthy `/health`: a first start and a second one.

    .venv/bin/python -m bench.startup [--runs 3]

The first start creates the data folder (initdb); later starts reuse it, as a developer's do.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.harness import polis_dev

RESULTS = Path(__file__).parent / "results"


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
    table = Table(title="polis dev → healthy /health")
    for key in result:
        table.add_column(key, justify="right")
    table.add_row(*(str(value) for value in result.values()))
    Console(width=140).print(table)
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / "startup.jsonl").open("a") as out:
        out.write(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **result}))
        out.write("\n")


if __name__ == "__main__":
    main()
