"""The personal-data encryption keyring: ``"id:base64key,id2:base64key"`` parsed and checked.

It knows no settings, so both the settings (which refuse a bad keyring in production) and
``polis.kit.crypto`` (which encrypts with it) import it without importing each other.
The first key encrypts; every key decrypts, so rotating means putting a new key first.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass(frozen=True)
class Keyring:
    current_id: str
    keys: dict[str, bytes]

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        """``"id:base64key,id2:base64key"``; each key decodes to 32 bytes."""
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for entry in filter(None, (part.strip() for part in spec.split(","))):
            key_id, sep, encoded = entry.partition(":")
            if not sep or not _KEY_ID.match(key_id):
                raise ValueError("each encryption key is written id:base64key")
            try:
                key = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"encryption key {key_id!r} is not base64") from exc
            if len(key) != 32:
                raise ValueError(f"encryption key {key_id!r} must be 32 bytes (AES-256)")
            if key_id in keys:
                raise ValueError(f"encryption key id {key_id!r} appears twice")
            keys[key_id] = key
            order.append(key_id)
        if not order:
            raise ValueError("the encryption keyring is empty")
        return cls(current_id=order[0], keys=keys)
