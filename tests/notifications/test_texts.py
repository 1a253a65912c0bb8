"""Every notification type reads well in Georgian and English with its documented params."""

from __future__ import annotations

import re
import string

import pytest

from polis.notifications import texts
from polis.notifications.models import NotificationType
from polis.users.models import Language, UserRole

GEORGIAN = re.compile(r"[\u10d0-\u10ff]")
# A value for every param any type documents, unlike any word of the templates.
SAMPLE_VALUES = {
    "device": "Pixel 8 (Android 15)",
    "role": UserRole.SUPPORTER.value,
    "unit_name": "Vake 1",
    "achievement": "ateuli_joined",
    "requester_name": "Giorgi Beridze",
    "geder_name": "Tamar Kapanadze",
    "supporter_name": "Levan Abashidze",
    "reason": "Not known to me",
    "amount": "500",
    "until": "2027-05-01",
    "limit": "7",
    "case_number": "ARB-2026-000123",
    "title": "Lights for Vake park",
    "target": "20",
    "due_date": "2026-12-10",
    "signal_title": "Water cut off for a week",
    "sos_priority": "high",
    "notes": "A private quarrel between neighbours",
    "sos_level": "ormotsdaateuli",
    "election_title": "Atistavi of Vake 1",
    "winner_name": "Ana Gelashvili",
}


def _names(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("notification_type", list(NotificationType))
def test_every_type_has_both_languages_and_documented_params(
    notification_type: NotificationType,
) -> None:
    assert set(texts.TEMPLATES[notification_type]) == set(Language)
    documented = set(texts.PARAMS[notification_type])
    for language in Language:
        template = texts.TEMPLATES[notification_type][language]
        assert template.title.strip()
        assert template.body.strip()
        # Each language uses exactly the documented values: none dropped, none undocumented.
        assert _names(template.title) | _names(template.body) == documented
    assert texts.placeholders(notification_type) == documented


@pytest.mark.parametrize("notification_type", list(NotificationType))
@pytest.mark.parametrize("language", list(Language))
def test_every_type_renders_with_its_documented_params(
    notification_type: NotificationType, language: Language
) -> None:
    params = {name: SAMPLE_VALUES[name] for name in texts.PARAMS[notification_type]}

    text = texts.render(notification_type, params, language)

    for part in (text.title, text.body):
        assert part.strip()
        assert "{" not in part
        assert "}" not in part
        assert texts.MISSING_VALUE not in part
        # Georgian texts are written in Georgian letters; English ones have none.
        assert bool(GEORGIAN.search(part)) is (language is Language.KA)
    if "device" in params:
        assert params["device"] in text.body


def test_codes_in_params_are_shown_as_words_of_the_language() -> None:
    georgian = texts.render(NotificationType.ROLE_CHANGED, {"role": "geder"}, Language.KA)
    english = texts.render(NotificationType.ROLE_CHANGED, {"role": "geder"}, Language.EN)
    unknown = texts.render(NotificationType.ROLE_CHANGED, {"role": "oracle"}, Language.EN)

    assert georgian.body == "თქვენი ახალი როლია: გედერი."
    assert english.body == "Your new role: GeDer."
    # A value without a label is shown as it is.
    assert unknown.body == "Your new role: oracle."


def test_a_row_without_a_param_still_renders() -> None:
    # An old row from before a template gained a placeholder must not break the list.
    text = texts.render(NotificationType.SESSION_REVOKED, {}, Language.EN)

    assert text.body.startswith(f"The session on {texts.MISSING_VALUE} was ended.")


def test_missing_params_names_what_a_call_left_out() -> None:
    assert texts.missing_params(NotificationType.SESSION_REVOKED, {}) == ["device"]
    assert texts.missing_params(NotificationType.SESSION_REVOKED, {"device": "x"}) == []
    assert texts.missing_params(NotificationType.ADMIN_GRANTED, {}) == []


def test_a_param_value_is_never_interpreted_as_a_template() -> None:
    text = texts.render(
        NotificationType.NEW_DEVICE_LOGIN, {"device": "{device} {0} {role.__class__}"}, Language.EN
    )

    assert "{device} {0} {role.__class__}" in text.body


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("ka", Language.KA),
        ("en", Language.EN),
        ("en-GB,ka;q=0.8", Language.EN),
        ("ka-GE, en;q=0.9", Language.KA),
        ("fr-FR, de;q=0.9, ka;q=0.5, en;q=0.4", Language.KA),
        ("KA", Language.KA),
        ("fr, de", None),
        ("*", None),
        # "not Georgian" is not a choice of Georgian.
        ("ka;q=0, en", Language.EN),
        ("ka;q=0", None),
    ],
)
def test_language_from_header_takes_the_first_of_ka_and_en(
    header: str | None, expected: Language | None
) -> None:
    assert texts.language_from_header(header) == expected
