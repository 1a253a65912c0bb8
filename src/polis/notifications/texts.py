"""What each notification says, in Georgian and English (DESIGN.md §3.8).

A notification stores its type and the values its text needs (``params``); the text is rendered
when it is read, in the reader's language, so a member who switches language sees every
notification in the new one. ``PARAMS`` documents the values each type needs: ``notify`` refuses
a call that leaves one out, and a test renders every type in both languages with them.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from polis.notifications.models import NotificationType
from polis.users.models import Language, UserRole

# Shown in place of a value an old row lacks (a template that gained a placeholder later):
# a slightly odd sentence is better than a list that fails to render.
MISSING_VALUE = "…"


@dataclass(frozen=True)
class Template:
    title: str
    body: str


@dataclass(frozen=True)
class RenderedText:
    title: str
    body: str


# The values each type's text needs; callers may add more (ids the client links to).
PARAMS: dict[NotificationType, tuple[str, ...]] = {
    NotificationType.NEW_DEVICE_LOGIN: ("device",),
    NotificationType.ONBOARDING_COMPLETED: (),
    NotificationType.ROLE_CHANGED: ("role",),
    NotificationType.ADMIN_GRANTED: (),
    NotificationType.SESSION_REVOKED: ("device",),
    NotificationType.LEADER_ELECTION_DUE: ("unit_name",),
    NotificationType.ACHIEVEMENT_UNLOCKED: ("achievement",),
}

TEMPLATES: dict[NotificationType, dict[Language, Template]] = {
    NotificationType.NEW_DEVICE_LOGIN: {
        Language.KA: Template(
            title="ახალი მოწყობილობიდან შესვლა",
            body=(
                "თქვენს ანგარიშში შესვლა განხორციელდა ახალი მოწყობილობიდან: {device}. "
                "თუ ეს თქვენ არ ყოფილხართ, დაუყოვნებლივ დაასრულეთ ეს სესია."
            ),
        ),
        Language.EN: Template(
            title="Login from a new device",
            body=(
                "Your account was signed in from a new device: {device}. "
                "If this was not you, end that session now."
            ),
        ),
    },
    NotificationType.ONBOARDING_COMPLETED: {
        Language.KA: Template(
            title="რეგისტრაცია დასრულდა",
            body=(
                "კეთილი იყოს თქვენი მობრძანება! ახლა შეგიძლიათ შეუერთდეთ ათეულს, "
                "შექმნათ ახალი ან მოძებნოთ თავდები."
            ),
        ),
        Language.EN: Template(
            title="Registration complete",
            body="Welcome! You can now join an ateuli, found a new one or find a tavdebi.",
        ),
    },
    NotificationType.ROLE_CHANGED: {
        Language.KA: Template(
            title="თქვენი როლი შეიცვალა",
            body="თქვენი ახალი როლია: {role}.",
        ),
        Language.EN: Template(
            title="Your role has changed",
            body="Your new role: {role}.",
        ),
    },
    NotificationType.ADMIN_GRANTED: {
        Language.KA: Template(
            title="ადმინისტრატორის უფლებები მოგენიჭათ",
            body="თქვენ ახლა ადმინისტრატორი ხართ. გამოიყენეთ ეს უფლებები პასუხისმგებლობით.",
        ),
        Language.EN: Template(
            title="You are now an administrator",
            body="You now have administrator rights. Use them with care.",
        ),
    },
    NotificationType.SESSION_REVOKED: {
        Language.KA: Template(
            title="სესია დასრულდა",
            body=(
                "სესია მოწყობილობაზე {device} დასრულდა. თუ ეს თქვენ არ გაგიკეთებიათ, "
                "შეამოწმეთ თქვენი აქტიური სესიები."
            ),
        ),
        Language.EN: Template(
            title="A session was ended",
            body=(
                "The session on {device} was ended. If you did not do this, "
                "review your active sessions."
            ),
        ),
    },
    NotificationType.LEADER_ELECTION_DUE: {
        Language.KA: Template(
            title="ლიდერის არჩევნები დაინიშნება",
            body=(
                "{unit_name} მზადაა ლიდერის ასარჩევად. არჩევნები მალე დაინიშნება: "
                "მოემზადეთ კანდიდატად დასარეგისტრირებლად ან ხმის მისაცემად."
            ),
        ),
        Language.EN: Template(
            title="A leader election is due",
            body=(
                "{unit_name} is ready to elect its leader. The election will be scheduled "
                "soon: get ready to stand as a candidate or to vote."
            ),
        ),
    },
    NotificationType.ACHIEVEMENT_UNLOCKED: {
        Language.KA: Template(
            title="ახალი მიღწევა",
            body="გილოცავთ! თქვენ მიაღწიეთ ახალ ეტაპს: {achievement}.",
        ),
        Language.EN: Template(
            title="New achievement",
            body="Congratulations! You reached a new milestone: {achievement}.",
        ),
    },
}

# Param values that are codes (a role) are shown as words of the reader's language.
VALUE_LABELS: dict[str, dict[Language, dict[str, str]]] = {
    "role": {
        Language.KA: {
            UserRole.UNVERIFIED: "დაუდასტურებელი წევრი",
            UserRole.SUPPORTER: "მხარდამჭერი",
            UserRole.GEDER: "გედერი",
        },
        Language.EN: {
            UserRole.UNVERIFIED: "unverified member",
            UserRole.SUPPORTER: "supporter",
            UserRole.GEDER: "GeDer",
        },
    },
    # Achievement codes (polis.gamification.models.AchievementCode), spelt out here because
    # notifications must not import the gamification domain that calls them.
    "achievement": {
        Language.KA: {
            "ateuli_joined": "პირველად შეუერთდით ათეულს",
            "ateuli_activated": "თქვენი ათეული გააქტიურდა",
            "ormotsdaateuli_formed": "თქვენს ათეულზე მაღლა ორმოცდაათეული შეიქმნა",
            "aseuli_formed": "თქვენს ათეულზე მაღლა ასეული შეიქმნა",
            "ataseuli_formed": "თქვენს ათეულზე მაღლა ათასეული შეიქმნა",
            "first_seat": "პირველად აირჩიეს ლიდერად",
            "district_100_members": "თქვენს საარჩევნო ოლქს 100 წევრი ჰყავს",
        },
        Language.EN: {
            "ateuli_joined": "you joined your first ateuli",
            "ateuli_activated": "your ateuli became active",
            "ormotsdaateuli_formed": "an ormotsdaateuli formed above your ateuli",
            "aseuli_formed": "an aseuli formed above your ateuli",
            "ataseuli_formed": "an ataseuli formed above your ateuli",
            "first_seat": "you took your first leadership seat",
            "district_100_members": "your electoral district reached 100 members",
        },
    },
}


class _Values(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return MISSING_VALUE


def _placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def placeholders(notification_type: NotificationType) -> set[str]:
    """Every placeholder the texts of ``notification_type`` use, in either language."""
    names: set[str] = set()
    for template in TEMPLATES[notification_type].values():
        names |= _placeholders(template.title) | _placeholders(template.body)
    return names


def missing_params(notification_type: NotificationType, params: Mapping[str, Any]) -> list[str]:
    """The documented params of ``notification_type`` that ``params`` lacks."""
    return [name for name in PARAMS[notification_type] if name not in params]


def render(
    notification_type: NotificationType, params: Mapping[str, Any], language: Language
) -> RenderedText:
    """The title and body of a notification in ``language``."""
    template = TEMPLATES[notification_type][language]
    values = _Values()
    for name, value in params.items():
        labels = VALUE_LABELS.get(name, {}).get(language, {})
        values[name] = labels.get(str(value), str(value))
    # format_map only substitutes values: templates are ours, params are never interpreted.
    return RenderedText(
        title=template.title.format_map(values), body=template.body.format_map(values)
    )


def language_from_header(accept_language: str | None) -> Language | None:
    """The first language of ours that ``Accept-Language`` names, in the order the client wrote
    them (``en-GB,ka;q=0.8`` → en), or None when it names neither."""
    if not accept_language:
        return None
    for part in accept_language.split(","):
        tag, _, parameters = part.partition(";")
        # "ka;q=0" means "not Georgian": skip it rather than choose it.
        if parameters.replace(" ", "").lower() in {"q=0", "q=0.0", "q=0.00", "q=0.000"}:
            continue
        primary = tag.strip().lower().split("-", 1)[0]
        if primary in (Language.KA, Language.EN):
            return Language(primary)
    return None
