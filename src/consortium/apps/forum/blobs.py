"""Documents' bytes off chain: the store a node keeps for documents anchored by hash only
(`<node app dir>/forum-blobs/<sha256>`, served by its REST API), and the check every download
passes: the bytes must have the SHA-256 the chain records, or they are refused."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from consortium.errors import ConfigError, ConsortiumError

BLOB_DIR_NAME = "forum-blobs"


class BlobMismatch(ConsortiumError):
    """Bytes whose SHA-256 is not the one the chain records: refused, never used."""


def sha256_hex(data: bytes) -> str:
    return "0x" + hashlib.sha256(data).hexdigest()


def verify_blob(data: bytes, expected: str, where: str) -> bytes:
    """`data` if its SHA-256 is `expected` (0x hex); BlobMismatch naming both otherwise."""
    actual = sha256_hex(data)
    if actual != expected.lower():
        raise BlobMismatch(f"refused the document from {where}: its SHA-256 is {actual}, but "
                           f"the chain records {expected.lower()} (tampered or another file)")
    return data


def parse_sha(value: str) -> str:
    """A 0x SHA-256 (64 hex digits), lower-case; ValueError otherwise."""
    digits = value.strip().lower().removeprefix("0x")
    if len(digits) != 64 or any(c not in "0123456789abcdef" for c in digits):
        raise ValueError(f"{value!r} is not a SHA-256 (0x and 64 hex digits)")
    return "0x" + digits


class BlobStore:
    """A node's folder of anchored documents, one file per SHA-256 (as anchored: ciphertext
    for private channels)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, sha: str) -> Path:
        return self.root / parse_sha(sha)[2:]

    def get(self, sha: str) -> bytes | None:
        try:
            return self.path(sha).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, sha: str, data: bytes) -> Path:
        """Keep `data` under its hash (checked first); written atomically."""
        verify_blob(data, parse_sha(sha), "the upload")
        self.root.mkdir(parents=True, exist_ok=True)
        write_whole(self.path(sha), data)
        return self.path(sha)


def write_whole(dest: Path, data: bytes) -> None:
    """Write `data` to `dest` whole or not at all: a temporary file beside it, moved into
    place."""
    tmp = dest.with_name(f".{dest.name}.partial")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {dest}: {exc}") from None


def node_blob_store(ledger: Any) -> BlobStore | None:
    """The blob store next to a node's ledger (its LMDB folder); None without a folder."""
    store = getattr(ledger, "store", None)
    env = getattr(store, "env", None)
    if env is None:
        return None
    return BlobStore(Path(env.path()) / BLOB_DIR_NAME)


def read_source(source: str | Path | bytes) -> tuple[bytes, str]:
    """A document's bytes and a default name, from bytes or a file."""
    if isinstance(source, bytes):
        return source, "document"
    try:
        return Path(source).read_bytes(), Path(source).name
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc}") from None

