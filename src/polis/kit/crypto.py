"""Personal data at rest: AES-256-GCM ciphertext for values, keyed HMAC blind indexes for lookups.

Both keys derive from ``POLIS_DATA_KEY`` with HKDF under distinct labels, so one secret is
configured and the two uses never share a key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12
_VERSION = b"\x01"


@lru_cache(maxsize=16)
def _derive(master: str, label: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label.encode())
    return hkdf.derive(master.encode())


class DataProtector:
    """Encrypts and indexes one kind of personal value (a phone, a personal ID)."""

    def __init__(self, master_key: str, purpose: str) -> None:
        self._aead = AESGCM(_derive(master_key, f"polis/{purpose}/aes-gcm"))
        self._index_key = _derive(master_key, f"polis/{purpose}/blind-index")
        self._aad = purpose.encode()

    def encrypt(self, plaintext: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), self._aad)

    def decrypt(self, token: bytes) -> str:
        if token[:1] != _VERSION:
            raise ValueError("unknown ciphertext version")
        nonce, body = token[1 : 1 + _NONCE_BYTES], token[1 + _NONCE_BYTES :]
        return self._aead.decrypt(nonce, body, self._aad).decode()

    def blind_index(self, value: str) -> str:
        """A keyed hash of ``value``: equal values match; without the key nobody can test one."""
        digest = hmac.new(self._index_key, value.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
