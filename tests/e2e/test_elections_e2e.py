"""An atistavi election from end to end, through HTTP to a real `polis serve` process.

Ten members fill an ateuli; its atistavi election schedules itself at the tenth join;
candidates register; everyone votes; the election completes; the winner leads the ateuli;
`polis verify-election` checks the published ballots; each voter's receipt proof verifies with
``polis.kit.merkle``.

The server process reads the real clock, so the test shortens the election's periods through
settings (``POLIS_ELECTION_NOMINATION_SECONDS``/``POLIS_ELECTION_VOTING_SECONDS``, DESIGN.md
§3: "a test shortens a period through settings") and polls the API until the status the clock
gives changes. Finalisation happens on the first read of the results after the end, as §3.4
allows (the worker is not running here).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from polis.config import Settings
from polis.elections import ledger
from polis.kit import merkle
from polis.kit.db import create_sessionmaker
from polis.territories.models import TerritoryType
from polis.users.models import MemberStatus
from tests.conftest import Member, process_env
from tests.elections.race import Committed, serve
from tests.realtime.test_two_processes import wait_healthy
from tests.units.factories import territory, verified

NOMINATION_SECONDS = 6
VOTING_SECONDS = 6
POLL_SECONDS = 0.25
STATUS_WAIT_SECONDS = 60.0


def _data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url.path}: {response.text}"
    )
    return response.json()["data"]


async def _wait_for_status(
    http: httpx.AsyncClient, election_id: str, status: str, member: Member
) -> None:
    """Poll until the election's clock-derived status is ``status`` (seconds, by settings)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STATUS_WAIT_SECONDS
    while loop.time() < deadline:
        found = _data(await http.get(f"/api/v1/elections/{election_id}", headers=member.headers))
        if found["status"] == status:
            return
        await asyncio.sleep(POLL_SECONDS)  # the server's real clock reaching a shortened period
    raise AssertionError(f"the election never became {status}")


async def test_ten_members_elect_their_atistavi_and_anyone_can_check_the_count(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    maker = create_sessionmaker(engine)
    committed = Committed()
    try:
        async with maker() as session:
            district = await territory(session, TerritoryType.ELECTORAL_DISTRICT)
            committed.territory_ids.append(district.id)
            members = [await verified(session, settings, district.id) for _ in range(10)]
            for member in members[:3]:
                member.user.status = MemberStatus.ACTIVE
            committed.user_ids.extend(m.user.id for m in members)
            await session.commit()

        log = tmp_path / "serve.log"
        periods = {
            "POLIS_ELECTION_NOMINATION_SECONDS": str(NOMINATION_SECONDS),
            "POLIS_ELECTION_VOTING_SECONDS": str(VOTING_SECONDS),
        }
        with serve(settings, log, **periods) as (host, _):
            await wait_healthy(host, log)
            base = f"http://{host}"
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                await _journey(http, members, committed, base, process_env(settings, **periods))
    finally:
        await committed.clean(maker)


async def _journey(
    http: httpx.AsyncClient,
    members: list[Member],
    committed: Committed,
    base: str,
    env: dict[str, str],
) -> None:
    founder = members[0]
    assert founder.user.territory_id is not None
    ateuli = _data(
        await http.post(
            "/api/v1/ateulis",
            json={"name": "Elections street", "territory_id": str(founder.user.territory_id)},
            headers=founder.headers,
        ),
        201,
    )
    committed.unit_ids.append(uuid.UUID(ateuli["id"]))
    for member in members[1:]:
        joined = _data(
            await http.post(f"/api/v1/ateulis/{ateuli['id']}/join", headers=member.headers)
        )
    assert joined["status"] == "active"

    # The tenth join scheduled the atistavi election by itself.
    mine = _data(await http.get("/api/v1/elections/my-elections", headers=members[5].headers))
    assert [e["election_type"] for e in mine] == ["atistavi"]
    election = mine[0]
    election_id = election["id"]
    committed.election_ids.append(uuid.UUID(election_id))
    assert election["status"] == "scheduled" and election["scope_id"] == ateuli["id"]

    candidates = {}
    for member in members[:3]:
        standing = _data(
            await http.post(
                f"/api/v1/elections/{election_id}/register-candidate",
                json={"statement": f"{member.user.first_name} will serve"},
                headers=member.headers,
            ),
            201,
        )
        candidates[member.user.id] = standing["id"]
    await _wait_for_status(http, election_id, "active", founder)

    # Everyone votes: five for the second member, three for the first, two for the third.
    choice = [1, 1, 1, 1, 1, 0, 0, 0, 2, 2]
    receipts: list[tuple[str, str]] = []
    for member, pick in zip(members, choice, strict=True):
        candidate_id = candidates[members[pick].user.id]
        vote = _data(
            await http.post(
                f"/api/v1/elections/{election_id}/vote",
                json={"candidate_id": candidate_id},
                headers=member.headers,
            )
        )["vote"]
        receipts.append((vote["vote_hash"], candidate_id))
    again = await http.post(
        f"/api/v1/elections/{election_id}/vote",
        json={"candidate_id": candidates[members[0].user.id]},
        headers=members[0].headers,
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == 3002

    await _wait_for_status(http, election_id, "completed", founder)
    results = _data(await http.get(f"/api/v1/elections/{election_id}/results"))
    assert results["election"]["total_votes"] == 10
    assert results["election"]["turnout"] == 100.0
    winner = [r for r in results["results"] if r["is_winner"]]
    assert [w["candidate"]["user_id"] for w in winner] == [str(members[1].user.id)]
    assert winner[0]["vote_count"] == 5

    led = _data(await http.get(f"/api/v1/ateulis/{ateuli['id']}", headers=founder.headers))
    assert led["leader"]["id"] == str(members[1].user.id)

    # Anyone can check the count: the CLI recomputes the tally and the root.
    verified_run = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "polis",
            "verify-election",
            f"{base}/api/v1/elections/{election_id}",
            "--receipt",
            receipts[0][0],
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verified_run.returncode == 0, verified_run.stdout + verified_run.stderr
    assert "Verified: 10 ballots" in verified_run.stdout

    # And each voter checks their own receipt against the published root.
    published = _data(await http.get(f"/api/v1/elections/{election_id}/ballots"))
    for vote_hash, candidate_id in receipts:
        proof = _data(await http.get(f"/api/v1/elections/{election_id}/receipts/{vote_hash}"))
        assert proof["candidate_id"] == candidate_id
        assert proof["merkle_root"] == published["merkle_root"] == results["merkle_root"]
        assert merkle.verify_inclusion(
            ledger.entry(vote_hash, uuid.UUID(candidate_id)),
            proof["leaf_index"],
            proof["tree_size"],
            [bytes.fromhex(node) for node in proof["audit_path"]],
            bytes.fromhex(proof["merkle_root"]),
        )
