"""The reads of one privacy group's private store (issue 22): a `LedgerReads` over the
group's own LMDB environment (`<ledger dir>/private/<group id hex>/`, written by
`consortium.ledger.private_groups`), so receipts, logs, code, nonces, storage, eth_call and
gas estimation read a group's private state exactly as the public ledger's read its own.

What differs: the chain id is the group's (`group_chain_id`); a height is a public height
(one private block per public height from the group's creation on, carrying the public
block's hash, time and proposer); calls run with the system contracts read from the public
state at that height (`consortium.evm.public_reads`), as private execution did; each private
transaction (or rejection) knows the public marker transaction that carried it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from consortium.errors import ConsortiumError
from consortium.evm.abc import ExecResult, WorldFactory
from consortium.evm.budget import CallBudget
from consortium.evm.public_reads import PublicReader, cached, public_reads
from consortium.ledger.chain_store import BlockRecord, ChainReader, LogRecord, TxRecord
from consortium.ledger.genesis import AppState
from consortium.ledger.reads import LedgerReads, _hash
from consortium.ledger.state_store import StateStore
from consortium.system.model import SYSTEM_ADDRESSES
from consortium.system.privacy import PRIVACY_ADDRESS

# The accounts a private world reads from the public state (members, roles, freezes, nodes,
# the groups themselves): the system contracts. Private state never holds theirs.
PUBLIC_SYSTEM = frozenset((*SYSTEM_ADDRESSES, PRIVACY_ADDRESS))
# The group store's own database beside the public layout: private tx hash -> the public
# marker transaction's hash (for rejected transactions too)
MARKERS_DB = b"private_markers"
# meta key of the group store: the group id (32 bytes) + its creation height (u64)
GROUP_KEY = b"private_group"


class PrivateReceipt(NamedTuple):
    """A private transaction's receipt fields, its (private) block and logs, and where it
    came from: the public marker transaction and the group."""

    tx: TxRecord
    block: BlockRecord
    logs: list[LogRecord]
    marker_hash: bytes
    group_id: bytes


class PrivateLedger(LedgerReads):
    """One group's private state and history, read like a ledger."""

    def __init__(self, group_id: bytes, store: StateStore, app_state: AppState,
                 genesis_height: int, world: WorldFactory,
                 public_reader: Callable[[int], PublicReader], markers: Any) -> None:
        """`app_state`: the public chain's, with the group's chain id; `genesis_height`: the
        group's creation height (its first private block); `public_reader(height)`: reads of
        the public state after that height; `markers`: the store's MARKERS_DB handle, opened
        by the processor's thread (LMDB opens a database in a write transaction, and py-lmdb
        waits for the writer's lock holding the GIL: opened from an API thread while the
        processor writes, the whole node deadlocked)."""
        super().__init__()
        self.group_id = bytes(group_id)
        self.store = store
        self.chain = ChainReader(store)
        self._app_state = app_state
        self._genesis_height = genesis_height
        self._world = world
        self._pending_nonces = {}  # private transactions have no mempool here
        self._public_reader = public_reader
        self._markers = markers

    def _last_height(self) -> int:
        """The last public height this group's store has processed."""
        return self.store.committed()[0]

    @property
    def genesis_height(self) -> int:
        return self._genesis_height

    def root_at(self, height: int | None = None) -> bytes:
        """The group's private state root after public block `height` (None: the last
        processed)."""
        h = self._height(height)
        root = self.store.root_at(h)
        if root is None:
            raise ConsortiumError(f"no private state at height {h}")
        return root

    def marker_of(self, tx_hash: bytes) -> bytes | None:
        """The hash of the public marker transaction that carried private tx `tx_hash`."""
        with self.store.env.begin(db=self._markers, buffers=False) as txn:
            found = txn.get(bytes(tx_hash))
        return None if found is None else bytes(found)

    def private_receipt(self, tx_hash: str) -> PrivateReceipt | None:
        """A committed private transaction's receipt fields, with its marker and group."""
        found = self.receipt_record(tx_hash)
        if found is None:
            return None
        rec, block, logs = found
        return PrivateReceipt(rec, block, logs, self.marker_of(rec.hash) or b"", self.group_id)

    def transaction_rejection(self, tx_hash: str) -> dict | None:
        """Why private execution refused `tx_hash` (0x hex), or None: {"hash",
        "blockNumber" (the public height), "index" (in that height's private batch list),
        "code", "reason", "markerHash", "privacyGroupId"}."""
        raw = _hash(tx_hash)
        found = self.chain.rejection(raw)
        if found is None:
            return None
        return {
            "hash": "0x" + found.hash.hex(), "blockNumber": found.height, "index": found.index,
            "code": found.code, "reason": found.reason,
            "markerHash": "0x" + (self.marker_of(raw) or b"").hex(),
            "privacyGroupId": "0x" + self.group_id.hex(),
        }

    def _run_call(self, tx: dict, height: int | None, gas: int,
                  budget: CallBudget | None = None) -> ExecResult:
        """eth_call and estimates on the private state, the system contracts read from the
        public state at the same height (as private execution read them)."""
        h = self._height(height)
        with public_reads(PUBLIC_SYSTEM, cached(self._public_reader(h))):
            return super()._run_call(tx, h, gas, budget)
