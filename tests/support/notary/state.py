"""The notary's state over its EVM storage (the state root covers it). Slot 0 maps a
document's hash to its record; the record's fields sit at consecutive slots from there."""

from __future__ import annotations

from consortium.evm.field_types import Address, Text, Uint
from consortium.evm.host import Storage
from consortium.evm.records import BYTES32, Record, StateView, key


class Document(Record):
    digest: bytes = key(BYTES32)  # the mapping key: answered, never stored
    notary: Address
    note: Text
    height: Uint  # 0: never notarized


class NotaryState(StateView):
    DOCUMENTS = 0  # slots are consensus-critical: append new ones, never renumber

    def document(self, digest: bytes) -> Document:
        return Document.load(self.s, Storage.at(self.DOCUMENTS, digest), digest=digest)

    def add(self, digest: bytes, notary: bytes, note: str, height: int) -> None:
        Document(digest=digest, notary=notary, note=note, height=height).store(
            self.s, Storage.at(self.DOCUMENTS, digest))
