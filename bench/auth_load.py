"""The login pair (send code + verify) and `GET /api/v1/users/me` under load.

    .venv/bin/python -m bench.auth_load [--logins 200] [--concurrency 16] [--seconds 10]

Starts `polis dev` in a scratch folder with rate limits off (each login uses its own number,
but one address sends them all). Phase 1 logs in ``--logins`` new members, ``--concurrency`` at
a time: send a code, read it from the development SMS outbox (the worker delivers it), verify.
Phase 2 loads `GET /users/me` with one member's token (wrk when installed). Load only goes to
127.0.0.1, and the load generator shares the machine's two cores with everything it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import time
from typing import Any

import httpx

from bench.harness import scratch_polis_dev
from bench.health_load import _wrk
from bench.report import percentile_ms, record, show

CODE = re.compile(r"\b(\d{6})\b")


async def _login(http: httpx.AsyncClient, n: int, timings: dict[str, list[float]]) -> str:
    phone = f"+9955557{n:05d}"
    started = time.perf_counter()
    sent = await http.post("/api/v1/auth/send-verification-code", json={"phone_number": phone})
    timings["send"].append(time.perf_counter() - started)
    sent.raise_for_status()
    waiting = time.perf_counter()
    while True:
        outbox = await http.get("/api/v1/dev/sms-outbox", params={"phone_number": phone})
        messages = outbox.json()["data"]
        if messages:
            break
        await asyncio.sleep(0.01)
    timings["sms"].append(time.perf_counter() - waiting)
    match = CODE.search(messages[0]["text"])
    assert match
    verifying = time.perf_counter()
    verified = await http.post(
        "/api/v1/auth/verify-phone",
        json={
            "verification_id": sent.json()["data"]["verification_id"],
            "code": match.group(1),
            "device_fingerprint": {
                "fingerprint_hash": f"bench-device-{n:08d}",
                "device_type": "android",
            },
        },
    )
    timings["verify"].append(time.perf_counter() - verifying)
    verified.raise_for_status()
    timings["pair"].append(timings["send"][-1] + timings["verify"][-1])
    token: str = verified.json()["data"]["access_token"]
    return token


async def _logins(base: str, count: int, concurrency: int) -> tuple[dict[str, Any], str]:
    timings: dict[str, list[float]] = {"send": [], "verify": [], "sms": [], "pair": []}
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency * 2)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:

        async def one(n: int) -> str:
            async with gate:
                return await _login(http, n, timings)

        started = time.monotonic()
        tokens = await asyncio.gather(*(one(n) for n in range(count)))
        elapsed = time.monotonic() - started
    result = {
        "logins": count,
        "concurrency": concurrency,
        "logins_per_s": round(count / elapsed, 1),
        "send_p50_ms": percentile_ms(timings["send"], 0.5),
        "send_p99_ms": percentile_ms(timings["send"], 0.99),
        "verify_p50_ms": percentile_ms(timings["verify"], 0.5),
        "verify_p99_ms": percentile_ms(timings["verify"], 0.99),
        "pair_p50_ms": percentile_ms(timings["pair"], 0.5),
        "pair_p99_ms": percentile_ms(timings["pair"], 0.99),
        "sms_delivery_p50_ms": percentile_ms(timings["sms"], 0.5),
        "mean_pair_ms": round(statistics.fmean(timings["pair"]) * 1000, 2),
    }
    return result, tokens[0]


async def _me_python(base: str, token: str, seconds: float, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=10, headers=headers) as http:

        async def user() -> None:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                (await http.get("/api/v1/users/me")).raise_for_status()
                latencies.append(time.perf_counter() - started)

        started = time.monotonic()
        await asyncio.gather(*(user() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return {
        "requests": len(latencies),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": percentile_ms(latencies, 0.5),
        "p99_ms": percentile_ms(latencies, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--me-concurrency", type=int, default=32)
    args = parser.parse_args()
    with scratch_polis_dev() as (base, _):
        logins, token = asyncio.run(_logins(base, args.logins, args.concurrency))
        if shutil.which("wrk"):
            me = _wrk(base, args.seconds, args.me_concurrency, path="/api/v1/users/me", token=token)
            me["tool"] = "wrk"
        else:
            me = asyncio.run(_me_python(base, token, args.seconds, args.me_concurrency))
            me["tool"] = "python"
        me["concurrency"] = args.me_concurrency
    show("login pair: send-verification-code + verify-phone", logins)
    show("GET /api/v1/users/me", me)
    record("auth_load", logins=logins, users_me=me)


if __name__ == "__main__":
    main()
