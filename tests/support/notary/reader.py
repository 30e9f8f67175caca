"""Reads of the Notary contract as JSON-ready dicts: the same for the client, the API and
the CLI."""

from __future__ import annotations

from typing import Any

from consortium.apps.service import ServiceReader
from consortium.apps.surface import hash_bytes, json_of
from consortium.evm.native import NativeCalls
from tests.support.notary.contract import Notary
from tests.support.notary.model import NOTARY_ADDRESS
from tests.support.notary.state import Document

CALLS = NativeCalls(Notary)
document_json = json_of(Document)


class NotaryReader(ServiceReader):
    address, calls = NOTARY_ADDRESS, CALLS
    histories = {"document": Notary.DocumentTransition}  # kind -> its transition event

    def document(self, digest: bytes | str) -> dict[str, Any] | None:
        """One document by its hash, with its history; None if it was never notarized."""
        raw = hash_bytes(digest)
        found = document_json(self._read("document", raw))
        if not found["height"]:
            return None
        found["history"] = self.history("document", raw)
        return found
