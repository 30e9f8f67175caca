"""A Python client for applications built on a Consortium network."""

from consortium.sdk.client import ConsortiumClient, TxFailed
from consortium.sdk.keys import load_keystore, resolve_signer

__all__ = ["ConsortiumClient", "TxFailed", "load_keystore", "resolve_signer"]
