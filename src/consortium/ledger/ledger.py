"""The `Ledger`: what the ABCI application calls, in the order CometBFT calls it, and the
reads the API makes.

It owns the node's LMDB store and delegates: transaction checks to `transactions`, block
execution to `executor`, storage to `state_store` / `chain_store`. Its reads answer records;
the API shapes them into Ethereum JSON (`consortium.api.eth_json`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import consortium.evm  # noqa: F401  (selects the keccak backend before eth_hash loads)
import consortium.system  # noqa: F401  (the system contracts: the chain's own rules)
from consortium.errors import ConsortiumError, TxError, TxTooLarge
from consortium.evm.abc import CachingWorldStateAPI, WorldStateAPI
from consortium.evm.chain_rules import EVM_CLOCK_RULE
from consortium.evm.engine import EMPTY_ROOT
from consortium.evm.header import (
    ZERO_ADDRESS,
    ZERO_HASH,
    BlockEnv,
)
from consortium.evm.native import NativeContract, register
from consortium.evm.revm_engine import (
    transaction_batch_parser,
    transaction_parser,
    world_factory,
)
from consortium.ledger import abi_registry, address_index
from consortium.ledger.chain_store import (
    BlockRecord,
    ChainReader,
    block_rows,
    write_block,
    write_rows,
)
from consortium.ledger.executor import BlockExecutor, PendingBlock, hex0x
from consortium.ledger.genesis import AppState
from consortium.ledger.genesis_state import build_genesis
from consortium.ledger.reads import LedgerReads
from consortium.ledger.state_store import StateStore, TrieNodeDB, u64
from consortium.ledger.transactions import (
    MAX_TX_BYTES,
    SenderCache,
    SignedTx,
    check_admission,
)
from consortium.ledger.types import BlockContext, BlockOutcome, CheckOutcome
from consortium.system.access import AccessView, registers_node

log = logging.getLogger("consortium.ledger")

BLOCKHASH_WINDOW = 256
# Trie nodes loaded into the revm engine's cache when a ledger opens: the top of the state
# trie, breadth first (at a million accounts its top five levels are ~70,000 nodes, ~60 MB),
# so that a block's reads fetch little more than its accounts' leaves.
WARM_NODES = 100_000


class Ledger(LedgerReads):
    """One node's ledger: EVM state, blocks, receipts and indexes in one LMDB directory."""

    def __init__(self, path: Path, engine: str = "revm",
                 natives: Mapping[bytes, type[NativeContract]] | None = None) -> None:
        super().__init__()
        # The native contracts this chain serves, handed in by the node's startup
        # (`consortium.natives.chain_natives`); None: those registered in this process when
        # genesis is built.
        self._natives = None if natives is None else dict(natives)
        for cls in (natives or {}).values():
            register(cls)  # served by both engines from here on (idempotent)
        # The execution engine ("revm" or "py-evm"); revm falls back to py-evm if not built.
        self._world, self.engine = world_factory(engine)
        self.store = StateStore(Path(path))
        self.chain = ChainReader(self.store)
        # the explorer's address index: on by default (the bench turns it off to compare)
        self.index_addresses = True
        self.senders = SenderCache(parse=transaction_parser(self.engine),
                                   parse_many=transaction_batch_parser(self.engine))
        # Consensus calls (init_chain, finalize_block, commit) and mempool calls (check_tx)
        # may come from different threads: CheckTx only reads committed state, so it waits
        # only while Commit swaps that state, not while a block executes.
        self._lock = threading.RLock()
        self._mempool_lock = threading.Lock()
        self._pending: PendingBlock | None = None
        self._pending_nonces: dict[bytes, int] = {}
        # what each sender's admitted, uncommitted transactions may spend (gas × fee cap +
        # value): a balance that covers one of them is not counted again for the next
        self._pending_costs: dict[bytes, int] = {}
        self._recheck_resets = False  # set by Commit (`_carry_pending`)
        # The system contracts' answers (member accounts, frozen accounts, admitted nodes) as
        # of the committed state; kept across blocks that do not change those contracts.
        self._access: AccessView | None = None
        self._app_state: AppState | None = None
        self._genesis_height = 0
        self._executor: BlockExecutor | None = None
        self._check_state: WorldStateAPI | None = None
        self._recent_hashes: list[bytes] = []
        # the newest committed block, the next one's parent (not decoded again per block)
        self._last_block: BlockRecord | None = None
        self._clock_rule = 1  # the committed state's EVM clock rule (`block_timestamp`)
        try:
            self._load()
        except BaseException:
            self.store.close()
            raise

    def _load(self) -> None:
        self._last_block = None
        address_index.prepare(self.store)
        genesis = self._stored_genesis()
        if genesis is None:
            return
        self._configure(*genesis)
        height, _ = self.store.committed()
        self._recent_hashes = self.chain.recent_hashes(self._last_height(), BLOCKHASH_WINDOW)
        self._clock_rule = self._read_clock_rule()
        warmed = self._warm()
        log.info("ledger opened at height %d (engine %s%s)", height, self.engine,
                 f", {warmed:,} trie nodes cached" if warmed else "")

    def _configure(self, app_state: AppState, genesis_height: int) -> None:
        self._app_state = app_state
        self._genesis_height = genesis_height
        self._access = None
        self._executor = BlockExecutor(
            self.store, self.senders, app_state.eth_chain_id, app_state.block_gas_limit,
            self._world,
        )
        self._check_state = None

    def _last_height(self) -> int:
        """Height of the newest committed block, the genesis counting as its own height."""
        height, _ = self.store.committed()
        return height if height else self._genesis_height

    # --- Info: on every start -----------------------------------------------------------

    def info(self) -> tuple[int, bytes]:
        """Last committed height (0 before the first block) and app hash (b"" before
        InitChain), so CometBFT replays exactly the blocks not persisted here."""
        return self.store.committed()

    def reload(self) -> None:
        """Open what a state-sync snapshot restore just wrote, as a start would."""
        with self._lock:
            self._pending = None
            self._load()

    # --- InitChain: once, at genesis ----------------------------------------------------

    def init_chain(self, app_state: AppState, initial_height: int) -> bytes:
        """Build the genesis state: alloc balances and the native contracts' accounts.
        Persisted at once (as the block before `initial_height`), so a node that dies before
        its first Commit restarts initialised. Calling it again with the same genesis (the
        engine does, if no block was committed) answers the same root."""
        with self._lock:
            height, app_hash = self.store.committed()
            if height:
                raise ConsortiumError(f"init_chain called on a ledger at height {height}")
            genesis_height = max(initial_height - 1, 0)
            trie_db = self.store.trie_db(write_height=genesis_height)
            root = build_genesis(trie_db, app_state, self._natives)
            block = BlockRecord(
                number=genesis_height, hash=ZERO_HASH, parent_hash=ZERO_HASH, timestamp=0,
                miner=ZERO_ADDRESS, gas_limit=app_state.block_gas_limit, gas_used=0,
                state_root=root, prevrandao=ZERO_HASH, bloom=b"\x00" * 256, tx_hashes=(),
            )
            doc = {"app_state": app_state.to_json(), "genesis_height": genesis_height}
            with self.store.write() as txn:
                trie_db.flush_into(txn, self.store)
                d = self.store.dbs
                self.store.put_root(txn, genesis_height, root, trie_db.location(root))
                write_block(self.store, txn, block, (), ())
                txn.put(b"genesis", json.dumps(doc, sort_keys=True).encode(), db=d["meta"])
                txn.put(b"app_hash", root, db=d["meta"])
            with self._mempool_lock:
                self._configure(app_state, genesis_height)
                self._pending_nonces = {}
                self._pending_costs = {}
            self._recent_hashes = []
            self._last_block = block
            self._clock_rule = app_state.evm_clock
            self._pending = None
            log.info("genesis at height %d, state root %s", genesis_height, root.hex())
            return root

    # --- CheckTx: before the mempool, and again after each block ------------------------

    def check_tx(self, raw: bytes, *, recheck: bool = False) -> CheckOutcome:
        """Admit a transaction to the mempool or say why not. Never executes code.
        Accepted transactions bump the sender's pending nonce, which Commit carries over
        (`_carry_pending`); a recheck after a Commit rebuilds them in order instead."""
        raw = bytes(raw)
        if len(raw) > MAX_TX_BYTES:
            return CheckOutcome(
                code=TxTooLarge.abci_code,
                log=f"transaction is {len(raw)} bytes, the limit is {MAX_TX_BYTES}",
            )
        with self._mempool_lock:
            if self._app_state is None:
                return CheckOutcome(code=TxError.abci_code, log="ledger not initialised")
            if recheck and self._recheck_resets:  # the first recheck after a Commit
                self._recheck_resets = False
                self._pending_nonces = {}
                self._pending_costs = {}
            try:
                stx = self.senders.decode(raw, self._app_state.eth_chain_id)
            except TxError as err:
                return CheckOutcome(code=err.abci_code, log=err.message)
            tx_hash = hex0x(stx.hash)
            try:
                self._check(stx)
            except TxError as err:
                return CheckOutcome(code=err.abci_code, log=err.message, sender=hex0x(stx.sender),
                                    nonce=stx.nonce, tx_hash=tx_hash)
            self._pending_nonces[stx.sender] = stx.nonce + 1
            self._pending_costs[stx.sender] = self._pending_costs.get(stx.sender, 0) + stx.max_cost
            return CheckOutcome(code=0, gas_wanted=stx.gas, sender=hex0x(stx.sender),
                                nonce=stx.nonce, tx_hash=tx_hash)

    def _check(self, stx: SignedTx) -> None:
        assert self._app_state is not None
        state = self._committed_state()
        # a carried pending nonce may trail the committed one (the sender's transactions
        # reached the chain through other nodes)
        next_nonce = max(self._pending_nonces.get(stx.sender, 0), state.get_nonce(stx.sender))
        check_admission(
            stx, permission=self._committed_access().refusal,
            block_gas_limit=self._app_state.block_gas_limit,
            block_gas_used=0, next_nonce=next_nonce, balance=state.get_balance(stx.sender),
            sender_has_code=bool(state.get_code(stx.sender)),
            pending_cost=self._pending_costs.get(stx.sender, 0),
        )

    def _committed_state(self) -> WorldStateAPI:
        if self._check_state is None:
            self._check_state = self._committed_world()
        return self._check_state

    def _committed_access(self) -> AccessView:
        """The system contracts' view of the committed state (call with the mempool lock)."""
        if self._access is None:
            self._access = AccessView(self._committed_world().get_storage)
        return self._access

    def _warm(self) -> int:
        """Load the top of the committed state trie into the engine's cache (revm only)."""
        if self.engine != "revm":
            return 0
        db = self.store.trie_db(self._last_height())
        world = self._committed_world(db)
        if not isinstance(world, CachingWorldStateAPI):
            return 0
        with self.store.read() as txn, db.reading(txn):
            return world.warm(WARM_NODES)

    def _read_clock_rule(self) -> int:
        """The committed state's EVM clock rule (unset: 1)."""
        db = self.store.trie_db(self._last_height())
        world = self._committed_world(db)
        with self.store.read() as txn, db.reading(txn):
            return EVM_CLOCK_RULE.read(world.get_storage)

    def _committed_world(self, db: TrieNodeDB | None = None) -> WorldStateAPI:
        """A read-only world at the committed state root (over `db` if given)."""
        height = self._last_height()
        if db is None:
            db = self.store.trie_db(height)
        root = self.store.root_at(height) or EMPTY_ROOT
        assert self._app_state is not None
        env = BlockEnv(0, 0, ZERO_ADDRESS, ZERO_HASH, self._app_state.block_gas_limit,
                       self._app_state.eth_chain_id)
        return self._world(db, root, env)

    # --- FinalizeBlock: a decided block ---------------------------------------------------

    def finalize_block(self, ctx: BlockContext, txs: Sequence[bytes]) -> BlockOutcome:
        """Execute the block on pending state derived from the last committed state.
        Called again for a height that was not committed (crash and replay), it starts
        over from the committed state and answers the same."""
        with self._lock:
            if self._executor is None:
                raise ConsortiumError("finalize_block before init_chain")
            last = self._last_height()
            if ctx.height != last + 1:
                raise ConsortiumError(
                    f"finalize_block for height {ctx.height}, but the last committed height "
                    f"is {last}"
                )
            parent = self._last_block
            if parent is None or parent.number != last:
                parent = self.chain.block(last)
            if parent is None:
                raise ConsortiumError(f"block {last} is missing from the store")
            self._pending = None
            pending = self._executor.execute(ctx, txs, parent, self._recent_hashes,
                                             self._clock_rule)
            # encoded now, outside Commit: CometBFT holds its mempool (CheckTx waits) while
            # Commit runs
            pending.rows = block_rows(pending.block, pending.txs, pending.logs,
                                      pending.rejections)
            if self.index_addresses:
                pending.index_entries = address_index.block_entries(pending.txs,
                                                                    pending.recipients)
            self._pending = pending
            return pending.outcome

    # --- Commit: persist the finalized block ---------------------------------------------

    def commit(self) -> None:
        """Write everything of the finalized block — state trie nodes, block, transactions,
        receipts, indexes, height, app hash — in one LMDB write transaction. Then reset the
        CheckTx view (pending nonces) to the committed state."""
        with self._lock:
            pending = self._pending
            if pending is None:
                log.warning("commit with no finalized block: nothing to persist")
                return
            d = self.store.dbs
            with self.store.write() as txn:
                pending.trie_db.flush_into(txn, self.store)
                self.store.put_root(txn, pending.height, pending.state_root,
                                    pending.trie_db.location(pending.state_root))
                write_rows(self.store, txn, pending.rows)
                if self.index_addresses:
                    address_index.write_entries(self.store, txn, pending.index_entries)
                txn.put(b"height", u64(pending.height), db=d["meta"])
                txn.put(b"app_hash", pending.state_root, db=d["meta"])
            self._pending = None
            self._last_block = pending.block
            self._clock_rule = pending.clock_rule
            pending.keep()
            self._recent_hashes = [pending.block.hash, *self._recent_hashes][:BLOCKHASH_WINDOW]
            self.senders.pop_many(pending.senders_used)
            with self._mempool_lock:
                self._carry_pending(pending)
                self._check_state = None
                if pending.system_changed or (pending.watched_logs
                                              and registers_node(pending.logs)):
                    self._access = None

    def _carry_pending(self, pending: PendingBlock) -> None:
        """After a block (with the mempool lock): what CheckTx admitted and the block did not
        take is still in the engine's mempool, so each sender's pending nonce stays (nodes
        run with CometBFT's recheck off: it would CheckTx the whole mempool again, holding
        it, after every block). A sender the block refused a transaction of starts over
        from its committed nonce (the refused nonce is a gap its later transactions would
        wait on forever); the senders the block took transactions of drop their pending
        cost, now paid from their balances (counting less only lets a block refuse what
        CheckTx admitted, and says why). With recheck on, the engine's first recheck still
        starts both maps over and rebuilds them."""
        for sender in pending.refused_senders:
            self._pending_nonces.pop(sender, None)
            self._pending_costs.pop(sender, None)
        for tx in pending.txs:
            self._pending_costs.pop(tx.sender, None)
        self._recheck_resets = True

    # --- peers and accounts ----------------------------------------------------------------

    def is_admitted_node(self, node_id: str) -> bool:
        """The peer filter: whether the Nodes contract admits `node_id` (committed state)."""
        with self._mempool_lock:
            if self._app_state is None:
                return False
            return self._committed_access().is_admitted_node(node_id)

    def is_member_account(self, address: str) -> bool:
        """Whether `address` is an account of an active member (committed state)."""
        try:
            raw = bytes.fromhex(address.lower().removeprefix("0x"))
        except ValueError:
            return False
        if len(raw) != 20:
            return False
        with self._mempool_lock:
            if self._app_state is None:
                return False
            return self._committed_access().is_member_account(raw)

    def pending_nonces(self, addresses: Sequence[bytes]) -> list[int]:
        """The next nonce of each 20-byte address counting what the mempool admitted, read
        from one committed state (asked by the node's API in its own process)."""
        state = self._state_at(None)
        pending = self._pending_nonces
        return [max(pending.get(a, 0), state.get_nonce(a)) for a in addresses]

    def store_abi(self, address: bytes, document: bytes) -> None:
        """Keep an ABI registered with this node's explorer (node-local, never consensus;
        `abi_registry`), told by its API in this process or in its own (`check_relay`)."""
        abi_registry.put_abi(self.store, address, document)

    def close(self) -> None:
        with self._lock, self._mempool_lock:
            self._pending = None
            self._check_state = None
            self._access = None
            self.store.close()
