"""External id hashes: an asset's external identifier (a parcel number, a VIN…) reaches the
chain only as HMAC-SHA256(consortium key, "consortium-asset-v1" 0x1F normalised id), normalised
like an invoice number, so the same id typed by two members collides while, without the
consortium key, nobody links a hash to an id by guessing."""

from __future__ import annotations

import hashlib
import hmac

from consortium.apps.invoices.fingerprint import KEY_BYTES, SEPARATOR, FieldError, normalised_text
from consortium.errors import ConfigError

DOMAIN = "consortium-asset-v1"
MAX_EXTERNAL_ID = 256  # characters


def normalise_external_id(value: str) -> str:
    try:
        return normalised_text(value, "the external id", " ", MAX_EXTERNAL_ID)
    except FieldError as exc:
        raise ConfigError(str(exc)) from None


def external_id_hash(key: bytes, external_id: str) -> bytes:
    """The 32-byte hash of an external id under the consortium key."""
    if len(key) != KEY_BYTES:
        raise ConfigError(f"the consortium key must be {KEY_BYTES} bytes")
    message = (DOMAIN + SEPARATOR + normalise_external_id(external_id)).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).digest()
