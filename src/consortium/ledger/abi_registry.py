"""Contract ABIs registered with this node (the explorer's registry), in the ledger's LMDB.

Node-local, never part of consensus: another node knows only the ABIs registered with it, and
nothing here reaches the state root or a block. The API checks an ABI against the deployed
code before it is stored (`consortium.api.explorer`); this module only keeps them, keyed by
the 20-byte address (the `abis` database), the JSON document as its value. Registering an
address again replaces its ABI.
"""

from __future__ import annotations

from consortium.ledger.state_store import StateStore

DB = "abis"


def put_abi(store: StateStore, address: bytes, document: bytes) -> None:
    """Store (or replace) the ABI of `address` in its own small write transaction."""
    with store.env.begin(db=store.dbs[DB], write=True, buffers=False) as txn:
        txn.put(address, document)


def get_abi(store: StateStore, address: bytes) -> bytes | None:
    return store.get(DB, address)
