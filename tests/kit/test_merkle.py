"""RFC 6962 Merkle Tree Hash and audit paths, against the RFC's own recursive definition and
Certificate Transparency's published test vectors."""

from __future__ import annotations

import hashlib

import pytest

from polis.kit import merkle

# The eight leaves of Certificate Transparency's merkle_tree_test and the root of each prefix.
CT_LEAVES = [
    bytes.fromhex(data)
    for data in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(entries: list[bytes]) -> bytes:
    """RFC 6962 §2.1, word for word."""
    if not entries:
        return hashlib.sha256(b"").digest()
    if len(entries) == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = _split(len(entries))
    return hashlib.sha256(b"\x01" + _mth(entries[:k]) + _mth(entries[k:])).digest()


def _path(m: int, entries: list[bytes]) -> list[bytes]:
    """RFC 6962 §2.1.1, word for word."""
    if len(entries) == 1:
        return []
    k = _split(len(entries))
    if m < k:
        return [*_path(m, entries[:k]), _mth(entries[k:])]
    return [*_path(m - k, entries[k:]), _mth(entries[:k])]


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_certificate_transparency_vectors(size: int) -> None:
    assert merkle.root(CT_LEAVES[:size]).hex() == CT_ROOTS[size - 1]


def test_empty_tree_is_the_hash_of_nothing() -> None:
    assert merkle.root([]).hex() == hashlib.sha256(b"").hexdigest()


def test_trees_and_paths_match_the_recursive_definition() -> None:
    for size in range(1, 70):
        entries = [f"ballot-{i}".encode() for i in range(size)]
        expected_root = _mth(entries)
        assert merkle.root(entries) == expected_root
        for index in range(size):
            path = merkle.audit_path(entries, index)
            assert path == _path(index, entries)
            assert merkle.verify_inclusion(entries[index], index, size, path, expected_root)


def test_a_proof_fails_for_another_entry_place_size_or_path() -> None:
    entries = [f"ballot-{i}".encode() for i in range(11)]
    top = merkle.root(entries)
    path = merkle.audit_path(entries, 6)
    assert merkle.verify_inclusion(entries[6], 6, 11, path, top)
    assert not merkle.verify_inclusion(b"ballot-x", 6, 11, path, top)
    assert not merkle.verify_inclusion(entries[6], 5, 11, path, top)
    # A size that gives the leaf another shape of path (in a tree of 7 it is the lone last one).
    assert not merkle.verify_inclusion(entries[6], 6, 7, path, top)
    assert not merkle.verify_inclusion(entries[6], 6, 11, path[:-1], top)
    assert not merkle.verify_inclusion(entries[6], 6, 11, [*path, top], top)
    tampered = [path[0][:-1] + bytes([path[0][-1] ^ 1]), *path[1:]]
    assert not merkle.verify_inclusion(entries[6], 6, 11, tampered, top)
    assert merkle.root_from_path(entries[6], 11, 11, path) is None
    assert merkle.root_from_path(entries[6], -1, 11, path) is None


def test_audit_path_refuses_a_leaf_outside_the_tree() -> None:
    with pytest.raises(IndexError):
        merkle.audit_path([b"a", b"b"], 2)
