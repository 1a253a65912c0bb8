"""Requests per second of `GET /health` under a simple, bounded load on loopback.

    .venv/bin/python -m bench.health_load [--url http://127.0.0.1:8000] [--seconds 10]
        [--concurrency 32] [--tool auto|wrk|python]

Without ``--url`` it starts `polis dev` in a scratch folder and stops it afterwards. The load
comes from `wrk` when it is installed (`apt-get install wrk`), else from a Python generator that
is itself the bottleneck (it measures the generator as much as the server). Either shares the
machine's cores with the server, so the figure is a floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import httpx

from bench.harness import polis_dev
from bench.report import percentile_ms, record, show


async def _load(base: str, seconds: float, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:

        async def one_user() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    response = await client.get("/health")
                    if response.status_code != 200:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.monotonic()
        await asyncio.gather(*(one_user() for _ in range(concurrency)))
        elapsed = time.monotonic() - started

    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 2),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": percentile_ms(latencies, 0.50),
        "p90_ms": percentile_ms(latencies, 0.90),
        "p99_ms": percentile_ms(latencies, 0.99),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
    }


def _wrk(
    base: str, seconds: float, concurrency: int, path: str = "/health", token: str | None = None
) -> dict[str, Any]:
    auth = ["-H", f"Authorization: Bearer {token}"] if token else []
    done = subprocess.run(
        ["wrk", "-t2", f"-c{concurrency}", f"-d{int(seconds)}s", "--latency", *auth, base + path],
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout

    def ms(label: str) -> float:
        match = re.search(rf"{label}\s+([0-9.]+)(us|ms|s)", out)
        if match is None:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return round(value / 1000 if unit == "us" else value * 1000 if unit == "s" else value, 2)

    requests = re.search(r"(\d+) requests in ([0-9.]+)s", out)
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert requests and rps, out
    return {
        "requests": int(requests.group(1)),
        "errors": int(errors.group(1)) if errors else 0,
        "seconds": float(requests.group(2)),
        "rps": float(rps.group(1)),
        "p50_ms": ms("50%"),
        "p90_ms": ms("90%"),
        "p99_ms": ms("99%"),
        "mean_ms": ms("Latency"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="a running Polis; default: start polis dev")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--tool", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()
    tool = args.tool
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "python"

    with tempfile.TemporaryDirectory(prefix="polis-bench-") as scratch:
        server = nullcontext((args.url, 0.0)) if args.url else polis_dev(Path(scratch) / "data")
        with server as (base, _):
            asyncio.run(_load(base, 1.0, 4))  # warm-up
            if tool == "wrk":
                result = _wrk(base, args.seconds, args.concurrency)
            else:
                result = asyncio.run(_load(base, args.seconds, args.concurrency))

    result["concurrency"] = args.concurrency
    show(f"GET /health (load from {tool})", result)
    record("health_load", tool=tool, **result)


if __name__ == "__main__":
    main()
