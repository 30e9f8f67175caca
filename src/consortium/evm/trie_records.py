"""Trie node records: a node's RLP followed by its locator, the heights at which the
stored nodes it refers to are kept (see `consortium.ledger.state_store`). The Rust engine
writes and reads them itself (native/revm_engine/src/trie.rs); these are Python's readers
and writers of the same format, for py-evm and for content-addressed databases.
"""

from __future__ import annotations

import rlp

from consortium.errors import ConsortiumError

BLANK_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")


def put_varint(out: bytearray, n: int) -> None:
    """LEB128: seven bits a byte, low first, the high bit set while more follow."""
    while True:
        byte = n & 0x7F
        n >>= 7
        if not n:
            out.append(byte)
            return
        out.append(byte | 0x80)


def read_varints(data: bytes) -> list[int]:
    out, n, shift = [], 0, 0
    for byte in data:
        n |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            if shift > 63:
                raise ConsortiumError("corrupt trie node record: locator number too long")
        else:
            out.append(n)
            n, shift = 0, 0
    if shift:
        raise ConsortiumError("corrupt trie node record: short locator")
    return out


def rlp_length(record: bytes) -> int:
    """How many bytes of `record` its leading RLP list takes (the rest is its locator)."""
    first = record[0]
    if first < 0xC0:
        raise ConsortiumError("corrupt trie node record: a node is an RLP list")
    if first <= 0xF7:
        return 1 + first - 0xC0
    n = first - 0xF7
    return 1 + n + int.from_bytes(record[1:1 + n], "big")


def node_refs(node: bytes) -> tuple[list[bytes], bytes | None]:
    """What a trie node (its RLP) refers to: (its hashed children in order, None), or for a
    leaf ([], its value) — in the state trie the value is an account."""
    items = rlp.decode(node)
    if len(items) == 17:
        return [c for c in items[:16] if isinstance(c, bytes) and len(c) == 32], None
    path, tail = items
    if path and path[0] >> 4 >= 2:  # hex-prefix flag 2 or 3: a leaf
        return [], tail
    return ([tail] if isinstance(tail, bytes) and len(tail) == 32 else []), None


def account_links(value: bytes) -> tuple[bytes, bytes]:
    """An account leaf's storage root and code hash."""
    fields = rlp.decode(value)
    return bytes(fields[2]), bytes(fields[3])
