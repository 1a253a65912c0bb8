"""How every benchmark reports: a table on the terminal and a line in bench/results/*.jsonl."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results"


def percentile_ms(values: list[float], p: float) -> float:
    """The ``p`` quantile (0 to 1, nearest rank) of ``values`` in seconds, as milliseconds to two
    decimals; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2)


def show(title: str, result: dict[str, Any]) -> None:
    table = Table(title=title)
    for key in result:
        table.add_column(key, justify="right")
    table.add_row(*(str(value) for value in result.values()))
    Console(width=180).print(table)


def record(name: str, **results: Any) -> None:
    """Append one timestamped JSON line to ``bench/results/<name>.jsonl``."""
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with (RESULTS / f"{name}.jsonl").open("a") as out:
        out.write(json.dumps({"at": stamp, **results}) + "\n")
