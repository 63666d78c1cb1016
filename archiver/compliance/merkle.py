"""Merkle trees over manifest digests, so one RFC 3161 timestamp covers a whole batch of captures.

The tree is RFC 6962's (Certificate Transparency, section 2.1), with its domain separation:

    leaf  = SHA-256(0x00 || manifest sha256)          (the manifest's 32-byte digest, not its hex)
    node  = SHA-256(0x01 || left || right)
    MTH(D[0:n]) = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two below n

A batch of one is a tree of one: the root is the leaf and the inclusion path is empty. Each capture
keeps its inclusion path, a list of ``{"side": "left" | "right", "hash": <hex>}`` from the leaf up,
``side`` saying on which side of the running hash the sibling sits; folding it gives the root
whatever the tree's shape, so a verifier needs nothing but the path.

What the TSA is asked to timestamp is the root itself: the request's message imprint is the root
(SHA-256 of the root's *preimage*, ``0x00 || digest`` for a tree of one, ``0x01 || left || right``
otherwise), so `openssl ts -verify -digest <root hex>` checks a token directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
DIGEST_SIZE = 32
# A path longer than this cannot come from a batch this code makes (2**64 leaves); hostile input.
MAX_PATH = 64
SIDES = ("left", "right")


def leaf_preimage(digest: bytes) -> bytes:
    """``0x00 || digest``: what a leaf hashes. ValueError unless `digest` is 32 bytes."""
    if not isinstance(digest, bytes) or len(digest) != DIGEST_SIZE:
        raise ValueError("a leaf is made of a 32-byte SHA-256 digest")
    return LEAF_PREFIX + digest


def leaf_hash(digest: bytes) -> bytes:
    """The leaf of a manifest whose SHA-256 is `digest` (32 bytes): SHA-256(0x00 || digest)."""
    return hashlib.sha256(leaf_preimage(digest)).digest()


def node_preimage(left: bytes, right: bytes) -> bytes:
    """``0x01 || left || right``: what an inner node hashes."""
    return NODE_PREFIX + left + right


def node_hash(left: bytes, right: bytes) -> bytes:
    """An inner node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(node_preimage(left, right)).digest()


@dataclass(frozen=True)
class Step:
    """One step of an inclusion path: the sibling's hash and the side it sits on."""

    side: str
    hash: bytes

    def to_json(self) -> dict[str, str]:
        """``{"side": "left" | "right", "hash": <64 hex>}``."""
        return {"side": self.side, "hash": self.hash.hex()}


@dataclass(frozen=True)
class MerkleTree:
    """A tree over `leaves` (leaf hashes, in order): its `root`, the root's `preimage` (what a TSA
    request hashes) and each leaf's inclusion path (`path(i)`)."""

    leaves: tuple[bytes, ...]
    root: bytes
    preimage: bytes
    paths: tuple[tuple[Step, ...], ...]

    def path(self, index: int) -> tuple[Step, ...]:
        """The inclusion path of leaf `index`, from the leaf up (empty for a tree of one)."""
        return self.paths[index]


def build_tree(digests: Sequence[bytes]) -> MerkleTree:
    """The RFC 6962 tree over manifest digests (each 32 bytes, in the order given).

    ValueError for no digests or a digest that is not 32 bytes."""
    if not digests:
        raise ValueError("a Merkle tree needs at least one leaf")
    leaves = tuple(leaf_hash(d) for d in digests)
    paths: list[list[Step]] = [[] for _ in leaves]

    def mth(lo: int, hi: int) -> tuple[bytes, bytes]:
        """(hash, preimage) of the subtree over leaves[lo:hi]; appends siblings to the paths below it."""
        if hi - lo == 1:
            return leaves[lo], leaf_preimage(digests[lo])
        k = 1
        while k * 2 < hi - lo:
            k *= 2
        left, _ = mth(lo, lo + k)
        right, _ = mth(lo + k, hi)
        for i in range(lo, lo + k):
            paths[i].append(Step("right", right))
        for i in range(lo + k, hi):
            paths[i].append(Step("left", left))
        pre = node_preimage(left, right)
        return hashlib.sha256(pre).digest(), pre

    root, preimage = mth(0, len(leaves))
    return MerkleTree(leaves, root, preimage, tuple(tuple(p) for p in paths))


def fold_path(leaf: bytes, path: Sequence[Step]) -> tuple[bytes, bytes | None]:
    """(root, the root's preimage or None for an empty path) that `path` joins `leaf` to."""
    h, pre = leaf, None
    for step in path:
        pre = node_preimage(step.hash, h) if step.side == "left" else node_preimage(h, step.hash)
        h = hashlib.sha256(pre).digest()
    return h, pre


def parse_path(doc: object) -> list[Step]:
    """A stored inclusion path (a JSON list of ``{"side", "hash"}``) as Steps; ValueError with a
    one-line reason for anything else (hostile input: bounded, nothing echoed at length)."""
    if not isinstance(doc, list):
        raise ValueError("the inclusion path is not a list")
    if len(doc) > MAX_PATH:
        raise ValueError(f"the inclusion path has {len(doc)} steps, more than {MAX_PATH}")
    steps = []
    for i, step in enumerate(doc):
        if not isinstance(step, dict) or set(step) != {"side", "hash"}:
            raise ValueError(f"inclusion path step {i} is not {{side, hash}}")
        side, value = step["side"], step["hash"]
        if side not in SIDES:
            raise ValueError(f"inclusion path step {i} has side {str(side)[:20]!r}, not left or right")
        steps.append(Step(side, hex_digest(value, f"inclusion path step {i}")))
    return steps


def hex_digest(value: object, what: str) -> bytes:
    """The 32 bytes of a lowercase SHA-256 hex string; ValueError naming `what` otherwise."""
    if not isinstance(value, str) or len(value) != 2 * DIGEST_SIZE or value.lower() != value:
        raise ValueError(f"{what} is not a lowercase SHA-256 hex digest")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"{what} is not a lowercase SHA-256 hex digest") from None
