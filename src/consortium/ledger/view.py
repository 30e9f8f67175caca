"""A read-only view of a running node's ledger from another process.

LMDB serves many processes at once: the node writes, a view reads every committed block the
moment its write transaction commits, through the same `LedgerReads` the node's own API
uses. What only the node's memory holds (its mempool's pending nonces, the sender cache
CheckTx fills) is not here: `pending_nonce` counts what this process itself sent
(`note_sent`) over the committed nonce, back to the first it learns will not commit
(`note_gone`), and, when the API's process links the view to its node (`node`), what the
node's mempool admitted (its peers' transactions too). An ABI registered with the explorer
is handed to the node to store (`store_abi`)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import consortium.evm  # noqa: F401  (selects the keccak backend before eth_hash loads)
import consortium.system  # noqa: F401  (the system contracts: the chain's own rules)
from consortium.errors import ConsortiumError
from consortium.evm.revm_engine import (
    transaction_batch_parser,
    transaction_parser,
    world_factory,
)
from consortium.ledger.chain_store import ChainReader
from consortium.ledger.genesis import AppState
from consortium.ledger.reads import LedgerReads
from consortium.ledger.state_store import StateStore
from consortium.ledger.transactions import SenderCache


class NodeRequests(Protocol):
    """What a view asks the node it reads (over the API process's link to it)."""

    def store_abi(self, address: bytes, document: bytes) -> None: ...

    def pending_nonces(self, addresses: Sequence[bytes]) -> list[int] | None: ...


class LedgerView(LedgerReads):
    """Committed blocks, state, receipts and logs of the ledger at `path`, never written."""

    def __init__(self, path: Path, engine: str = "revm") -> None:
        super().__init__()
        if not (Path(path) / "data.mdb").is_file():
            raise ConsortiumError(f"no ledger at {path}: start its node first")
        self._world, self.engine = world_factory(engine)
        self.store = StateStore(Path(path), readonly=True)
        self.chain = ChainReader(self.store)
        self.senders = SenderCache(parse=transaction_parser(self.engine),
                                   parse_many=transaction_batch_parser(self.engine))
        self._pending_nonces: dict[bytes, int] = {}
        self._sent_lock = threading.Lock()
        # the node this view reads, when the API's process links it (`check_relay`): it
        # stores the ABIs registered here and says its mempool's pending nonces
        self.node: NodeRequests | None = None
        self._app_state: AppState | None = None
        self._genesis_height = 0
        self._load_genesis()

    def _load_genesis(self) -> None:
        genesis = self._stored_genesis()
        if genesis is not None:
            self._app_state, self._genesis_height = genesis

    def _app(self) -> AppState:
        if self._app_state is None:
            self._load_genesis()  # the node may have run InitChain since this view opened
        return super()._app()

    def _last_height(self) -> int:
        height, _ = self.store.committed()
        if self._app_state is None:
            self._load_genesis()
        return height if height else self._genesis_height

    def info(self) -> tuple[int, bytes]:
        return self.store.committed()

    def pending_nonce(self, address: str) -> int:
        """The next nonce counting what this process sent and, asked over the link, what
        the node's mempool admitted; without the node's answer, this process's count."""
        own = super().pending_nonce(address)
        if self.node is None:
            return own
        told = self.node.pending_nonces([bytes.fromhex(address.lower().removeprefix("0x"))])
        return own if told is None else max(own, told[0])

    def note_sent(self, sender: bytes, nonce: int) -> None:
        """A transaction of `sender` with `nonce` went to the engine from this process."""
        with self._sent_lock:
            if nonce + 1 > self._pending_nonces.get(sender, 0):
                self._pending_nonces[sender] = nonce + 1

    def note_gone(self, sender: bytes, nonce: int) -> None:
        """A transaction of `sender` with `nonce` this process sent will not commit (a block
        refused it, or the mempool lost it and refused it again): the chain's next nonce for
        the sender is at most `nonce` now, as the node's mempool counts after its recheck
        (the sender's later transactions there wait on the gap). A nonce the chain already
        passed tells nothing: those after it may still be pending."""
        committed = self._state_at(None).get_nonce(sender)
        with self._sent_lock:
            if committed <= nonce < self._pending_nonces.get(sender, 0):
                self._pending_nonces[sender] = nonce

    def store_abi(self, address: bytes, document: bytes) -> None:
        """Have the node store an ABI registered with the explorer: this view writes
        nothing. Raises ConsortiumError naming why it was not stored."""
        if self.node is None:
            raise ConsortiumError("this ledger view is read-only and linked to no node: the "
                                  "ABI was not stored")
        self.node.store_abi(address, document)

    def close(self) -> None:
        self.store.close()
