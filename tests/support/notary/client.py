"""`NotaryClient`: the Notary contract over a node's JSON-RPC. Its writes come from the
surface (`with_writes`), its reads from the reader (`reads`)."""

from __future__ import annotations

from consortium.apps.service_client import ServiceClient
from consortium.apps.surface import with_writes
from tests.support.notary.reader import NotaryReader
from tests.support.notary.surface import NOTARY


@with_writes(NOTARY)
class NotaryClient(ServiceClient):
    reader = NotaryReader
    reads = ("document", "history")

    def object_id(self, kind: str, topic: bytes) -> str:
        return "0x" + topic.hex()  # a document is named by its hash, not a number
