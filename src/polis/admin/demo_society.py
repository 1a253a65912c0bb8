"""A living demo society for ``polis dev`` and ``polis seed``: members, ateulis, a hierarchy.

Everything goes through the services, so the rules hold exactly as they do for real members:
``users.get_or_create_by_phone`` registers each person (phone encrypted, blind-indexed),
``users.complete_onboarding`` onboards them (GeDers confirmed by the demo GeD ledger,
GED000001…GED000500), ``units.create_ateuli`` / ``units.join_ateuli`` fill the ateulis (the
tenth member turns one active) and ``units.install_leader`` seats atistavis, which runs the
hierarchy growth: five led ateulis in Saburtalo district 1 form an ormotsdaateuli, whose leader
is installed in turn.

Supporters: a supporter is a member a tavdebi has vouched for, and that flow does not exist
yet; the demo onboards them without a GeD number and then gives them the supporter role, the
one step taken outside a service.

The people are made up: Georgian names, personal IDs ``599000000NN``, phone numbers in the
reserved block ``+995 599 000 NNN``. The numbers are printed nowhere (the demo admin's is the
only one ``polis dev`` shows). Idempotent: the society exists when its first phone number is
registered, and then nothing is written.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings
from polis.ged.adapter import DEMO_LEDGER_PATH, LedgerGedDatabase
from polis.territories.models import Territory
from polis.units import service as units
from polis.units.models import Unit, UnitStatus
from polis.users import service as users
from polis.users.models import Language, MemberStatus, User, UserRole

# +995 599 000 001, +995 599 000 002, …: a block no real member is given in development.
PHONE_PREFIX = "+995599000"
FIRST_PHONE = f"{PHONE_PREFIX}001"
PERSONAL_ID_BASE = 59_900_000_000
GED_RANGE = range(1, 501)  # the demo ledger's GED000001 … GED000500

FIRST_NAMES = (
    "Nino",
    "Giorgi",
    "Mariam",
    "Davit",
    "Ana",
    "Luka",
    "Tamar",
    "Irakli",
    "Salome",
    "Levan",
    "Elene",
    "Nika",
    "Natia",
    "Zurab",
    "Ketevan",
    "Lasha",
    "Eka",
    "Beka",
    "Maia",
    "Tornike",
    "Sopho",
    "Vakhtang",
    "Khatia",
    "Sandro",
    "Lika",
    "Otar",
    "Tea",
    "Shota",
    "Manana",
    "Revaz",
)
LAST_NAMES = (
    "Beridze",
    "Kapanadze",
    "Gelashvili",
    "Maisuradze",
    "Giorgadze",
    "Lomidze",
    "Tsiklauri",
    "Bolkvadze",
    "Kvaratskhelia",
    "Nozadze",
    "Abashidze",
    "Chkheidze",
    "Japaridze",
    "Kiknadze",
    "Mikeladze",
    "Khutsishvili",
    "Tabatadze",
    "Gogoladze",
    "Dolidze",
    "Jorbenadze",
    "Chikovani",
    "Shengelia",
    "Janelidze",
    "Tsereteli",
    "Kobakhidze",
    "Natsvlishvili",
    "Mchedlishvili",
    "Javakhishvili",
    "Baratashvili",
    "Gabunia",
    "Meskhi",
)
MOTIVATIONS = (
    "I want my neighbourhood to decide for itself.",
    "Politics should start with ten people who know each other.",
    "I want to hold the people I elect to account.",
    "My district deserves a voice that is heard in Tbilisi.",
)


@dataclass(frozen=True)
class AteuliPlan:
    name: str
    size: int
    # Seat the founder as atistavi (the ateuli must be full, hence active).
    led: bool = False


@dataclass(frozen=True)
class DistrictPlan:
    code: str
    ateulis: tuple[AteuliPlan, ...]
    # Onboarded members of the district who are in no ateuli yet.
    unattached: int = 0
    # Seat a leader in every ormotsdaateuli the district grows.
    lead_ormotsdaateulis: bool = False


PLAN = (
    DistrictPlan(
        "GE-TB-03-D1",  # Saburtalo district 1: five led ateulis grow an ormotsdaateuli
        (
            AteuliPlan("Vazha-Pshavela Neighbours", 10, led=True),
            AteuliPlan("Saburtalo Students", 10, led=True),
            AteuliPlan("Nutsubidze Plateau", 10, led=True),
            AteuliPlan("Delisi Ten", 10, led=True),
            AteuliPlan("Vedzisi Friends", 10, led=True),
            AteuliPlan("Bakhtrioni Street", 6),
        ),
        unattached=2,
        lead_ormotsdaateulis=True,
    ),
    DistrictPlan(
        "GE-IM-01-D1",  # Kutaisi district 1
        (AteuliPlan("Colchis Fountain", 10, led=True), AteuliPlan("Rioni Bank", 4)),
        unattached=2,
    ),
    DistrictPlan(
        "GE-AJ-01-D1",  # Batumi district 1: a full ateuli whose atistavi election is due
        (AteuliPlan("Batumi Boulevard", 10), AteuliPlan("Old Town Batumi", 3)),
    ),
    DistrictPlan("GE-KA-01-D1", (AteuliPlan("Telavi Vineyards", 7),), unattached=3),  # Telavi
    DistrictPlan("GE-TB-02-D1", (AteuliPlan("Vake Park", 2),), unattached=1),  # Vake
)
# Members living abroad: verified, but never in an ateuli (§3.3).
DIASPORA = 2


class _People:
    """Registers and onboards the demo members one after another (phone, ID, GeD number)."""

    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.ged = LedgerGedDatabase(DEMO_LEDGER_PATH)
        self.number = 0
        self.free_ged: list[str] = []

    async def load_free_ged_numbers(self) -> None:
        wanted = [f"GED{n:06d}" for n in GED_RANGE]
        taken = set(
            (
                await self.session.scalars(
                    select(User.ged_number).where(User.ged_number.in_(wanted))
                )
            ).all()
        )
        self.free_ged = [number for number in wanted if number not in taken]

    async def onboard(self, territory_id: uuid.UUID | None) -> User | None:
        """The next demo member, onboarded in ``territory_id`` (None: diaspora).

        None when the number is already registered to somebody else (a developer's own
        account in an old data folder): that person is left alone.
        """
        self.number += 1
        n = self.number
        first = FIRST_NAMES[n % len(FIRST_NAMES)]
        last = LAST_NAMES[(7 * n) % len(LAST_NAMES)]
        user, created = await users.get_or_create_by_phone(
            self.session,
            self.settings,
            f"{PHONE_PREFIX}{n:03d}",
            first_name=first,
            last_name=last,
            language=Language.KA,
        )
        if not created:
            return None
        # Two in three are GeDers; the others are supporters (see the module's docstring).
        geder = n % 3 != 0 and bool(self.free_ged)
        form = users.Onboarding(
            personal_id=str(PERSONAL_ID_BASE + n),
            status=MemberStatus.ACTIVE if n % 2 else MemberStatus.PASSIVE,
            motivation=MOTIVATIONS[n % len(MOTIVATIONS)],
            constitution_agreed=True,
            is_diaspora=territory_id is None,
            territory_id=territory_id,
            ged_number=self.free_ged.pop(0) if geder else None,
        )
        await users.complete_onboarding(self.session, self.settings, self.ged, user, form)
        if user.role is UserRole.UNVERIFIED:
            user.role = UserRole.SUPPORTER
            await self.session.flush()
        return user


async def seed_demo_society(session: AsyncSession, settings: Settings) -> bool:
    """Create the demo society unless it exists; True when it was created now.

    Needs the shipped map (``territories.seed_sample_map``) in place.
    """
    if await users.get_by_phone(session, settings, FIRST_PHONE) is not None:
        return False
    people = _People(session, settings)
    await people.load_free_ged_numbers()
    codes = [plan.code for plan in PLAN]
    districts = {
        territory.code: territory
        for territory in (
            await session.scalars(select(Territory).where(Territory.code.in_(codes)))
        ).all()
    }
    missing = sorted(set(codes) - set(districts))
    if missing:
        raise RuntimeError(f"the demo society needs the shipped map; missing {missing}")

    for plan in PLAN:
        district = districts[plan.code]
        led: list[tuple[Unit, User]] = []
        for ateuli in plan.ateulis:
            members = [await people.onboard(district.id) for _ in range(ateuli.size)]
            present = [member for member in members if member is not None]
            if not present:
                continue
            founder, *others = present
            unit = await units.create_ateuli(
                session, founder, name=ateuli.name, territory_id=district.id
            )
            for member in others:
                unit = await units.join_ateuli(session, member, unit.id)
            if ateuli.led and unit.status is UnitStatus.ACTIVE:
                led.append((unit, founder))
        for _ in range(plan.unattached):
            await people.onboard(district.id)
        for unit, founder in led:
            await units.install_leader(session, unit, founder)
        if plan.lead_ormotsdaateulis:
            await _lead_parents(session, led)
    for _ in range(DIASPORA):
        await people.onboard(None)
    await session.flush()
    return True


async def _lead_parents(session: AsyncSession, led: list[tuple[Unit, User]]) -> None:
    """Seat the first atistavi of each grown ormotsdaateuli as its ormotsdaatistavi."""
    seated: set[uuid.UUID] = set()
    for unit, atistavi in led:
        await session.refresh(unit)
        if unit.parent_id is None or unit.parent_id in seated:
            continue
        parent = await session.get(Unit, unit.parent_id)
        if parent is not None and parent.status is UnitStatus.ACTIVE:
            await units.install_leader(session, parent, atistavi)
            seated.add(parent.id)
