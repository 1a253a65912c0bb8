"""GET /gamification/progress and /unlocked-capabilities on built trees."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings
from polis.gamification import queries, service
from polis.territories.models import Territory
from polis.units import service as units_service
from polis.units.models import Unit, UnitLevel, UnitStatus
from polis.users.models import User
from tests.auth.helpers import assert_error
from tests.gamification.helpers import gam_client, headers_for, led_ateulis, parent_of
from tests.units.factories import ateuli_with, bulk_users, verified

PROGRESS = "/api/v1/gamification/progress"
CAPABILITIES = "/api/v1/gamification/unlocked-capabilities"


async def test_progress_without_and_in_a_forming_ateuli(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    me = await verified(db_session, settings, district.id)
    async with gam_client(settings, db_session) as http:
        alone = (await http.get(PROGRESS, headers=me.headers)).json()["data"]
        others = await bulk_users(db_session, district.id, 6)
        await ateuli_with(db_session, district.id, [me.user.id, *others])
        forming = (await http.get(PROGRESS, headers=me.headers)).json()["data"]

    assert alone == {
        "current_level": None,
        "next_level": "ateuli",
        "counts": "members",
        "have": 0,
        "required": 1,
        "needed": 1,
        "percent": 0,
        "leader_needed": False,
        "chain": [],
    }
    assert forming["current_level"] is None and forming["next_level"] == "ateuli"
    assert (forming["have"], forming["required"], forming["needed"]) == (7, 10, 3)
    assert forming["percent"] == 70
    assert [link["status"] for link in forming["chain"]] == ["forming"]


async def test_progress_up_the_chain_counts_led_units_of_the_region(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    # Five led ateulis form an ormotsdaateuli (growth runs at each leader installation).
    tree = await led_ateulis(db_session, district.id, 5)
    my_ateuli, my_ids = tree[0]
    me = headers_for(settings, my_ids[3])
    orm = await parent_of(db_session, my_ateuli)
    assert orm.level is UnitLevel.ORMOTSDAATEULI

    async with gam_client(settings, db_session) as http:
        unled = (await http.get(PROGRESS, headers=me)).json()["data"]
        # The ormotsdaatistavi: an atistavi of one of its ateulis.
        await units_service.install_leader(
            db_session, orm, await db_session.get_one(User, tree[2][1][0])
        )
        led = (await http.get(PROGRESS, headers=me)).json()["data"]

    assert unled["current_level"] == "ormotsdaateuli" and unled["next_level"] == "aseuli"
    assert unled["counts"] == "led_units"
    # Our ormotsdaateuli has no leader: it cannot count yet, and says so.
    assert (unled["have"], unled["required"], unled["needed"], unled["percent"]) == (0, 2, 2, 0)
    assert unled["leader_needed"] is True
    assert [(c["level"], c["led"]) for c in unled["chain"]] == [
        ("ateuli", True),
        ("ormotsdaateuli", False),
    ]
    assert (led["have"], led["needed"], led["percent"], led["leader_needed"]) == (1, 1, 50, False)


async def test_territory_progress_says_what_the_district_needs(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    me = await verified(db_session, settings, district.id)
    tree = await led_ateulis(db_session, district.id, 5)
    orm = await parent_of(db_session, tree[0][0])
    await units_service.install_leader(
        db_session, orm, await db_session.get_one(User, tree[0][1][0])
    )

    async with gam_client(settings, db_session) as http:
        answer = await http.get(
            PROGRESS, params={"territory_id": str(district.id)}, headers=me.headers
        )
        municipality = await http.get(
            PROGRESS, params={"territory_id": str(district.parent_id)}, headers=me.headers
        )

    data = answer.json()["data"]
    # 50 members in ateulis + me = 51 verified members; an aseuli stands for 100.
    assert data["current_level"] == "ormotsdaateuli" and data["next_level"] == "aseuli"
    assert (data["members"], data["members_required"], data["members_needed"]) == (51, 100, 49)
    assert data["units_level"] == "ormotsdaateuli"
    assert (data["units"], data["units_required"], data["units_needed"]) == (1, 2, 1)
    assert data["percent"] == 51
    assert data["message"] == "Vake district needs 49 more members to form an aseuli."
    # The municipality holds the same members and units.
    assert municipality.json()["data"]["members"] == 51
    assert municipality.json()["data"]["current_level"] == "ormotsdaateuli"


async def test_territory_progress_of_an_empty_territory_and_errors(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    me = await verified(db_session, settings, district.id)
    async with gam_client(settings, db_session) as http:
        empty = await http.get(
            PROGRESS, params={"territory_id": str(district.id)}, headers=me.headers
        )
        unknown = await http.get(
            PROGRESS, params={"territory_id": str(uuid.uuid4())}, headers=me.headers
        )
        malformed = await http.get(PROGRESS, params={"territory_id": "x"}, headers=me.headers)
        anonymous = await http.get(PROGRESS)

    data = empty.json()["data"]
    assert (data["current_level"], data["next_level"]) == (None, "ateuli")
    assert (data["members"], data["members_required"], data["members_needed"]) == (1, 10, 9)
    assert (data["units_level"], data["units_required"], data["percent"]) == (None, 0, 10)
    assert_error(unknown, 404, 4001)
    assert_error(malformed, 422, 2002)
    assert_error(anonymous, 401, 1003)


async def test_capabilities_unlock_level_by_level(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    outsider = await verified(db_session, settings, district.id)
    tree = await led_ateulis(db_session, district.id, 10)
    orm_a = await parent_of(db_session, tree[0][0])
    orm_b = await parent_of(db_session, tree[5][0])
    me = headers_for(settings, tree[0][1][4])

    def unlocked(answer: dict[str, object]) -> set[str]:
        caps = answer["capabilities"]
        assert isinstance(caps, list)
        return {c["code"] for c in caps if c["unlocked"]}

    async with gam_client(settings, db_session) as http:
        nothing = (await http.get(CAPABILITIES, headers=outsider.headers)).json()["data"]
        ateuli_only = (await http.get(CAPABILITIES, headers=me)).json()["data"]
        await units_service.install_leader(
            db_session, orm_a, await db_session.get_one(User, tree[0][1][0])
        )
        orm = (await http.get(CAPABILITIES, headers=me)).json()["data"]
        await units_service.install_leader(
            db_session, orm_b, await db_session.get_one(User, tree[5][1][0])
        )
        aseuli = await parent_of(db_session, orm_a)
        assert aseuli.level is UnitLevel.ASEULI
        await units_service.install_leader(
            db_session, aseuli, await db_session.get_one(User, tree[1][1][0])
        )
        full = (await http.get(CAPABILITIES, headers=me)).json()["data"]
        anonymous = await http.get(CAPABILITIES)

    assert nothing["unlocked_level"] is None and unlocked(nothing) == set()
    assert len(nothing["capabilities"]) == 8
    # The ormotsdaateuli exists but has no leader yet: only the ateuli's capabilities.
    assert ateuli_only["unlocked_level"] == "ateuli"
    assert unlocked(ateuli_only) == {"voting", "sos"}
    assert orm["unlocked_level"] == "ormotsdaateuli"
    assert unlocked(orm) == {"voting", "sos", "arbitration"}
    assert full["unlocked_level"] == "aseuli"
    assert unlocked(full) == {
        "voting",
        "sos",
        "arbitration",
        "local_initiatives",
        "tv_time_basic",
    }
    assert_error(anonymous, 401, 1003)


def _link(level: UnitLevel, status: UnitStatus, led: bool) -> queries.ChainLink:
    return queries.ChainLink(Unit(level=level, status=status, name="u"), led)


def test_unlocked_level_rules_for_every_level() -> None:
    top = [
        _link(UnitLevel.ATEULI, UnitStatus.ACTIVE, True),
        _link(UnitLevel.ORMOTSDAATEULI, UnitStatus.ACTIVE, True),
        _link(UnitLevel.ASEULI, UnitStatus.ACTIVE, True),
        _link(UnitLevel.ATASEULI, UnitStatus.ACTIVE, True),
    ]
    assert service.unlocked_level(top) is UnitLevel.ATASEULI
    # An unled ataseuli: its capabilities wait for the atasistavi.
    assert service.unlocked_level([*top[:3], _link(UnitLevel.ATASEULI, UnitStatus.ACTIVE, False)])
    assert (
        service.unlocked_level([*top[:3], _link(UnitLevel.ATASEULI, UnitStatus.ACTIVE, False)])
        is UnitLevel.ASEULI
    )
    # An ateuli that fell back to forming unlocks nothing, whatever is above it.
    assert (
        service.unlocked_level([_link(UnitLevel.ATEULI, UnitStatus.FORMING, True), *top[1:]])
        is None
    )
    # An active ateuli without an atistavi already votes (it must elect one).
    assert service.unlocked_level([_link(UnitLevel.ATEULI, UnitStatus.ACTIVE, False)]) is (
        UnitLevel.ATEULI
    )
    assert service.unlocked_level([]) is None
    # The member-equivalents follow the growth rules: 10, 50, 100, 1000.
    assert list(service.MEMBERS_FOR_LEVEL.values()) == [10, 50, 100, 1000]
