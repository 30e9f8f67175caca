"""The free space beside a storage error: a full disk is what LMDB reports as
"mdb_txn_commit: Input/output error" (a full tmpfs), and an operator reading "Input/output
error" looks at the hardware. Where a node stopped on a nearly full disk, or on a storage
error (LMDB's, or the OS's I/O, space or quota error), its exit reason says how much the
disk holding its data has left.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

LOW_DISK_BYTES = 64 << 20  # less free than this (or 5 % of a smaller disk): "is full"
# errors a full disk may be behind (LMDB reports one as EIO): they always get the free space
_SPACE_ERROR = re.compile(
    r"input/output error|no space left|disk quota exceeded|\[Errno (?:5|28|122)\]|"
    r"\b(?:EIO|ENOSPC|EDQUOT)\b", re.IGNORECASE)
# the note `disk_note` adds (a reason that has one is left as it is)
NOTE = re.compile(r"(?:; the disk holding .+ is full \([\d,]+ bytes free\)|"
                  r" \([\d,]+ bytes free on the disk holding .+\))$")


def data_dirs(home: Path) -> list[Path]:
    """Where a node keeps its data: the ledger (`app/`) and CometBFT's databases (`data/`)."""
    return [home / "app", home / "data"]


def _existing(path: Path) -> Path:
    """`path`, or its nearest folder that exists (a data folder not made yet)."""
    while not path.is_dir() and path != path.parent:
        path = path.parent
    return path


def least_free(dirs: list[Path]) -> tuple[Path, int, int] | None:
    """(folder, free bytes, total bytes) of the file system, among those holding `dirs`, with
    the least space free; None if none can be read."""
    found: dict[int, tuple[Path, int, int]] = {}
    for wanted in dirs:
        path = _existing(wanted)
        try:
            device = os.stat(path).st_dev
            usage = shutil.disk_usage(path)
        except OSError:
            continue
        if device not in found:
            found[device] = (wanted, usage.free, usage.total)
    return min(found.values(), key=lambda f: f[1]) if found else None


def is_full(free: int, total: int) -> bool:
    return free < min(LOW_DISK_BYTES, total // 20)


def disk_note(reason: str, dirs: list[Path]) -> str:
    """A failure's `reason` with the free space of the disk holding `dirs` (the one with the
    least): "…; the disk holding DIR is full (N bytes free)" below `LOW_DISK_BYTES` (or 5 %
    of a smaller disk), whatever the reason (a full disk breaks writes of every kind, the
    node's log too); else " (N bytes free on the disk holding DIR)" after an I/O, space or
    quota error. Other reasons, and one noted already, are left as they are."""
    if NOTE.search(reason):
        return reason
    found = least_free(dirs)
    if found is None:
        return reason
    where, free, total = found
    if is_full(free, total):
        return f"{reason}; the disk holding {where} is full ({free:,} bytes free)"
    if _SPACE_ERROR.search(reason):
        return f"{reason} ({free:,} bytes free on the disk holding {where})"
    return reason
