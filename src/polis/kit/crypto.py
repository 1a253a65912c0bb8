"""Personal data at rest: AES-256-GCM ciphertexts that name their key, keyed HMAC blind indexes.

A ciphertext is ``0x02 | len(key id) | key id | 12-byte nonce | AES-GCM(ciphertext + tag)``, with
the purpose (``phone``, ``personal_id``…) as associated data so a ciphertext cannot be moved
from one column to another. The keyring's first key encrypts; every key decrypts, so rotating
means putting a new key first and re-encrypting at leisure (``needs_rotation``).

Blind indexes are HMAC-SHA256 under a key derived per purpose (HKDF) from the blind-index key:
equal values match, and nobody without the key can test a guess.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from polis.config import Settings
from polis.kit.keyring import Keyring

_FORMAT = b"\x02"
_NONCE_BYTES = 12


class DataProtector:
    """Encrypts and indexes one kind of personal value (a phone, a personal ID)."""

    def __init__(self, keyring: Keyring, index_key: bytes, purpose: str) -> None:
        self._keyring = keyring
        self._aad = purpose.encode()
        self._index_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"polis/{purpose}/index".encode()
        ).derive(index_key)

    def encrypt(self, plaintext: str) -> bytes:
        key_id = self._keyring.current_id.encode()
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self._keyring.keys[self._keyring.current_id]).encrypt(
            nonce, plaintext.encode(), self._aad
        )
        return _FORMAT + bytes([len(key_id)]) + key_id + nonce + sealed

    def _split(self, token: bytes) -> tuple[str, bytes, bytes]:
        if token[:1] != _FORMAT or len(token) < 2:
            raise ValueError("unknown ciphertext format")
        id_length = token[1]
        key_id = token[2 : 2 + id_length].decode()
        rest = token[2 + id_length :]
        return key_id, rest[:_NONCE_BYTES], rest[_NONCE_BYTES:]

    def decrypt(self, token: bytes) -> str:
        key_id, nonce, sealed = self._split(token)
        key = self._keyring.keys.get(key_id)
        if key is None:
            raise ValueError(f"no key {key_id!r} in the keyring")
        return AESGCM(key).decrypt(nonce, sealed, self._aad).decode()

    def needs_rotation(self, token: bytes) -> bool:
        """True when ``token`` was sealed with a key other than the current one."""
        return self._split(token)[0] != self._keyring.current_id

    def blind_index(self, value: str) -> str:
        digest = hmac.new(self._index_key, value.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _index_key_bytes(raw: str) -> bytes:
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    # A base64 value of at least 32 bytes is used as is; any other string is used as text.
    return decoded if len(decoded) >= 32 else raw.encode()


@lru_cache(maxsize=32)
def _protector(keyring_spec: str, index_key: str, purpose: str) -> DataProtector:
    return DataProtector(Keyring.parse(keyring_spec), _index_key_bytes(index_key), purpose)


def protector(settings: Settings, purpose: str) -> DataProtector:
    """The protector for ``purpose`` under ``settings``' keys (built once, then cached)."""
    return _protector(
        settings.secret("encryption_keys"), settings.secret("blind_index_key"), purpose
    )
