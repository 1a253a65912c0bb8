"""Phones are normalised, masked for the public, encrypted at rest and found by blind index."""

from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidTag

from polis.kit.crypto import DataProtector
from polis.kit.errors import PolisError
from polis.kit.keyring import Keyring
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


def _protector(keyring: str, purpose: str = "phone", index_key: bytes = b"i" * 32) -> DataProtector:
    return DataProtector(Keyring.parse(keyring), index_key, purpose)


K1 = "k1:" + base64.b64encode(b"1" * 32).decode()
K2 = "k2:" + base64.b64encode(b"2" * 32).decode()


def test_encryption_round_trips_and_is_randomised() -> None:
    protector = _protector(K1)
    first, second = protector.encrypt("+995555123456"), protector.encrypt("+995555123456")
    assert first != second
    assert b"555123456" not in first
    assert protector.decrypt(first) == protector.decrypt(second) == "+995555123456"


def test_ciphertexts_name_their_key_so_keys_can_rotate() -> None:
    old = _protector(K1)
    token = old.encrypt("01024054729")
    rotated = _protector(f"{K2},{K1}")
    assert rotated.decrypt(token) == "01024054729"
    assert rotated.needs_rotation(token)
    fresh = rotated.encrypt("01024054729")
    assert not rotated.needs_rotation(fresh)
    with pytest.raises(ValueError, match="no key 'k2'"):
        old.decrypt(fresh)


def test_purposes_and_keys_do_not_share_ciphertexts_or_indexes() -> None:
    phone = _protector(K1, "phone")
    personal_id = _protector(K1, "personal_id")
    other_index_key = _protector(K1, "phone", index_key=b"j" * 32)
    token = phone.encrypt("+995555123456")
    with pytest.raises(InvalidTag):
        personal_id.decrypt(token)
    assert phone.blind_index("x") == phone.blind_index("x")
    assert phone.blind_index("x") != personal_id.blind_index("x")
    assert phone.blind_index("x") != other_index_key.blind_index("x")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("k1", "id:base64key"),
        ("k1:not base64!", "not base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "32 bytes"),
        (f"{K1},{K1}", "twice"),
    ],
)
def test_bad_keyrings_are_refused(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Keyring.parse(spec)
