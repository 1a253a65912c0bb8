"""The shared base of the elections domain (DESIGN.md §3.3 who elects whom, §3.4 lifecycle and
ballots): status and periods, locked reads, the ballot-box lock, the electorate and who may
stand, telling the electorate, and the proof-tree cache. The workflows build on it: casting,
tally, lifecycle, service (creation, cancellation, candidacies) and queries.

Flush only; the caller commits. docs/elections.md explains every rule chosen here.

Locks, and why a vote is never lost from a frozen tally: a vote first takes the election's
advisory lock in shared mode (``pg_advisory_xact_lock_shared``), then reads the election and
checks the status by the clock. Finalisation and cancellation take the same advisory lock in
exclusive mode (then the row lock): they wait for every vote in flight to commit, and every
later vote, reading the election after the lock, sees it finalised or cancelled. Shared
advisory locks never conflict with each other and live in the lock manager, not on the row:
votes do not touch the election's row at all. That is also why the ballot and participation
tables carry no foreign key to the election or the candidate (the checks are made here, in the
same transaction): a foreign-key check locks the referenced row ``FOR KEY SHARE``, and on one
row shared by every concurrent voter each new locker writes a new MultiXact onto the row. No
per-candidate counter exists either: the tally counts ballots at the end.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.transitions import Tell
from polis.config import get_settings
from polis.elections import ledger
from polis.elections.models import (
    LEVEL_OF_SCOPE,
    Ballot,
    Candidate,
    Election,
    ElectionScope,
    ElectionStatus,
)
from polis.kit import clock, merkle
from polis.kit.errors import ServiceUnavailable
from polis.kit.events import publish_event
from polis.notifications.models import NotificationType
from polis.notifications.service import notify_each
from polis.realtime.schemas import user_channel
from polis.units import service as units
from polis.units.models import Unit
from polis.users.models import MemberStatus, User, UserRole

STARTED_EVENT = "election.started"
NO_ELECTION = "No such election."


@dataclass(frozen=True)
class Periods:
    nomination: timedelta
    voting: timedelta


def periods() -> Periods:
    """The nomination and voting periods of elections the system schedules (settings)."""
    settings = get_settings()
    return Periods(
        nomination=timedelta(seconds=settings.election_nomination_seconds),
        voting=timedelta(seconds=settings.election_voting_seconds),
    )


def status_of(election: Election) -> ElectionStatus:
    """The election's status now, by the clock seam."""
    return election.status_at(clock.now())


def status_condition(status: ElectionStatus, now: datetime) -> Any:
    live = Election.cancelled_at.is_(None)
    if status is ElectionStatus.CANCELLED:
        return Election.cancelled_at.is_not(None)
    if status is ElectionStatus.SCHEDULED:
        return and_(live, Election.starts_at > now)
    if status is ElectionStatus.ACTIVE:
        return and_(live, Election.starts_at <= now, Election.ends_at > now)
    return and_(live, Election.ends_at <= now)


async def locked(
    session: AsyncSession, election_id: uuid.UUID, *, share: bool = False
) -> Election | None:
    statement = select(Election).where(Election.id == election_id)
    # FOR KEY SHARE (candidacies) never blocks another; FOR UPDATE (finalise, cancel) waits
    # for them.
    statement = (
        statement.with_for_update(read=True, key_share=True)
        if share
        else statement.with_for_update()
    )
    return await session.scalar(statement.execution_options(populate_existing=True))


# First key of the two-key advisory lock of an election's ballot box (units growth uses 7402).
BALLOT_BOX_LOCK = 7_403


async def close_ballot_box(session: AsyncSession, election_id: uuid.UUID) -> None:
    """Wait for every vote in flight on ``election_id``, and hold later ones off until this
    transaction ends (exclusive advisory lock)."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:election))"),
        {"namespace": BALLOT_BOX_LOCK, "election": str(election_id)},
    )


# A vote's first statement: the shared advisory lock, and the election's scope. The lock must
# come before the election's state is read, in a statement of its own: a statement's snapshot
# is taken when it starts, before any wait inside it. The scope never changes once the
# election exists, so reading it under the older snapshot is safe.
OPEN_BALLOT_BOX = text(
    """
    SELECT pg_advisory_xact_lock_shared(:namespace, hashtext(:election)) IS NOT NULL,
           scope_type, scope_id
    FROM elections WHERE id = :election_id
    """
)


def electorate(election: Election) -> Select[uuid.UUID]:
    """The ids of everyone who may vote in ``election`` (§3.3 who elects whom)."""
    return _electorate_of(election.scope_type, election.scope_id)


def unit_of(scope_type: ElectionScope, scope_id: uuid.UUID | None) -> uuid.UUID | None:
    """The unit whose leader the election chooses; None for the national list."""
    return None if scope_type is ElectionScope.NATIONAL else scope_id


def _electorate_of(scope_type: ElectionScope, scope_id: uuid.UUID | None) -> Select[uuid.UUID]:
    unit_id = unit_of(scope_type, scope_id)
    if unit_id is None:
        # Every GeDer, diaspora included.
        return select(User.id).where(
            User.role == UserRole.GEDER,
            User.onboarded_at.is_not(None),
            User.deleted_at.is_(None),
        )
    return units.leader_pool(unit_id, LEVEL_OF_SCOPE[scope_type])


def _is_national_voter(role: UserRole, onboarded_at: datetime | None) -> bool:
    """The national electorate (``electorate``) asked of one member who is not deleted."""
    return role is UserRole.GEDER and onboarded_at is not None


async def count_electorate(session: AsyncSession, election: Election) -> int:
    """How many may vote in ``election`` now."""
    pool = electorate(election).subquery()
    return int(await session.scalar(select(func.count()).select_from(pool)) or 0)


async def electorate_ids(session: AsyncSession, election: Election) -> list[uuid.UUID]:
    return list((await session.scalars(electorate(election))).all())


async def may_vote(session: AsyncSession, election: Election, user: User) -> bool:
    """Whether ``user`` belongs to the election's electorate."""
    unit_id = unit_of(election.scope_type, election.scope_id)
    if unit_id is None:
        return not user.is_deleted and _is_national_voter(user.role, user.onboarded_at)
    return await in_unit_electorate(session, election.scope_type, unit_id, user.id)


async def in_unit_electorate(
    session: AsyncSession, scope_type: ElectionScope, scope_id: uuid.UUID, user_id: uuid.UUID
) -> bool:
    pool = _electorate_of(scope_type, scope_id).subquery()
    found = await session.scalar(select(pool.c[0]).where(pool.c[0] == user_id).limit(1))
    return found is not None


async def may_stand(session: AsyncSession, election: Election, user: User) -> bool:
    """Whether ``user`` may stand: an active, verified member, and for a leader seat one the
    units domain says may lead that unit."""
    if not user.is_verified or user.status is not MemberStatus.ACTIVE or user.is_deleted:
        return False
    unit_id = unit_of(election.scope_type, election.scope_id)
    if unit_id is None:
        return True
    unit = await session.get(Unit, unit_id)
    return unit is not None and await units.is_eligible_leader(session, unit, user.id)


async def candidates_of(
    session: AsyncSession, election_id: uuid.UUID
) -> list[tuple[Candidate, User]]:
    """The election's candidates with their members, in the order they registered."""
    rows = await session.execute(
        select(Candidate, User)
        .join(User, User.id == Candidate.user_id)
        .where(Candidate.election_id == election_id)
        .order_by(Candidate.registered_at, Candidate.id)
    )
    return [(candidate, user) for candidate, user in rows]


async def tell_electorate(
    session: AsyncSession, election: Election, kind: NotificationType
) -> list[Tell]:
    """The news of ``kind`` for a unit election's electorate (at most ten people), as
    ``transition`` takes it. The national list's electorate is every GeDer: its news goes out
    through other channels, not row by row, so it gets none here."""
    if election.scope_id is None:
        return []
    return [
        Tell(
            kind,
            await electorate_ids(session, election),
            f"{kind.value}:{election.id}",
            {"election_title": election.title, "election_id": election.id},
        )
    ]


async def notify_electorate(
    session: AsyncSession, election: Election, kind: NotificationType
) -> None:
    """Tell a unit election's electorate (``tell_electorate``) now."""
    for each in await tell_electorate(session, election, kind):
        await notify_each(
            session, each.user_ids, each.type, each.params, dedupe_key=each.dedupe_key
        )


async def announce_start(session: AsyncSession, election: Election) -> None:
    """``election.started`` on each voter's real-time channel (unit elections: national ones
    would be a broadcast to every GeDer, which belongs to a broadcast channel, not here)."""
    if election.scope_id is None:
        return
    payload = {
        "election_id": str(election.id),
        "title": election.title,
        "election_type": election.election_type.value,
        "starts_at": election.starts_at.isoformat(),
        "ends_at": election.ends_at.isoformat(),
    }
    for voter_id in await electorate_ids(session, election):
        publish_event(session, user_channel(voter_id), STARTED_EVENT, payload)


async def ballots_of(session: AsyncSession, election_id: uuid.UUID) -> list[ledger.Ballot]:
    rows = await session.execute(
        select(Ballot.vote_hash, Ballot.candidate_id)
        .where(Ballot.election_id == election_id)
        .order_by(Ballot.vote_hash)
    )
    return [(vote_hash, candidate_id) for vote_hash, candidate_id in rows]


@dataclass(frozen=True)
class _ProofTree:
    """A finalised election's Merkle tree, every level kept, for answering proofs."""

    merkle_root: str
    leaf_index: dict[str, int]
    candidates: list[uuid.UUID]
    levels: list[list[bytes]]

    def receipt(self, vote_hash: str) -> ledger.Receipt | None:
        index = self.leaf_index.get(vote_hash)
        if index is None:
            return None
        # RFC 6962 §2.1.1 on this level layout (``polis.kit.merkle``): a lone right-most node
        # moves up unchanged, so it has no sibling at that level.
        path: list[str] = []
        position = index
        for level in self.levels[:-1]:
            sibling = position ^ 1
            if sibling < len(level):
                path.append(level[sibling].hex())
            position //= 2
        return ledger.Receipt(
            candidate_id=self.candidates[index],
            leaf_index=index,
            tree_size=len(self.candidates),
            audit_path=path,
            merkle_root=self.merkle_root,
        )


def _build_tree(ballots: list[ledger.Ballot]) -> _ProofTree:
    ordered = sorted(ballots, key=lambda ballot: ballot[0])
    level = [merkle.leaf_hash(ledger.entry(*ballot)) for ballot in ordered]
    levels = [level]
    while len(level) > 1:
        paired = [merkle.node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
        levels.append(level)
    return _ProofTree(
        merkle_root=levels[-1][0].hex() if ordered else ledger.merkle_root([]),
        leaf_index={vote_hash: n for n, (vote_hash, _) in enumerate(ordered)},
        candidates=[candidate_id for _, candidate_id in ordered],
        levels=levels,
    )


# Proof trees of the last few finalised elections, per process. Building one reads every ballot
# and hashes the whole tree; a national election's voters each ask for their proof, so the tree
# is built once rather than once per voter. Keyed by the frozen root too: a tree is never stale.
_TREES: OrderedDict[tuple[uuid.UUID, str], _ProofTree] = OrderedDict()


_TREES_KEPT = 4


async def proof_tree(session: AsyncSession, election: Election) -> _ProofTree:
    assert election.merkle_root is not None
    key = (election.id, election.merkle_root)
    tree = _TREES.get(key)
    if tree is None:
        tree = _build_tree(await ballots_of(session, election.id))
        if tree.merkle_root != election.merkle_root:  # pragma: no cover - a corrupted store
            raise ServiceUnavailable("The ballots do not match the frozen Merkle root.")
        _TREES[key] = tree
        while len(_TREES) > _TREES_KEPT:
            _TREES.popitem(last=False)
    _TREES.move_to_end(key)
    return tree
