"""WebSocket fan-out latency: 1,000 clients on one API process, events through Redis pub/sub.

    .venv/bin/python -m bench.ws_fanout [--clients 1000] [--members 20] [--rounds 30]

Starts `polis dev` in a scratch folder (rate limits off), logs ``--members`` members in through
the real flow, opens ``--clients`` WebSocket connections to ``/ws`` spread over them, then runs
``--rounds`` rounds of two kinds:

* member: one ``notification.new``-shaped event published on each member's channel
  (``polis:user:{id}``), so every connection receives one event per round;
* broadcast: one event on ``polis:broadcast``, received by every connection.

Latency is from just before ``PUBLISH`` (the moment `kit.events.dispatch` would publish after a
commit) to the client reading the frame; publisher and clients are this process, so one
monotonic clock serves both. The clients share the machine's cores with the server, Redis and
PostgreSQL, so the figures are an upper bound on what the server adds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import httpx
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect

from bench.auth_load import _login
from bench.harness import scratch_polis_dev
from bench.report import percentile_ms, record, show

CONNECT_CONCURRENCY = 50
ROUND_TIMEOUT_SECONDS = 30.0


class Clients:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.expected = 0
        self.received = 0
        self.done = asyncio.Event()

    async def read(self, ws: ClientConnection) -> None:
        async for frame in ws:
            now = time.perf_counter()
            message = json.loads(frame)
            data = message.get("data") or {}
            if "sent_at" not in data:
                continue  # ready, ping
            self.latencies.append(now - float(data["sent_at"]))
            self.received += 1
            if self.received >= self.expected:
                self.done.set()


async def _run(base: str, redis_url: str, clients: int, members: int, rounds: int) -> Any:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        timings: dict[str, list[float]] = {"send": [], "verify": [], "sms": [], "pair": []}
        tokens = await asyncio.gather(*(_login(http, n, timings) for n in range(members)))
        user_ids = []
        for token in tokens:
            answer = await http.get(
                "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
            )
            user_ids.append(answer.json()["data"]["id"])

    url = base.replace("http", "ws", 1) + "/ws?token="
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def open_one(n: int) -> ClientConnection:
        async with gate:
            ws = await connect(url + tokens[n % members], max_queue=None, open_timeout=30)
            assert json.loads(await ws.recv())["event"] == "ready"
            return ws

    started = time.perf_counter()
    sockets = await asyncio.gather(*(open_one(n) for n in range(clients)))
    connect_seconds = time.perf_counter() - started
    state = Clients()
    readers = [asyncio.create_task(state.read(ws)) for ws in sockets]
    redis = Redis.from_url(redis_url)
    results: dict[str, Any] = {}
    try:
        for kind in ("member", "broadcast"):
            state.latencies = []
            for _ in range(rounds):
                state.received = 0
                state.expected = clients
                state.done.clear()
                if kind == "member":
                    for user_id in user_ids:
                        payload = {"id": "bench", "sent_at": time.perf_counter()}
                        await redis.publish(
                            f"polis:user:{user_id}",
                            json.dumps({"event": "notification.new", "data": payload}),
                        )
                else:
                    payload = {"sent_at": time.perf_counter()}
                    await redis.publish(
                        "polis:broadcast",
                        json.dumps({"event": "election.started", "data": payload}),
                    )
                await asyncio.wait_for(state.done.wait(), ROUND_TIMEOUT_SECONDS)
            results[kind] = {
                "clients": clients,
                "members": members,
                "rounds": rounds,
                "receipts": len(state.latencies),
                "p50_ms": percentile_ms(state.latencies, 0.50),
                "p90_ms": percentile_ms(state.latencies, 0.90),
                "p99_ms": percentile_ms(state.latencies, 0.99),
                "max_ms": percentile_ms(state.latencies, 1.0),
                "connect_s": round(connect_seconds, 2),
            }
    finally:
        await redis.aclose()
        for task in readers:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with scratch_polis_dev() as (base, data_dir):
        redis_url = json.loads((data_dir / "servers.json").read_text())["redis_url"]
        results = asyncio.run(_run(base, redis_url, args.clients, args.members, args.rounds))
    show("WebSocket fan-out: event per member channel", results["member"])
    show("WebSocket fan-out: broadcast", results["broadcast"])
    record("ws_fanout", **results)


if __name__ == "__main__":
    main()
