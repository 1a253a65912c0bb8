"""The secret ballot: nothing in the schema, the audit log or the logs links a voter to a
choice or to a receipt (DESIGN.md §3.4)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from polis.audit.models import AuditLog
from polis.config import Settings
from polis.kit import clock
from polis.kit.logging import configure_logging
from polis.territories.models import Territory
from tests.conftest import client_for, serve_app
from tests.elections.factories import (
    full_ateuli,
    move_clock,
    register,
    scheduled_election,
    vote,
    voting_time,
)


def _schema(connection: Connection) -> dict[str, Any]:
    inspector = inspect(connection)
    tables: dict[str, Any] = {}
    for table in ("election_ballots", "election_participations"):
        tables[table] = {
            "columns": {c["name"]: str(c["type"]) for c in inspector.get_columns(table)},
            "foreign_keys": {
                (tuple(fk["constrained_columns"]), fk["referred_table"])
                for fk in inspector.get_foreign_keys(table)
            },
            "unique": [tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)],
            "pk": tuple(inspector.get_pk_constraint(table)["constrained_columns"]),
        }
    referring = {
        (name, fk["referred_table"])
        for name in inspector.get_table_names()
        for fk in inspector.get_foreign_keys(name)
        if fk["referred_table"] in ("election_ballots", "election_participations")
    }
    tables["referring"] = referring
    return tables


async def test_the_ballot_table_names_no_voter_and_no_time(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        schema = await connection.run_sync(_schema)
    ballots = schema["election_ballots"]
    assert set(ballots["columns"]) == {"id", "election_id", "candidate_id", "vote_hash"}
    assert not any("TIME" in kind.upper() for kind in ballots["columns"].values())
    # No foreign key at all (hot rows, docs/elections.md): certainly none to users.
    assert ballots["foreign_keys"] == set()
    assert ("vote_hash",) in ballots["unique"]
    participations = schema["election_participations"]
    assert set(participations["columns"]) == {"election_id", "voter_id", "created_at"}
    # One participation per voter and election: the primary key.
    assert participations["pk"] == ("election_id", "voter_id")
    assert participations["foreign_keys"] == {(("voter_id",), "users")}
    # No table points at either half.
    assert schema["referring"] == set()


async def test_a_voting_run_leaves_no_receipt_in_the_logs_or_the_audit_log(
    db_session: AsyncSession,
    settings: Settings,
    district: Territory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock.freeze()
    ateuli = await full_ateuli(db_session, settings, district.id)
    election = await scheduled_election(db_session, ateuli.unit)
    connection = db_session.bind
    assert isinstance(connection, AsyncConnection)
    try:
        async with (
            serve_app(settings, connection=connection, log_level="INFO") as app,
            client_for(app) as http,
        ):
            candidate = await register(http, election.id, ateuli.members[0])
            audit_before = await db_session.scalar(select(func.count()).select_from(AuditLog))
            move_clock(settings, voting_time(election), *ateuli.members)
            capsys.readouterr()
            receipts = [
                await vote(http, election.id, member, candidate) for member in ateuli.members
            ]
            output = capsys.readouterr()
    finally:
        # Logging is process-wide: give the next tests their quieter level back.
        configure_logging(settings.log_level, settings.log_json)
    logged = output.out + output.err
    lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    # The run was logged (one access line per vote), with the route template only.
    votes = [line for line in lines if line.get("event") == "http.request"]
    assert len(votes) == len(ateuli.members)
    assert {line["route"] for line in votes} == {"/api/v1/elections/{election_id}/vote"}
    for vote_hash in receipts:
        assert vote_hash not in logged
    for member in ateuli.members:
        assert str(member.user.id) not in logged
    # No audit entry was written by voting.
    assert await db_session.scalar(select(func.count()).select_from(AuditLog)) == audit_before
    entries = (await db_session.scalars(select(AuditLog))).all()
    dumped = json.dumps([[e.old_values, e.new_values, e.entity_id] for e in entries], default=str)
    assert not any(vote_hash in dumped for vote_hash in receipts)
