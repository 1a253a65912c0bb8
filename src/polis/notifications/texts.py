"""What each notification says, in Georgian and English (DESIGN.md §3.8).

This module is over 500 lines because it is a table of texts, not logic: every notification
type's title and body in both languages, the params each needs and the words its coded values
are shown as. It stays one table so that a translator reads and edits every text in one place
and a test checks every type against its params; the code around it is some fifty lines.

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
    NotificationType.ENDORSEMENT_REQUESTED: ("requester_name",),
    NotificationType.ENDORSEMENT_APPROVED: ("geder_name",),
    NotificationType.ENDORSEMENT_REJECTED: ("geder_name", "reason"),
    NotificationType.ENDORSEMENT_EXPIRED: ("geder_name",),
    NotificationType.ENDORSEMENT_REVOKED: ("supporter_name", "geder_name", "reason"),
    NotificationType.ENDORSEMENT_PENALTY: ("amount", "until"),
    NotificationType.ENDORSEMENT_SUSPENSION_LIFTED: (),
    NotificationType.ENDORSEMENT_LIMIT_CHANGED: ("limit",),
    NotificationType.SUPPORTER_FLAGGED: ("geder_name",),
    NotificationType.ARBITRATION_CASE_FILED: ("case_number",),
    NotificationType.ARBITRATION_CASE_ASSIGNED: ("case_number",),
    NotificationType.ARBITRATION_CASE_TO_ARBITRATE: ("case_number",),
    NotificationType.ARBITRATION_CASE_STARTED: ("case_number",),
    NotificationType.ARBITRATION_CASE_RESOLVED: ("case_number",),
    NotificationType.ARBITRATION_CASE_APPEALED: ("case_number",),
    NotificationType.ARBITRATION_CASE_UNASSIGNED: ("case_number",),
    NotificationType.INITIATIVE_SUPPORTED_THRESHOLD: ("title", "target"),
    NotificationType.INITIATIVE_ASSIGNED: ("title", "due_date"),
    NotificationType.INITIATIVE_COMPLETED: ("title",),
    NotificationType.INITIATIVE_REJECTED: ("title", "reason"),
    NotificationType.INITIATIVE_REASSIGNED: ("title",),
    NotificationType.SUPPORTED_INITIATIVE_COMPLETED: ("title",),
    NotificationType.SUPPORTED_INITIATIVE_REJECTED: ("title", "reason"),
    NotificationType.SOS_SIGNAL_RECEIVED: ("signal_title",),
    NotificationType.SOS_SIGNAL_CRITICAL: ("signal_title",),
    NotificationType.SOS_SIGNAL_VERIFIED: ("signal_title", "sos_priority"),
    NotificationType.SOS_SIGNAL_REJECTED: ("signal_title", "notes"),
    NotificationType.SOS_SIGNAL_ESCALATED: ("signal_title", "sos_level"),
    NotificationType.SOS_SIGNAL_RESOLVED: ("signal_title",),
    NotificationType.ELECTION_SCHEDULED: ("election_title",),
    NotificationType.ELECTION_NOMINATIONS_EXTENDED: ("election_title",),
    NotificationType.ELECTION_STARTED: ("election_title",),
    NotificationType.ELECTION_CANCELLED: ("election_title",),
    NotificationType.ELECTION_COMPLETED: ("election_title",),
    NotificationType.ELECTION_RUNOFF: ("election_title",),
    NotificationType.LEADER_ELECTED: ("unit_name", "winner_name"),
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
    NotificationType.ENDORSEMENT_REQUESTED: {
        Language.KA: Template(
            title="თავდებობის თხოვნა",
            body="{requester_name} გთხოვთ, გახდეთ მისი თავდები. დაადასტურეთ ან უარყავით თხოვნა.",
        ),
        Language.EN: Template(
            title="A request to vouch",
            body="{requester_name} asks you to be their tavdebi. Approve or reject the request.",
        ),
    },
    NotificationType.ENDORSEMENT_APPROVED: {
        Language.KA: Template(
            title="თავდებობა დადასტურდა",
            body="{geder_name} გახდა თქვენი თავდები. ახლა თქვენ სრულუფლებიანი მხარდამჭერი ხართ.",
        ),
        Language.EN: Template(
            title="Endorsement approved",
            body="{geder_name} is now your tavdebi. You are a full member as a supporter.",
        ),
    },
    NotificationType.ENDORSEMENT_REJECTED: {
        Language.KA: Template(
            title="თავდებობაზე უარი",
            body="{geder_name} უარი თქვა თქვენს თხოვნაზე. მიზეზი: {reason}",
        ),
        Language.EN: Template(
            title="Endorsement rejected",
            body="{geder_name} declined your request. Reason: {reason}",
        ),
    },
    NotificationType.ENDORSEMENT_EXPIRED: {
        Language.KA: Template(
            title="თხოვნის ვადა ამოიწურა",
            body=(
                "{geder_name} შვიდ დღეში არ უპასუხა თქვენს თხოვნას. შეგიძლიათ, სხვა გედერს სთხოვოთ."
            ),
        ),
        Language.EN: Template(
            title="Request expired",
            body="{geder_name} did not answer your request within seven days. Ask another GeDer.",
        ),
    },
    NotificationType.ENDORSEMENT_REVOKED: {
        Language.KA: Template(
            title="თავდებობა გაუქმდა",
            body="{geder_name}-ის თავდებობა {supporter_name}-ისთვის გაუქმდა. მიზეზი: {reason}",
        ),
        Language.EN: Template(
            title="Endorsement revoked",
            body=(
                "The endorsement of {supporter_name} by {geder_name} was revoked. Reason: {reason}"
            ),
        ),
    },
    NotificationType.ENDORSEMENT_PENALTY: {
        Language.KA: Template(
            title="სანქცია თავდებობის გაყალბებისთვის",
            body=(
                "არბიტრაჟმა დაადასტურა, რომ თქვენი თავდებობა ყალბი იყო. დაგეკისრათ {amount} GeD "
                "ჯარიმა და შეგიჩერდათ თავდებობის უფლება. შეჩერების დასასრული: {until}."
            ),
        ),
        Language.EN: Template(
            title="Penalty for a false endorsement",
            body=(
                "Arbitration confirmed that an endorsement of yours was a fraud. You are fined "
                "{amount} GeD and your right to endorse is suspended. End of the suspension: "
                "{until}."
            ),
        ),
    },
    NotificationType.ENDORSEMENT_SUSPENSION_LIFTED: {
        Language.KA: Template(
            title="თავდებობის უფლება აღდგა",
            body="ადმინისტრატორმა მოხსნა შეჩერება: თქვენ კვლავ შეგიძლიათ თავდებობა.",
        ),
        Language.EN: Template(
            title="Right to endorse restored",
            body="An administrator lifted your suspension: you may endorse members again.",
        ),
    },
    NotificationType.ENDORSEMENT_LIMIT_CHANGED: {
        Language.KA: Template(
            title="თავდებობის ლიმიტი შეიცვალა",
            body="ახლა შეგიძლიათ, თავდები იყოთ არაუმეტეს {limit} წევრისა.",
        ),
        Language.EN: Template(
            title="Endorsement limit changed",
            body="You may now vouch for up to {limit} members.",
        ),
    },
    NotificationType.SUPPORTER_FLAGGED: {
        Language.KA: Template(
            title="თქვენი ანგარიში შემოწმდება",
            body=(
                "თქვენი თავდების, {geder_name}-ის, სხვა თავდებობა ყალბად იქნა აღიარებული. "
                "ადმინისტრატორი გადაამოწმებს თქვენს ანგარიშს."
            ),
        ),
        Language.EN: Template(
            title="Your account will be reviewed",
            body=(
                "Another endorsement by your tavdebi, {geder_name}, was found to be a fraud. "
                "An administrator will review your account."
            ),
        ),
    },
    NotificationType.ARBITRATION_CASE_FILED: {
        Language.KA: Template(
            title="საარბიტრაჟო საქმე შეიტანეს",
            body="შეტანილია საარბიტრაჟო საქმე {case_number}, რომლის მხარეც ხართ.",
        ),
        Language.EN: Template(
            title="Arbitration case filed",
            body="Arbitration case {case_number}, in which you are a party, was filed.",
        ),
    },
    NotificationType.ARBITRATION_CASE_ASSIGNED: {
        Language.KA: Template(
            title="საქმეს არბიტრი დაენიშნა",
            body="საარბიტრაჟო საქმე {case_number} არბიტრს გადაეცა.",
        ),
        Language.EN: Template(
            title="Arbitrator assigned",
            body="Arbitration case {case_number} was given to an arbitrator.",
        ),
    },
    NotificationType.ARBITRATION_CASE_TO_ARBITRATE: {
        Language.KA: Template(
            title="თქვენ ხართ არბიტრი",
            body="საარბიტრაჟო საქმე {case_number} თქვენ გადმოგეცათ განსახილველად.",
        ),
        Language.EN: Template(
            title="A case for you to arbitrate",
            body="Arbitration case {case_number} was given to you to decide.",
        ),
    },
    NotificationType.ARBITRATION_CASE_STARTED: {
        Language.KA: Template(
            title="საქმის განხილვა დაიწყო",
            body="არბიტრმა დაიწყო საარბიტრაჟო საქმის {case_number} განხილვა.",
        ),
        Language.EN: Template(
            title="Case under way",
            body="The arbitrator started work on arbitration case {case_number}.",
        ),
    },
    NotificationType.ARBITRATION_CASE_RESOLVED: {
        Language.KA: Template(
            title="საქმეზე გადაწყვეტილება მიიღეს",
            body="საარბიტრაჟო საქმეზე {case_number} გადაწყვეტილება მიღებულია.",
        ),
        Language.EN: Template(
            title="Case decided",
            body="A decision was taken on arbitration case {case_number}.",
        ),
    },
    NotificationType.ARBITRATION_CASE_APPEALED: {
        Language.KA: Template(
            title="გადაწყვეტილება გაასაჩივრეს",
            body=(
                "საარბიტრაჟო საქმეზე {case_number} გადაწყვეტილება გასაჩივრდა "
                "და ზემო დონეზე გადავიდა."
            ),
        ),
        Language.EN: Template(
            title="Decision appealed",
            body="The decision on arbitration case {case_number} was appealed to the next level.",
        ),
    },
    NotificationType.ARBITRATION_CASE_UNASSIGNED: {
        Language.KA: Template(
            title="საქმეს არბიტრი სჭირდება",
            body="საარბიტრაჟო საქმე {case_number} არბიტრს ვერ გადაეცა: დანიშნეთ ის.",
        ),
        Language.EN: Template(
            title="A case needs an arbitrator",
            body="No arbitrator could be found for arbitration case {case_number}: assign one.",
        ),
    },
    NotificationType.INITIATIVE_SUPPORTED_THRESHOLD: {
        Language.KA: Template(
            title="ინიციატივამ საჭირო მხარდაჭერა მოიპოვა",
            body=(
                "თქვენს ინიციატივას „{title}“ {target} წევრი უჭერს მხარს. "
                "ის ლიდერს გადაეცა პასუხისთვის."
            ),
        ),
        Language.EN: Template(
            title="Your initiative reached its target",
            body=(
                "{target} members support your initiative “{title}”. "
                "It has gone to a leader for an answer."
            ),
        ),
    },
    NotificationType.INITIATIVE_ASSIGNED: {
        Language.KA: Template(
            title="ინიციატივა გელოდებათ პასუხისთვის",
            body=(
                "ინიციატივამ „{title}“ საჭირო მხარდაჭერა მოიპოვა და თქვენ გადმოგეცათ. "
                "უპასუხეთ {due_date}-მდე: შეასრულეთ ან დაასაბუთეთ უარი."
            ),
        ),
        Language.EN: Template(
            title="An initiative waits for your answer",
            body=(
                "The initiative “{title}” reached its support target and is now yours. "
                "Answer by {due_date}: complete it, or reject it with a reason."
            ),
        ),
    },
    NotificationType.INITIATIVE_COMPLETED: {
        Language.KA: Template(
            title="ინიციატივა შესრულდა",
            body="თქვენს ინიციატივაზე „{title}“ ლიდერმა შესრულებით უპასუხა.",
        ),
        Language.EN: Template(
            title="Initiative completed",
            body="A leader answered your initiative “{title}”: it is completed.",
        ),
    },
    NotificationType.INITIATIVE_REJECTED: {
        Language.KA: Template(
            title="ინიციატივა უარყოფილია",
            body="თქვენი ინიციატივა „{title}“ ლიდერმა უარყო. მიზეზი: {reason}",
        ),
        Language.EN: Template(
            title="Initiative rejected",
            body="A leader rejected your initiative “{title}”. Reason: {reason}",
        ),
    },
    NotificationType.SUPPORTED_INITIATIVE_COMPLETED: {
        Language.KA: Template(
            title="თქვენ მიერ მხარდაჭერილი ინიციატივა შესრულდა",
            body="ინიციატივაზე „{title}“, რომელსაც მხარს უჭერთ, ლიდერმა შესრულებით უპასუხა.",
        ),
        Language.EN: Template(
            title="An initiative you support is completed",
            body="A leader answered the initiative “{title}” you support: it is completed.",
        ),
    },
    NotificationType.SUPPORTED_INITIATIVE_REJECTED: {
        Language.KA: Template(
            title="თქვენ მიერ მხარდაჭერილი ინიციატივა უარყოფილია",
            body="ინიციატივა „{title}“, რომელსაც მხარს უჭერთ, ლიდერმა უარყო. მიზეზი: {reason}",
        ),
        Language.EN: Template(
            title="An initiative you support is rejected",
            body="A leader rejected the initiative “{title}” you support. Reason: {reason}",
        ),
    },
    NotificationType.INITIATIVE_REASSIGNED: {
        Language.KA: Template(
            title="ინიციატივა სხვა ლიდერს გადაეცა",
            body="ინიციატივა „{title}“ პასუხისთვის სხვა ლიდერს გადაეცა.",
        ),
        Language.EN: Template(
            title="Initiative passed to another leader",
            body="The initiative “{title}” was passed to another leader for an answer.",
        ),
    },
    NotificationType.SOS_SIGNAL_RECEIVED: {
        Language.KA: Template(
            title="ახალი SOS სიგნალი",
            body="SOS სიგნალი „{signal_title}“ თქვენ გადმოგეცათ: გადაამოწმეთ ის.",
        ),
        Language.EN: Template(
            title="A new SOS signal",
            body='The SOS signal "{signal_title}" was given to you: please verify it.',
        ),
    },
    NotificationType.SOS_SIGNAL_CRITICAL: {
        Language.KA: Template(
            title="კრიტიკული SOS სიგნალი",
            body="კრიტიკული SOS სიგნალი „{signal_title}“ თქვენ გადმოგეცათ: იმოქმედეთ დაუყოვნებლივ.",
        ),
        Language.EN: Template(
            title="A critical SOS signal",
            body='The critical SOS signal "{signal_title}" was given to you: act at once.',
        ),
    },
    NotificationType.SOS_SIGNAL_VERIFIED: {
        Language.KA: Template(
            title="SOS სიგნალი დადასტურდა",
            body="თქვენი SOS სიგნალი „{signal_title}“ დადასტურდა, პრიორიტეტით: {sos_priority}.",
        ),
        Language.EN: Template(
            title="SOS signal verified",
            body='Your SOS signal "{signal_title}" was verified, with priority {sos_priority}.',
        ),
    },
    NotificationType.SOS_SIGNAL_REJECTED: {
        Language.KA: Template(
            title="SOS სიგნალი არ დადასტურდა",
            body="თქვენი SOS სიგნალი „{signal_title}“ არ დადასტურდა. მიზეზი: {notes}",
        ),
        Language.EN: Template(
            title="SOS signal not verified",
            body='Your SOS signal "{signal_title}" was not found legitimate. Why: {notes}',
        ),
    },
    NotificationType.SOS_SIGNAL_ESCALATED: {
        Language.KA: Template(
            title="SOS სიგნალი ზემოთ გადავიდა",
            body="თქვენი SOS სიგნალი „{signal_title}“ გადაეცა დონეს: {sos_level}.",
        ),
        Language.EN: Template(
            title="SOS signal moved up",
            body='Your SOS signal "{signal_title}" was moved up to: {sos_level}.',
        ),
    },
    NotificationType.SOS_SIGNAL_RESOLVED: {
        Language.KA: Template(
            title="SOS სიგნალი დაიხურა",
            body="SOS სიგნალი „{signal_title}“ გადაწყვეტილად მოინიშნა.",
        ),
        Language.EN: Template(
            title="SOS signal resolved",
            body='The SOS signal "{signal_title}" was marked resolved.',
        ),
    },
    NotificationType.ELECTION_SCHEDULED: {
        Language.KA: Template(
            title="არჩევნები დაინიშნა",
            body=(
                "დაინიშნა არჩევნები: {election_title}. კანდიდატების რეგისტრაცია ღიაა, "
                "ხმის მიცემა დაიწყება კენჭისყრის დღეს."
            ),
        ),
        Language.EN: Template(
            title="An election was scheduled",
            body=(
                "An election was scheduled: {election_title}. Candidates may register now; "
                "voting opens when nominations close."
            ),
        ),
    },
    NotificationType.ELECTION_NOMINATIONS_EXTENDED: {
        Language.KA: Template(
            title="კანდიდატების რეგისტრაცია გაგრძელდა",
            body="არჩევნებში „{election_title}“ ჯერ არავინ დარეგისტრირდა: რეგისტრაცია გაგრძელდა.",
        ),
        Language.EN: Template(
            title="Nominations extended",
            body=(
                "Nobody has registered to stand in {election_title} yet: nominations are extended."
            ),
        ),
    },
    NotificationType.ELECTION_STARTED: {
        Language.KA: Template(
            title="ხმის მიცემა დაიწყო",
            body="არჩევნებში „{election_title}“ ხმის მიცემა დაიწყო. მიეცით ხმა.",
        ),
        Language.EN: Template(
            title="Voting has opened",
            body="Voting has opened in {election_title}. Cast your vote.",
        ),
    },
    NotificationType.ELECTION_CANCELLED: {
        Language.KA: Template(
            title="არჩევნები გაუქმდა",
            body="არჩევნები „{election_title}“ გაუქმდა.",
        ),
        Language.EN: Template(
            title="Election cancelled",
            body="The election {election_title} was cancelled.",
        ),
    },
    NotificationType.ELECTION_COMPLETED: {
        Language.KA: Template(
            title="არჩევნები დასრულდა",
            body=(
                "არჩევნები „{election_title}“ დასრულდა. შედეგები და ყველა ბიულეტენი "
                "გამოქვეყნებულია: შეამოწმეთ, რომ თქვენი ხმა დაითვალეს."
            ),
        ),
        Language.EN: Template(
            title="Election completed",
            body=(
                "The election {election_title} has ended. The results and every ballot are "
                "published: check that your vote was counted."
            ),
        ),
    },
    NotificationType.ELECTION_RUNOFF: {
        Language.KA: Template(
            title="მეორე ტური",
            body="არჩევნებში „{election_title}“ ხმები თანაბრად გაიყო: დაიწყო მეორე ტური.",
        ),
        Language.EN: Template(
            title="Runoff",
            body="The vote in {election_title} was tied: a runoff between the tied has opened.",
        ),
    },
    NotificationType.LEADER_ELECTED: {
        Language.KA: Template(
            title="ლიდერი აირჩიეს",
            body="{unit_name}-ის ახალი ლიდერია {winner_name}.",
        ),
        Language.EN: Template(
            title="A leader was elected",
            body="{winner_name} was elected the leader of {unit_name}.",
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
    # The end of an endorsement suspension: a date, or "permanent".
    "until": {
        Language.KA: {"permanent": "არ აქვს — შეჩერება სამუდამოა"},
        Language.EN: {"permanent": "none, the suspension is permanent"},
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
    # SOS priorities and levels (polis.sos.models), spelt out for the same reason.
    "sos_priority": {
        Language.KA: {
            "critical": "კრიტიკული",
            "high": "მაღალი",
            "normal": "ჩვეულებრივი",
            "low": "დაბალი",
        },
        Language.EN: {"critical": "critical", "high": "high", "normal": "normal", "low": "low"},
    },
    "sos_level": {
        Language.KA: {
            "ateuli": "ათისთავი",
            "ormotsdaateuli": "ორმოცდაათისთავი",
            "aseuli": "ასისთავი",
            "ataseuli": "ათასისთავი",
            "moderators": "მოდერატორები",
            "media": "მედია",
        },
        Language.EN: {
            "ateuli": "the atistavi",
            "ormotsdaateuli": "the ormotsdaatistavi",
            "aseuli": "the asistavi",
            "ataseuli": "the atasistavi",
            "moderators": "the moderators",
            "media": "the media",
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
