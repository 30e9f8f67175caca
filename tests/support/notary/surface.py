"""The notary's surface: what the API, the CLI, the client, the console and the docs are
built from."""

from __future__ import annotations

from consortium.apps import surface as kinds
from consortium.apps.surface import Param, Read, Service, Write
from tests.support.notary.reader import NotaryReader

# a read's hash parameter: never DOCUMENT there (it would hash a file on the node)
HASH = kinds.Kind("hash", kinds.hash_bytes, "expected a 0x SHA-256 (64 hex digits)",
                  {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"})

NOTARY = Service("notary", "Notarized documents", NotaryReader, reads=(
        Read("document", "One notarized document with its history",
             rpc="consortium_notaryDocument", rest="/documents/{digest}",
             params=(Param("digest", HASH, "The document's 0x SHA-256."),), nullable=True,
             noun="document", cli="document"),
    ),
    writes=(
        Write("notarize", "notarize", "A notary registers a document by its SHA-256 (the "
              "document stays off chain).", "notarize",
              (Param("document", kinds.DOCUMENT, "The document (hashed here) or its 0x SHA-256."),
               Param("note", kinds.TEXT, "What it is.", default="")), "notarized"),
    ),
)
