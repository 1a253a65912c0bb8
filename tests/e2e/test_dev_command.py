"""`polis dev` as a user runs it: start, serve, stop on a signal, leave nothing running."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import DevRun, alive


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
    # The demo admin, the territory map and the demo society.
    assert "Seeded: 3 created, 0 already there" in output
    assert "+995500000001" in output  # the demo admin's number, for the developer to log in
    assert "+995599000" not in output  # the demo society's numbers are printed nowhere
    assert "/api/v1/docs" in output
    survivors = [pid for pid in pids if alive(pid)]
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
    assert "Seeded: 0 created, 3 already there" in output
    assert [pid for pid in pids if alive(pid)] == [], output
