"""Arbitration through HTTP: filing, assignment, the status machine, appeals, visibility."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.arbitration import service
from polis.arbitration.models import ArbitrationCase, ArbitrationDecision, CaseStatus
from polis.config import Settings
from polis.kit import clock
from polis.notifications.models import NotificationType
from polis.units.models import LeadershipTerm, UnitLevel
from polis.users.models import User, UserRole
from tests.arbitration.helpers import (
    CASES,
    arb_client,
    audited,
    auth,
    case_body,
    make_admin,
    notified,
    tree,
)
from tests.units.factories import bulk_users


async def _count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(ArbitrationCase)) or 0)


async def _case(session: AsyncSession, case_id: str) -> ArbitrationCase:
    return await session.get_one(ArbitrationCase, uuid.UUID(case_id), populate_existing=True)


# --- filing -------------------------------------------------------------------------------


async def test_filing_goes_to_the_ormotsdaatistavi_of_both_parties(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    plaintiff, defendant = t.members[1][3], t.members[2][4]
    clock.freeze()
    async with arb_client(settings, db_session) as http:
        answer = await http.post(
            CASES, json=case_body(defendant), headers=auth(settings, plaintiff)
        )

    assert answer.status_code == 201, answer.text
    data = answer.json()["data"]
    assert re.fullmatch(rf"ARB-{clock.now().year}-\d{{6}}", data["number"])
    assert data["status"] == "assigned"
    assert data["arbitrator"]["id"] == str(t.ormo_leader(0))
    assert (data["level"], data["unit_id"]) == ("ormotsdaateuli", str(t.ormo[0].id))
    stored = await _case(db_session, data["id"])
    assert (stored.status, stored.arbitrator_id) == (CaseStatus.ASSIGNED, t.ormo_leader(0))
    for party in (plaintiff, defendant):
        assert await notified(db_session, party, NotificationType.ARBITRATION_CASE_FILED) == 1
        assert await notified(db_session, party, NotificationType.ARBITRATION_CASE_ASSIGNED) == 1
    to_arbitrate = NotificationType.ARBITRATION_CASE_TO_ARBITRATE
    assert await notified(db_session, t.ormo_leader(0), to_arbitrate) == 1
    assert await audited(db_session, data["id"], "arbitration.case.filed") == 1


async def test_filing_refusals(db_session: AsyncSession, settings: Settings) -> None:
    t = await tree(db_session, ateulis=5)
    plaintiff = t.members[1][3]
    deleted = await db_session.get_one(User, t.members[2][5])
    deleted.mark_deleted()
    # A verified member of another district, in no ateuli: arbitration is locked for them.
    (loner,) = await bulk_users(db_session, t.district_id, 1)
    unverified = await db_session.get_one(User, t.members[3][6])
    unverified.role = UserRole.UNVERIFIED
    await db_session.flush()
    before = await _count(db_session)
    me = auth(settings, plaintiff)
    async with arb_client(settings, db_session) as http:
        self_case = await http.post(CASES, json=case_body(plaintiff), headers=me)
        unknown = await http.post(CASES, json=case_body(uuid.uuid4()), headers=me)
        gone = await http.post(CASES, json=case_body(deleted.id), headers=me)
        locked = await http.post(CASES, json=case_body(plaintiff), headers=auth(settings, loner))
        not_verified = await http.post(
            CASES, json=case_body(plaintiff), headers=auth(settings, unverified.id)
        )
        stray = await http.post(
            CASES, json=case_body(t.members[2][1], supporter_id=str(loner)), headers=me
        )
        fraud_missing = await http.post(
            CASES, json=case_body(t.members[2][1], type="endorsement_fraud"), headers=me
        )
        fraud_unknown = await http.post(
            CASES,
            json=case_body(t.members[2][1], type="endorsement_fraud", supporter_id=str(loner)),
            headers=me,
        )
        bad_type = await http.post(CASES, json=case_body(t.members[2][1], type="feud"), headers=me)

    def code(answer: object) -> tuple[int, int]:
        body = answer.json()  # type: ignore[attr-defined]
        assert body["success"] is False
        return answer.status_code, body["error"]["code"]  # type: ignore[attr-defined]

    assert code(self_case) == (422, 3021)
    assert code(unknown) == (404, 4001)
    assert code(gone) == (404, 4001)
    assert code(locked) == (403, 3020)
    assert code(not_verified) == (403, 1005)
    assert code(stray) == (422, 2002)
    assert code(fraud_missing) == (422, 2001)
    # The defendant endorsed nobody of that name (or endorsements have not landed): 3022.
    assert code(fraud_unknown) == (422, 3022)
    assert code(bad_type) == (422, 2002)
    assert await _count(db_session) == before


async def test_an_unled_ormotsdaateuli_keeps_arbitration_locked(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    term = await db_session.scalar(
        select(LeadershipTerm).where(
            LeadershipTerm.unit_id == t.ormo[0].id,
            LeadershipTerm.ended_at.is_(None),
        )
    )
    assert term is not None
    term.ended_at = clock.now()
    await db_session.flush()
    async with arb_client(settings, db_session) as http:
        answer = await http.post(
            CASES, json=case_body(t.members[2][1]), headers=auth(settings, t.members[1][2])
        )
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, 3020)
    assert await _count(db_session) == 0


# --- assignment ---------------------------------------------------------------------------


async def test_a_party_never_arbitrates_the_case_goes_up(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session)
    # The ormotsdaatistavi is the defendant: the aseuli's leader takes the case.
    async with arb_client(settings, db_session) as http:
        answer = await http.post(
            CASES, json=case_body(t.ormo_leader(0)), headers=auth(settings, t.members[2][3])
        )
    data = answer.json()["data"]
    assert answer.status_code == 201
    assert (data["arbitrator"]["id"], data["level"]) == (str(t.aseuli_leader), "aseuli")


async def test_parties_in_two_ormotsdaateulis_go_to_their_common_aseuli(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session)
    async with arb_client(settings, db_session) as http:
        answer = await http.post(
            CASES, json=case_body(t.members[7][2]), headers=auth(settings, t.members[2][3])
        )
    assert answer.json()["data"]["arbitrator"]["id"] == str(t.aseuli_leader)


async def test_an_election_challenge_starts_at_the_aseuli(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session)
    async with arb_client(settings, db_session) as http:
        answer = await http.post(
            CASES,
            json=case_body(t.members[2][2], type="election_challenge"),
            headers=auth(settings, t.members[2][3]),
        )
    data = answer.json()["data"]
    assert (data["arbitrator"]["id"], data["level"], data["min_level"]) == (
        str(t.aseuli_leader),
        "aseuli",
        "aseuli",
    )


async def test_admin_fallback_then_pending_when_no_admin(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    (outsider,) = await bulk_users(db_session, t.district_id, 1)
    assert not (await db_session.scalars(select(User.id).where(User.is_admin))).all()
    me = auth(settings, t.members[1][3])
    async with arb_client(settings, db_session) as http:
        # No unit holds both parties and there is no admin: pending, for the sweep.
        pending = await http.post(CASES, json=case_body(outsider), headers=me)
        admin = await make_admin(db_session, t.members[4][7])
        fallback = await http.post(CASES, json=case_body(outsider), headers=me)
    waiting = pending.json()["data"]
    assert (waiting["status"], waiting["arbitrator"]) == ("pending", None)
    data = fallback.json()["data"]
    assert (data["status"], data["arbitrator"]["id"], data["level"]) == (
        "assigned",
        str(admin.id),
        None,
    )
    # The sweep gives the waiting case to the admin who now exists, and tells them.
    assert await service.assign_waiting(db_session) == 1
    stored = await _case(db_session, waiting["id"])
    assert (stored.status, stored.arbitrator_id) == (CaseStatus.ASSIGNED, admin.id)
    to_arbitrate = NotificationType.ARBITRATION_CASE_TO_ARBITRATE
    assert await notified(db_session, admin.id, to_arbitrate) == 2


async def test_unassigned_cases_are_announced_to_admins(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    # The only admin is the defendant: nobody may take it; the admin still hears of it.
    admin = await make_admin(db_session, t.members[4][7])
    (outsider,) = await bulk_users(db_session, t.district_id, 1)
    async with arb_client(settings, db_session) as http:
        answer = await http.post(CASES, json=case_body(admin.id), headers=auth(settings, outsider))
    # The outsider is in no ateuli: locked. File as a member instead.
    assert answer.json()["error"]["code"] == 3020
    async with arb_client(settings, db_session) as http:
        answer = await http.post(CASES, json=case_body(outsider), headers=auth(settings, admin.id))
    assert answer.json()["data"]["status"] == "pending"
    unassigned = NotificationType.ARBITRATION_CASE_UNASSIGNED
    assert await notified(db_session, admin.id, unassigned) == 1


# --- the status machine -------------------------------------------------------------------


async def test_start_resolve_appeal_resolve(db_session: AsyncSession, settings: Settings) -> None:
    t = await tree(db_session)
    plaintiff, defendant = t.members[1][3], t.members[2][4]
    ormo, aseuli = t.ormo_leader(0), t.aseuli_leader
    clock.freeze()
    async with arb_client(settings, db_session) as http:
        case_id = (
            await http.post(CASES, json=case_body(defendant), headers=auth(settings, plaintiff))
        ).json()["data"]["id"]
        url = f"{CASES}/{case_id}"
        by_party = await http.post(f"{url}/start", headers=auth(settings, plaintiff))
        early = await http.post(
            f"{url}/resolve", json={"resolution": "x"}, headers=auth(settings, ormo)
        )
        started = await http.post(f"{url}/start", headers=auth(settings, ormo))
        again = await http.post(f"{url}/start", headers=auth(settings, ormo))
        flagged = await http.post(
            f"{url}/resolve",
            json={"resolution": "Share them.", "fraud_confirmed": True},
            headers=auth(settings, ormo),
        )
        early_appeal = await http.post(
            f"{url}/appeal", json={"reason": "No"}, headers=auth(settings, defendant)
        )
        resolved = await http.post(
            f"{url}/resolve", json={"resolution": "Share them."}, headers=auth(settings, ormo)
        )
        by_arbitrator = await http.post(
            f"{url}/appeal", json={"reason": "No"}, headers=auth(settings, ormo)
        )
        clock.advance(timedelta(days=6, hours=23))
        appealed = await http.post(
            f"{url}/appeal",
            json={"reason": "The records are mine."},
            headers=auth(settings, defendant),
        )
        old_arbitrator = await http.post(f"{url}/start", headers=auth(settings, ormo))
        restarted = await http.post(f"{url}/start", headers=auth(settings, aseuli))
        final = await http.post(
            f"{url}/resolve", json={"resolution": "Share a copy."}, headers=auth(settings, aseuli)
        )
        seen = await http.get(url, headers=auth(settings, plaintiff))

    assert (by_party.status_code, by_party.json()["error"]["code"]) == (403, 1004)
    assert (early.status_code, early.json()["error"]["code"]) == (409, 3024)
    assert started.json()["data"]["status"] == "in_progress"
    assert (again.status_code, again.json()["error"]["code"]) == (409, 3024)
    assert (flagged.status_code, flagged.json()["error"]["code"]) == (422, 2002)
    assert (early_appeal.status_code, early_appeal.json()["error"]["code"]) == (409, 3024)
    assert resolved.json()["data"]["status"] == "resolved"
    assert resolved.json()["data"]["appealable"] is True
    assert (by_arbitrator.status_code, by_arbitrator.json()["error"]["code"]) == (403, 1004)
    data = appealed.json()["data"]
    assert (data["status"], data["arbitrator"]["id"], data["level"], data["min_level"]) == (
        "appealed",
        str(aseuli),
        "aseuli",
        "aseuli",
    )
    assert data["resolution"] is None
    assert (old_arbitrator.status_code, old_arbitrator.json()["error"]["code"]) == (403, 1004)
    assert restarted.json()["data"]["status"] == "in_progress"
    assert final.json()["data"]["status"] == "resolved"
    decisions = seen.json()["data"]["decisions"]
    assert [(d["round"], d["level"], d["arbitrator"]["id"]) for d in decisions] == [
        (1, "ormotsdaateuli", str(ormo)),
        (2, "aseuli", str(aseuli)),
    ]
    assert decisions[0]["appeal_reason"] == "The records are mine."
    assert decisions[0]["appealed_by_id"] == str(defendant)
    assert decisions[1]["appealed_at"] is None
    rows = (
        await db_session.scalars(
            select(ArbitrationDecision).where(ArbitrationDecision.case_id == uuid.UUID(case_id))
        )
    ).all()
    assert len(rows) == 2
    for action in ("filed", "started", "resolved", "appealed"):
        assert await audited(db_session, case_id, f"arbitration.case.{action}") >= 1
    resolved_kind = NotificationType.ARBITRATION_CASE_RESOLVED
    for person in (plaintiff, defendant):
        assert await notified(db_session, person, resolved_kind) == 2
        assert await notified(db_session, person, NotificationType.ARBITRATION_CASE_APPEALED) == 1
    assert await notified(db_session, ormo, NotificationType.ARBITRATION_CASE_APPEALED) == 1


async def test_appeal_window_and_final_decisions(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    plaintiff, defendant, ormo = t.members[1][3], t.members[2][4], t.ormo_leader(0)
    clock.freeze()
    async with arb_client(settings, db_session) as http:
        ids = []
        for _ in range(2):
            answer = await http.post(
                CASES, json=case_body(defendant), headers=auth(settings, plaintiff)
            )
            ids.append(answer.json()["data"]["id"])
            await http.post(f"{CASES}/{ids[-1]}/start", headers=auth(settings, ormo))
            await http.post(
                f"{CASES}/{ids[-1]}/resolve",
                json={"resolution": "ok"},
                headers=auth(settings, ormo),
            )
        clock.advance(timedelta(days=7, seconds=1))
        late = await http.post(
            f"{CASES}/{ids[0]}/appeal", json={"reason": "late"}, headers=auth(settings, plaintiff)
        )
        # No aseuli above: the appeal of the second finds no leader and falls to an admin,
        # whose decision is final.
        clock.advance(timedelta(days=-1))
        admin = await make_admin(db_session, t.members[4][7])
        up = await http.post(
            f"{CASES}/{ids[1]}/appeal", json={"reason": "up"}, headers=auth(settings, plaintiff)
        )
        await http.post(f"{CASES}/{ids[1]}/start", headers=auth(settings, admin.id))
        await http.post(
            f"{CASES}/{ids[1]}/resolve", json={"resolution": "no"}, headers=auth(settings, admin.id)
        )
        final = await http.post(
            f"{CASES}/{ids[1]}/appeal", json={"reason": "again"}, headers=auth(settings, plaintiff)
        )
    assert (late.status_code, late.json()["error"]["code"]) == (409, 3025)
    assert (await _case(db_session, ids[0])).status is CaseStatus.RESOLVED
    assert up.json()["data"]["arbitrator"]["id"] == str(admin.id)
    assert (final.status_code, final.json()["error"]["code"]) == (409, 3026)
    stored = await _case(db_session, ids[1])
    assert (stored.status, stored.appeal_count) == (CaseStatus.RESOLVED, 1)


async def test_an_ataseuli_decision_is_final(db_session: AsyncSession, settings: Settings) -> None:
    # Building an ataseuli takes a hundred ateulis; the rule reads only the case's level.
    t = await tree(db_session, ateulis=5)
    async with arb_client(settings, db_session) as http:
        case_id = (
            await http.post(
                CASES, json=case_body(t.members[2][4]), headers=auth(settings, t.members[1][3])
            )
        ).json()["data"]["id"]
        stored = await _case(db_session, case_id)
        stored.status, stored.level, stored.resolved_at = (
            CaseStatus.RESOLVED,
            UnitLevel.ATASEULI,
            clock.now(),
        )
        await db_session.flush()
        answer = await http.post(
            f"{CASES}/{case_id}/appeal",
            json={"reason": "x"},
            headers=auth(settings, t.members[1][3]),
        )
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, 3026)


# --- reassignment -------------------------------------------------------------------------


async def test_reassignment_rules(db_session: AsyncSession, settings: Settings) -> None:
    t = await tree(db_session)
    plaintiff, defendant = t.members[1][3], t.members[2][4]
    admin = await make_admin(db_session, t.members[8][8])
    async with arb_client(settings, db_session) as http:
        case_id = (
            await http.post(CASES, json=case_body(defendant), headers=auth(settings, plaintiff))
        ).json()["data"]["id"]
        url = f"{CASES}/{case_id}/assign"
        # The other ormotsdaatistavi is not above the arbitrator, and cannot see the case.
        peer = await http.post(
            url,
            json={"arbitrator_id": str(t.ormo_leader(1))},
            headers=auth(settings, t.ormo_leader(1)),
        )
        # A party is never eligible; nor is a plain member.
        to_party = await http.post(
            url, json={"arbitrator_id": str(defendant)}, headers=auth(settings, admin.id)
        )
        to_member = await http.post(
            url, json={"arbitrator_id": str(t.members[3][3])}, headers=auth(settings, admin.id)
        )
        to_nobody = await http.post(
            url, json={"arbitrator_id": str(uuid.uuid4())}, headers=auth(settings, admin.id)
        )
        # The aseuli's leader is above the ormotsdaatistavi: may take the case.
        by_higher = await http.post(
            url,
            json={"arbitrator_id": str(t.aseuli_leader)},
            headers=auth(settings, t.aseuli_leader),
        )
        by_admin = await http.post(
            url, json={"arbitrator_id": str(admin.id)}, headers=auth(settings, admin.id)
        )
        await http.post(f"{CASES}/{case_id}/start", headers=auth(settings, admin.id))
        await http.post(
            f"{CASES}/{case_id}/resolve", json={"resolution": "x"}, headers=auth(settings, admin.id)
        )
        too_late = await http.post(
            url, json={"arbitrator_id": str(t.aseuli_leader)}, headers=auth(settings, admin.id)
        )
    assert (peer.status_code, peer.json()["error"]["code"]) == (404, 4001)
    assert (to_party.status_code, to_party.json()["error"]["code"]) == (422, 3023)
    assert (to_member.status_code, to_member.json()["error"]["code"]) == (422, 3023)
    assert (to_nobody.status_code, to_nobody.json()["error"]["code"]) == (404, 4001)
    assert by_higher.json()["data"]["arbitrator"]["id"] == str(t.aseuli_leader)
    assert by_higher.json()["data"]["level"] == "aseuli"
    assert by_admin.json()["data"]["arbitrator"]["id"] == str(admin.id)
    assert (too_late.status_code, too_late.json()["error"]["code"]) == (409, 3024)
    assert await audited(db_session, case_id, "arbitration.case.assigned") == 2
    stored = await _case(db_session, case_id)
    assert (stored.arbitrator_id, stored.level) == (admin.id, None)
    # The ormotsdaatistavi lost the case and was told.
    kind = NotificationType.ARBITRATION_CASE_ASSIGNED
    assert await notified(db_session, t.ormo_leader(0), kind) == 1


async def test_a_leader_at_the_same_level_may_not_reassign(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session)
    async with arb_client(settings, db_session) as http:
        case_id = (
            await http.post(
                CASES, json=case_body(t.members[2][4]), headers=auth(settings, t.members[1][3])
            )
        ).json()["data"]["id"]
        # The arbitrator sees the case but is not above themselves.
        answer = await http.post(
            f"{CASES}/{case_id}/assign",
            json={"arbitrator_id": str(t.aseuli_leader)},
            headers=auth(settings, t.ormo_leader(0)),
        )
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, 1004)
    assert (await _case(db_session, case_id)).arbitrator_id == t.ormo_leader(0)


# --- visibility ---------------------------------------------------------------------------


async def test_who_sees_which_cases(db_session: AsyncSession, settings: Settings) -> None:
    t = await tree(db_session)
    plaintiff, defendant = t.members[1][3], t.members[2][4]
    admin = await make_admin(db_session, t.members[8][8])
    async with arb_client(settings, db_session) as http:
        case_id = (
            await http.post(CASES, json=case_body(defendant), headers=auth(settings, plaintiff))
        ).json()["data"]["id"]

        async def ids(path: str, user_id: uuid.UUID) -> set[str]:
            answer = await http.get(path, headers=auth(settings, user_id))
            assert answer.status_code == 200
            return {case["id"] for case in answer.json()["data"]}

        # The atistavi of the plaintiff's ateuli leads a unit holding a party.
        atistavi = t.members[1][0]
        outsider = t.members[7][3]
        assert case_id in await ids(CASES, plaintiff)
        assert case_id in await ids(CASES, atistavi)
        assert case_id in await ids(CASES, admin.id)
        assert case_id not in await ids(CASES, outsider)
        # The other ormotsdaatistavi leads no unit holding either party.
        assert case_id not in await ids(CASES, t.ormo_leader(1))
        assert case_id in await ids("/api/v1/arbitration/my-cases", defendant)
        assert case_id not in await ids("/api/v1/arbitration/my-cases", t.ormo_leader(0))
        assert case_id in await ids("/api/v1/arbitration/assigned-to-me", t.ormo_leader(0))
        assert case_id not in await ids("/api/v1/arbitration/assigned-to-me", plaintiff)
        hidden = await http.get(f"{CASES}/{case_id}", headers=auth(settings, outsider))
        shown = await http.get(f"{CASES}/{case_id}", headers=auth(settings, atistavi))
        anonymous = await http.get(f"{CASES}/{case_id}")
    assert (hidden.status_code, hidden.json()["error"]["code"]) == (404, 4001)
    assert shown.json()["data"]["id"] == case_id
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (401, 1003)
