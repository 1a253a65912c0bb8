"""Phones are normalised, masked for the public, encrypted at rest and found by blind index."""

from __future__ import annotations

import pytest

from polis.kit.crypto import DataProtector
from polis.kit.errors import PolisError
from polis.kit.phone import mask_phone, normalize_phone


@pytest.mark.parametrize(
    "raw", ["555 12 34 56", "+995 555 123 456", "00995555123456", "(555) 123-456"]
)
def test_georgian_numbers_normalise_to_e164(raw: str) -> None:
    assert normalize_phone(raw) == "+995555123456"


def test_foreign_numbers_are_accepted() -> None:
    assert normalize_phone("+44 20 7946 0958") == "+442079460958"


@pytest.mark.parametrize("raw", ["", "hello", "+995 12", "555"])
def test_invalid_numbers_are_a_2002(raw: str) -> None:
    with pytest.raises(PolisError) as caught:
        normalize_phone(raw)
    assert caught.value.error.code == 2002
    assert caught.value.status_code == 422
    assert caught.value.details == {"field": "phone_number"}


def test_mask_matches_the_design() -> None:
    assert mask_phone("+995555123456") == "+995 555 ••• •56"
    masked = mask_phone("+442079460958")
    assert masked.startswith("+44 207")
    assert masked.endswith("58")
    assert "946" not in masked


def test_encryption_round_trips_and_is_randomised() -> None:
    protector = DataProtector("k" * 40, "phone")
    first, second = protector.encrypt("+995555123456"), protector.encrypt("+995555123456")
    assert first != second
    assert b"555123456" not in first
    assert protector.decrypt(first) == protector.decrypt(second) == "+995555123456"


def test_purposes_and_keys_do_not_share_ciphertexts_or_indexes() -> None:
    phone = DataProtector("k" * 40, "phone")
    personal_id = DataProtector("k" * 40, "personal_id")
    other_key = DataProtector("z" * 40, "phone")
    token = phone.encrypt("+995555123456")
    with pytest.raises(Exception):  # noqa: B017 - any authentication failure will do
        personal_id.decrypt(token)
    with pytest.raises(Exception):  # noqa: B017
        other_key.decrypt(token)
    assert phone.blind_index("x") == phone.blind_index("x")
    assert phone.blind_index("x") != personal_id.blind_index("x")
    assert phone.blind_index("x") != other_key.blind_index("x")
