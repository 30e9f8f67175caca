"""Which table files a goleveldb MANIFEST says its database is made of.

CometBFT keeps its block store and state in goleveldb. A backup copies those folders file by
file while the engine writes them (see backup.py) and checks the copy with this: every table
the copied MANIFEST lists must be in the copy at its recorded size, or goleveldb would refuse
to open it. The MANIFEST is a goleveldb journal (32 KiB blocks of chunks, each with a 7-byte
header: CRC, little-endian length, type) of version edits, which are uvarint-tagged fields
(syndtr/goleveldb, leveldb/journal and leveldb/session_record.go). A torn last record, as a
copy of a file being appended to may have, is ignored, as goleveldb ignores it.
"""

from __future__ import annotations

BLOCK = 32 * 1024
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
# version-edit field tags
COMPARER, JOURNAL, NEXT_FILE, SEQ, COMPACT_PTR, DEL_TABLE, ADD_TABLE, PREV_JOURNAL = (
    1, 2, 3, 4, 5, 6, 7, 9)


class ManifestError(ValueError):
    """The bytes are not a goleveldb MANIFEST this reader understands."""


def live_tables(manifest: bytes) -> dict[int, int]:
    """Table number -> size in bytes, for every table the MANIFEST's version holds."""
    tables: dict[int, int] = {}
    for record in _records(manifest):
        for tag, value in _edit_fields(record):
            if tag == ADD_TABLE:
                tables[value[0]] = value[1]
            elif tag == DEL_TABLE:
                tables.pop(value[0], None)
    return tables


def table_file_names(number: int) -> tuple[str, str]:
    """The names goleveldb may give table `number` (current, then legacy)."""
    return f"{number:06d}.ldb", f"{number:06d}.sst"


def _records(data: bytes) -> list[bytes]:
    records: list[bytes] = []
    pending: bytearray | None = None
    at = 0
    while at + HEADER <= len(data):
        room = BLOCK - at % BLOCK
        if room < HEADER:  # block trailer: zero padding
            at += room
            continue
        length = int.from_bytes(data[at + 4:at + 6], "little")
        kind = data[at + 6]
        start, end = at + HEADER, at + HEADER + length
        if kind == 0 and length == 0:
            at += room  # a zeroed (preallocated) rest of block
            continue
        if end > len(data) or length > room - HEADER:
            break  # torn last record
        chunk = data[start:end]
        at = end
        if kind == FULL:
            records.append(chunk)
            pending = None
        elif kind == FIRST:
            pending = bytearray(chunk)
        elif kind in (MIDDLE, LAST) and pending is not None:
            pending += chunk
            if kind == LAST:
                records.append(bytes(pending))
                pending = None
        else:
            raise ManifestError(f"unexpected chunk type {kind} at byte {at}")
    return records


def _edit_fields(record: bytes) -> list[tuple[int, tuple[int, ...]]]:
    fields: list[tuple[int, tuple[int, ...]]] = []
    reader = _Reader(record)
    while not reader.done():
        tag = reader.uvarint()
        if tag == COMPARER:
            reader.bytes_()
            fields.append((tag, ()))
        elif tag in (JOURNAL, NEXT_FILE, SEQ, PREV_JOURNAL):
            fields.append((tag, (reader.uvarint(),)))
        elif tag == COMPACT_PTR:
            reader.uvarint()
            reader.bytes_()
            fields.append((tag, ()))
        elif tag == DEL_TABLE:
            reader.uvarint()  # level
            fields.append((tag, (reader.uvarint(),)))
        elif tag == ADD_TABLE:
            reader.uvarint()  # level
            number, size = reader.uvarint(), reader.uvarint()
            reader.bytes_()  # smallest key
            reader.bytes_()  # largest key
            fields.append((tag, (number, size)))
        else:
            raise ManifestError(f"unknown version-edit field {tag}")
    return fields


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def done(self) -> bool:
        return self._at >= len(self._data)

    def uvarint(self) -> int:
        value = shift = 0
        while True:
            if self._at >= len(self._data) or shift > 63:
                raise ManifestError("truncated varint in a version edit")
            byte = self._data[self._at]
            self._at += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def bytes_(self) -> bytes:
        length = self.uvarint()
        if self._at + length > len(self._data):
            raise ManifestError("truncated field in a version edit")
        value = self._data[self._at:self._at + length]
        self._at += length
        return value
