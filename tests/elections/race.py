"""Committed data for the concurrency tests: voters in bulk, elections, and the clean-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from polis.audit.models import AuditLog
from polis.auth.models import AuthSession
from polis.auth.tokens import issue_access_token
from polis.config import Settings
from polis.elections.models import (
    Ballot,
    Candidate,
    Election,
    ElectionScope,
    ElectionType,
    Participation,
)
from polis.kit import clock
from polis.notifications.models import Notification
from polis.territories.models import Territory
from polis.units.models import Unit
from polis.users.models import MemberStatus, User, UserRole
from tests.conftest import process_env
from tests.e2e.harness import free_port


@dataclass
class Voter:
    id: uuid.UUID
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Committed:
    """What a concurrency test committed, so it can delete it all afterwards."""

    user_ids: list[uuid.UUID] = field(default_factory=list)
    election_ids: list[uuid.UUID] = field(default_factory=list)
    unit_ids: list[uuid.UUID] = field(default_factory=list)
    territory_ids: list[uuid.UUID] = field(default_factory=list)

    async def clean(self, maker: async_sessionmaker[AsyncSession]) -> None:
        async with maker() as session:
            # A tie in a finalised election opens a runoff the test never saw: it goes too.
            runoffs = await session.scalars(
                select(Election.id).where(Election.runoff_of_id.in_(self.election_ids))
            )
            self.election_ids.extend(runoffs.all())
            ids = [str(i) for i in (*self.election_ids, *self.unit_ids)]
            # Ballots and participations have no foreign key to cascade from their election.
            await session.execute(delete(Ballot).where(Ballot.election_id.in_(self.election_ids)))
            await session.execute(
                delete(Participation).where(Participation.election_id.in_(self.election_ids))
            )
            await session.execute(delete(Election).where(Election.id.in_(self.election_ids)))
            await session.execute(delete(Unit).where(Unit.id.in_(self.unit_ids)))
            await session.execute(
                delete(Notification).where(Notification.user_id.in_(self.user_ids))
            )
            await session.execute(delete(AuditLog).where(AuditLog.entity_id.in_(ids)))
            await session.execute(delete(AuditLog).where(AuditLog.actor_id.in_(self.user_ids)))
            await session.execute(delete(AuthSession).where(AuthSession.user_id.in_(self.user_ids)))
            await session.execute(delete(User).where(User.id.in_(self.user_ids)))
            await session.execute(delete(Territory).where(Territory.id.in_(self.territory_ids)))
            await session.commit()


async def geders(
    session: AsyncSession,
    settings: Settings,
    count: int,
    committed: Committed,
    *,
    territory_id: uuid.UUID | None = None,
    status: MemberStatus = MemberStatus.PASSIVE,
) -> list[Voter]:
    """``count`` onboarded GeDers with access tokens, inserted in one statement."""
    now = clock.now()
    ids = [uuid.uuid4() for _ in range(count)]
    await session.execute(
        insert(User),
        [
            {
                "id": user_id,
                "first_name": "Voter",
                "last_name": str(n),
                "role": UserRole.GEDER,
                "status": status,
                "onboarded_at": now - timedelta(days=30),
                "territory_id": territory_id,
            }
            for n, user_id in enumerate(ids)
        ],
    )
    committed.user_ids.extend(ids)
    return [
        Voter(user_id, issue_access_token(settings, user_id, uuid.uuid4())[0]) for user_id in ids
    ]


async def national_election(
    session: AsyncSession,
    candidates: Sequence[uuid.UUID],
    committed: Committed,
    *,
    starts_at: datetime,
    ends_at: datetime,
) -> tuple[Election, list[uuid.UUID]]:
    """A parliamentary election open now, with ``candidates`` standing."""
    election = Election(
        election_type=ElectionType.PARLIAMENTARY,
        scope_type=ElectionScope.NATIONAL,
        title="Parliamentary list (race)",
        starts_at=starts_at,
        ends_at=ends_at,
        is_automatic=False,
        nominations_extended=False,
        opened_at=starts_at,
    )
    session.add(election)
    await session.flush()
    committed.election_ids.append(election.id)
    rows = [
        Candidate(election_id=election.id, user_id=user_id, registered_at=starts_at)
        for user_id in candidates
    ]
    session.add_all(rows)
    await session.flush()
    return election, [row.id for row in rows]


@contextmanager
def serve(
    settings: Settings, log: Path, **env: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real `polis serve` process on the suite's servers, in its own process group;
    ``env`` adds settings. Yields ``host:port`` and the process; killed and reaped after."""
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "polis", "serve", "--port", str(port)],
            env=process_env(settings, **env),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield f"127.0.0.1:{port}", process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
