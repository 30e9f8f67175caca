"""A check of an LMDB data file before it is opened: LMDB maps the file into memory, so a
file cut short (a copy that stopped, a full disk, a `truncate`) is not an error it reports
but a SIGBUS that kills the process at the first read past the end.

An LMDB file begins with two meta pages (pages 0 and 1, each `page size` bytes); each holds
the page size (in the free-page database's `md_pad`), the last page in use and the id of
the transaction that wrote it. The newer meta (the higher id) is the database; the file
must hold every page up to its last one.
"""

from __future__ import annotations

import struct
from pathlib import Path

MAGIC = 0xBEEFC0DE
_PAGE_HEADER = 16  # pgno (8), pad (2), flags (2), lower/upper (4)
# magic, version, (address), mapsize, the free db (its md_pad: the page size; the rest
# skipped), (the main db), last_pg, txnid
_META = struct.Struct("<II8xQI44x48xQQ")
_MIN_PAGE, _MAX_PAGE = 512, 1 << 16


def _meta(data: bytes, offset: int) -> tuple[int, int, int] | None:
    """(page size, last page, txn id) of the meta page at `offset`, None if it is none."""
    if len(data) < offset + _PAGE_HEADER + _META.size:
        return None
    magic, _version, _mapsize, psize, last_pg, txnid = _META.unpack_from(
        data, offset + _PAGE_HEADER)
    if magic != MAGIC or not _MIN_PAGE <= psize <= _MAX_PAGE or psize & (psize - 1):
        return None
    return psize, last_pg, txnid


def lmdb_damage(path: Path) -> str | None:
    """Why the LMDB data file at `path` cannot be opened safely, or None (also when it does
    not exist: LMDB makes a new one)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(_PAGE_HEADER + _META.size)
            first = _meta(head, 0)
            second = None
            if first is not None:
                f.seek(first[0])
                second = _meta(f.read(_PAGE_HEADER + _META.size), 0)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if size == 0:
        return None  # made but never written: LMDB initialises it
    if first is None:
        return f"is not an LMDB file, or its first page is damaged ({size} bytes)"
    metas = [m for m in (first, second) if m is not None and m[0] == first[0]]
    psize, last_pg, _ = max(metas, key=lambda m: m[2])
    needed = (last_pg + 1) * psize
    if size < needed:
        return f"is truncated: {size} bytes, its last page ends at byte {needed}"
    return None
