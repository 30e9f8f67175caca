"""The Notary native contract: a notary registers a document's hash once; every read is
open. A real service decorates its class with `@register` (`consortium.evm.native`); the
example is registered only while its test runs, since natives are process-wide."""

from __future__ import annotations

from typing import Any

from consortium.apps.service import ServiceContract, transition
from consortium.evm.native import StateOf, method
from consortium.system.upgrade_plan import NATIVE_VERSION_SLOT
from tests.support.notary.model import MAX_NOTE, NOTARIZED, NOTARY_ADDRESS, NOTARY_ROLE
from tests.support.notary.state import Document, NotaryState

DOCUMENT = Document.abi_type()


class Notary(ServiceContract):
    address = NOTARY_ADDRESS

    DocumentTransition = transition("bytes32 document")

    state = StateOf(NotaryState)

    def dispatch(self, calldata: bytes) -> bytes:
        # added to running chains by an upgrade: refused until genesis or the upgrade sets
        # its version slot
        if not self.storage.get_uint(NATIVE_VERSION_SLOT):
            self.revert("the Notary contract is not enabled on this chain")
        return super().dispatch(calldata)

    @method("notarize(bytes32,string)")
    def notarize(self, digest: bytes, note: str) -> None:
        self.require_role(self.caller, NOTARY_ROLE, "notarize a document")
        raw = self.require_hash(digest, "document hash")
        self.require_text(note, "note", MAX_NOTE, required=False)
        found = self.state.document(raw)
        self.require(not found.height, f"document 0x{raw.hex()} was notarized at height "
                                       f"{found.height}")
        self.state.add(raw, self.caller, note, self.height)
        self.emit(self.DocumentTransition, raw, self.caller, "", NOTARIZED, note or "notarized")

    @method("document(bytes32)", returns=DOCUMENT, view=True)
    def document(self, digest: bytes) -> tuple[Any, ...]:
        return self.state.document(bytes(digest)).abi_tuple()
