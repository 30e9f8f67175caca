"""External id hashes: an asset's external identifier (a parcel number, a VIN…) reaches the
chain only as HMAC-SHA256(consortium key, "consortium-asset-v1" 0x1F normalised id), normalised
like an invoice number, so the same id typed by two members collides while, without the
consortium key, nobody links a hash to an id by guessing."""

from __future__ import annotations

from consortium.apps.invoices.fingerprint import SEPARATOR, FieldError, keyed_hash, normalised_text
from consortium.errors import as_config_error

DOMAIN = "consortium-asset-v1"
MAX_EXTERNAL_ID = 256  # characters


def normalise_external_id(value: str) -> str:
    with as_config_error(FieldError):
        return normalised_text(value, "the external id", " ", MAX_EXTERNAL_ID)


def external_id_hash(key: bytes, external_id: str) -> bytes:
    """The 32-byte hash of an external id under the consortium key."""
    return keyed_hash(key, (DOMAIN + SEPARATOR + normalise_external_id(external_id)).encode())
