"""Merkle Tree Hash and audit paths of RFC 6962 §2.1 (Certificate Transparency), SHA-256.

Written here rather than taken from a library: the algorithm is twenty lines, the RFC pins it
exactly, and a third party re-implements it from our docs to check an election; a dependency
would hide the very thing they must be able to read. The tests check it against the RFC's
recursive definition and against Certificate Transparency's published test vectors.

- ``MTH({}) = SHA-256()``; ``MTH({d}) = SHA-256(0x00 || d)``;
- ``MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))`` with ``k`` the largest power of two
  smaller than ``n``.

Built level by level from the leaves, pairing neighbours and carrying a lone last node up
unchanged: the same tree as the recursive definition, in O(n) hashes without recursion.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


def leaf_hash(entry: bytes) -> bytes:
    """The hash of one leaf: ``SHA-256(0x00 || entry)``."""
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _levels(entries: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first, root last (non-empty input)."""
    level = [leaf_hash(entry) for entry in entries]
    levels = [level]
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])  # the lone right-most node moves up unchanged
        level = paired
        levels.append(level)
    return levels


def root(entries: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of ``entries`` in the order given."""
    if not entries:
        return hashlib.sha256(b"").digest()
    return _levels(entries)[-1][0]


def audit_path(entries: Sequence[bytes], index: int) -> list[bytes]:
    """The RFC 6962 §2.1.1 audit path of leaf ``index``: sibling hashes from the leaf to the
    root."""
    if not 0 <= index < len(entries):
        raise IndexError(f"leaf {index} is outside a tree of {len(entries)}")
    path: list[bytes] = []
    for level in _levels(entries)[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        index //= 2
    return path


def root_from_path(entry: bytes, index: int, tree_size: int, path: Sequence[bytes]) -> bytes | None:
    """The root that ``path`` proves for ``entry`` at ``index`` in a tree of ``tree_size``
    leaves, or None when the path cannot belong to such a tree (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < tree_size:
        return None
    fn, sn = index, tree_size - 1
    digest = leaf_hash(entry)
    for sibling in path:
        if sn == 0:
            return None
        if fn % 2 == 1 or fn == sn:
            digest = node_hash(sibling, digest)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            digest = node_hash(digest, sibling)
        fn >>= 1
        sn >>= 1
    return digest if sn == 0 else None


def verify_inclusion(
    entry: bytes, index: int, tree_size: int, path: Sequence[bytes], expected_root: bytes
) -> bool:
    """Whether ``path`` proves ``entry`` is leaf ``index`` of the tree whose root is
    ``expected_root``."""
    return root_from_path(entry, index, tree_size, path) == expected_root
