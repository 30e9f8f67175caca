"""Block execution: a CometBFT block's transactions, in order, on the last committed state.

One world state (`consortium.evm.abc.WorldStateAPI`) per block, one state-level
`apply_transaction` per transaction, one state root per block (never py-evm's chain-level
block building, which rebuilds tries after every transaction). A transaction that is invalid
when its turn comes (the validity rules of `transactions`, checked here before the engine
runs it, the same for both engines) is skipped with its error code and changes nothing, the
same way on every node, and leaves a rejection record (hash -> where, code, reason) written
with the block; one that fails inside the EVM stays in the block with status 0. Every input
comes from the block and the committed state: no clock, no randomness, and iteration orders
are the transactions' order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from eth.db.trie import _make_trie_root_and_nodes
from eth_hash.auto import keccak
from trie import HexaryTrie

from consortium.errors import ExecutionReverted, TxError
from consortium.evm.abc import (
    CachingWorldStateAPI,
    ExecResult,
    InvalidTransaction,
    WorldFactory,
    WorldStateAPI,
)
from consortium.evm.chain_rules import EVM_CLOCK_RULE
from consortium.evm.engine import WorldState
from consortium.evm.header import (
    BlockEnv,
    as_address,
    block_timestamp,
)
from consortium.evm.native import revert_reason as decode_revert_reason  # one decoder
from consortium.evm.revm_engine import log_bloom
from consortium.ledger.chain_store import (
    BlockRecord,
    BlockRows,
    LogRecord,
    RejectionRecord,
    TxRecord,
)
from consortium.ledger.state_store import StateStore, TrieNodeDB
from consortium.ledger.transactions import (
    SenderCache,
    SignedTx,
    check_admission,
    effective_gas_price,
)
from consortium.ledger.types import (
    BlockContext,
    BlockOutcome,
    TxOutcome,
    ValidatorUpdate,
)
from consortium.ledger.upgrades import apply_due_upgrade
from consortium.system.access import AccessView, touches_system, validator_updates
from consortium.system.model import SYSTEM_ADDRESSES
from consortium.system.privacy import PRIVACY_ADDRESS

# the addresses whose logs may change what admission reads (`touches_system`) or register a
# privacy node key (`registers_node`): the others' logs are not looked at again
_WATCHED = frozenset((*SYSTEM_ADDRESSES, PRIVACY_ADDRESS))


@dataclass
class PendingBlock:
    """A finalized, not yet committed block: everything `commit()` writes."""

    height: int
    state_root: bytes
    block: BlockRecord
    txs: list[TxRecord]
    logs: list[LogRecord]
    trie_db: TrieNodeDB
    outcome: BlockOutcome
    # the engine's caches learn the block's state once it is committed (`world.keep`)
    keep: Callable[[], None] = lambda: None
    senders_used: list[bytes] = field(default_factory=list)  # raw txs, to drop from the cache
    system_changed: bool = False  # the block changed the system contracts' storage
    clock_rule: int = 1  # the EVM clock rule of the block's state (`block_timestamp`)
    rejections: list[RejectionRecord] = field(default_factory=list)  # refused transactions
    refused_senders: set[bytes] = field(default_factory=set)  # the senders of those
    recipients: list[bytes] = field(default_factory=list)  # each of `txs`' `to` (b"": create)
    watched_logs: bool = True  # some log came from a system contract or Privacy
    # the block's records encoded (`chain_store.block_rows`, and the address index's), made
    # after execution so that Commit only writes them
    rows: BlockRows = field(default_factory=list)
    index_entries: list[tuple[bytes, bytes]] = field(default_factory=list)


def hex0x(b: bytes) -> str:
    return "0x" + b.hex()


class BlockExecutor:
    def __init__(self, store: StateStore, senders: SenderCache, chain_id: int,
                 gas_limit: int, world: WorldFactory = WorldState) -> None:
        self.store = store
        self.world = world  # the engine: WorldState (py-evm) or RevmWorldState
        self.senders = senders
        self.chain_id = chain_id
        self.gas_limit = gas_limit

    def execute(
        self,
        ctx: BlockContext,
        raw_txs: Sequence[bytes],
        parent: BlockRecord,
        prev_hashes: Sequence[bytes],
        clock_rule: int = 1,
    ) -> PendingBlock:
        """`clock_rule`: the EVM clock rule of the parent's state (`block_timestamp`); the
        block's own is in the result (`PendingBlock.clock_rule`: an upgrade may change it)."""
        env = BlockEnv(
            number=ctx.height,
            timestamp=block_timestamp(ctx.time_ns, parent.timestamp, clock_rule),
            coinbase=as_address(ctx.proposer),
            prevrandao=bytes(ctx.prevrandao).rjust(32, b"\x00")[-32:],
            gas_limit=self.gas_limit,
            chain_id=self.chain_id,
            prev_hashes=tuple(prev_hashes),
        )
        # what no CheckTx of this node decoded (another validator's transactions not yet
        # gossiped here, a block replayed after a restart): recovered in one call with the
        # GIL released, not one by one with it held; the rest is found in the cache
        self.senders.prime(raw_txs, self.chain_id)
        trie_db = self.store.trie_db(parent.number, write_height=ctx.height)
        results: list[TxOutcome] = []
        tx_records: list[TxRecord] = []
        logs: list[LogRecord] = []
        rejections: list[RejectionRecord] = []
        refused: set[bytes] = set()
        recipients: list[bytes] = []
        cumulative = 0
        watched = False
        decoded = [self._decode(raw) for raw in raw_txs]
        with self.store.read() as txn, trie_db.reading(txn):
            world = self.world(trie_db, parent.state_root, env)
            if isinstance(world, CachingWorldStateAPI):  # the block's accounts' trie paths
                world.prefetch([a for d in decoded if isinstance(d, SignedTx)
                                for a in (d.sender, d.tx.to) if a])
            system_before = [world.storage_root(a) for a in SYSTEM_ADDRESSES]
            # a software upgrade planned for this height: migrate first, or stop here
            apply_due_upgrade(ctx.height, world.get_storage, world.set_storage, world)
            access = AccessView(world.get_storage)
            for position, stx in enumerate(decoded):
                try:
                    if isinstance(stx, TxError):
                        raise stx
                    self._admit(stx, world, access, cumulative)
                    result = world.apply_transaction(stx.tx)
                except (TxError, InvalidTransaction) as err:
                    code, reason = ((err.abci_code, err.message) if isinstance(err, TxError)
                                    else (TxError.abci_code, str(err)))
                    results.append(TxOutcome(code=code, log=reason))
                    if isinstance(stx, SignedTx):
                        tx_hash = stx.hash
                        refused.add(stx.sender)
                    else:
                        tx_hash = keccak(raw_txs[position])
                    rejections.append(RejectionRecord(tx_hash, ctx.height, position, code, reason))
                    continue
                cumulative += result.gas_used
                index = len(tx_records)
                first_log = len(logs)
                hit = False
                for address, topics, data in result.logs:
                    hit = hit or address in _WATCHED
                    logs.append(LogRecord(ctx.height, len(logs), index, stx.hash, address,
                                          topics, data))
                if hit:
                    watched = True
                    if touches_system(result.logs):
                        access.forget()
                tx_records.append(TxRecord(
                    hash=stx.hash, raw=stx.raw, sender=stx.sender, height=ctx.height,
                    index=index, status=result.status, gas_used=result.gas_used,
                    cumulative_gas_used=cumulative,
                    contract_address=result.contract_address or b"",
                    first_log=first_log, log_count=len(result.logs),
                    effective_gas_price=effective_gas_price(stx.tx),
                ))
                recipients.append(stx.tx.to)
                results.append(_outcome(stx, result))
            state_root = world.persist()
            system_changed = system_before != [world.storage_root(a) for a in SYSTEM_ADDRESSES]
            if system_changed:  # the rule sits in Governance's storage
                clock_rule = EVM_CLOCK_RULE.read(world.get_storage)
        _clear_caches()
        updates = tuple(
            ValidatorUpdate(key, power)
            for key, power in validator_updates((g.address, g.topics, g.data) for g in logs)
        ) if watched else ()  # only the Nodes contract's logs change validators

        # each distinct address/topic once: a block repeats most of them
        bloom = block_bloom({part for log in logs for part in (log.address, *log.topics)})
        block = BlockRecord(
            number=ctx.height, hash=bytes(ctx.block_hash), parent_hash=parent.hash,
            timestamp=env.timestamp, miner=env.coinbase, gas_limit=self.gas_limit,
            gas_used=cumulative, state_root=state_root, prevrandao=env.prevrandao,
            bloom=bloom, tx_hashes=tuple(t.hash for t in tx_records),
        )
        return PendingBlock(
            height=ctx.height, state_root=state_root, block=block, txs=tx_records, logs=logs,
            trie_db=trie_db,
            keep=world.keep,
            outcome=BlockOutcome(tx_results=tuple(results), app_hash=state_root,
                                 validator_updates=updates),
            senders_used=[t.raw for t in tx_records],
            system_changed=system_changed,
            clock_rule=clock_rule,
            rejections=rejections,
            refused_senders=refused,
            recipients=recipients,
            watched_logs=watched,
        )

    def _decode(self, raw: bytes) -> SignedTx | TxError:
        """A block's transaction decoded (its sender recovered, or found recovered at
        CheckTx), or why it does not decode."""
        try:
            return self.senders.decode(raw, self.chain_id)
        except TxError as err:
            return err

    def _admit(self, stx: SignedTx, world: WorldStateAPI, access: AccessView,
               cumulative: int) -> None:
        """Execution-time checks: the rules CheckTx applied, against the block's state."""
        check_admission(
            stx, permission=access.refusal, block_gas_limit=self.gas_limit,
            block_gas_used=cumulative,
            next_nonce=world.get_nonce(stx.sender), balance=world.get_balance(stx.sender),
            sender_has_code=bool(world.get_code(stx.sender)),
        )


def block_bloom(items: Iterable[bytes]) -> bytes:
    """The 2,048-bit log bloom of `items`, as eth_bloom's BloomFilter computes it (three bits
    from the first six bytes of each item's keccak): in Rust (0.1 µs an item), else in one
    int without eth_bloom's per-item generators (1.3 µs an item)."""
    items = list(items)
    native = log_bloom(items)
    if native is not None:
        return native
    value = 0
    for item in items:
        h = keccak(item)
        value |= ((1 << (((h[0] << 8) | h[1]) & 2047)) | (1 << (((h[2] << 8) | h[3]) & 2047))
                  | (1 << (((h[4] << 8) | h[5]) & 2047)))
    return value.to_bytes(256, "big")


def _outcome(stx: SignedTx, result: ExecResult) -> TxOutcome:
    ref = (stx.hash, stx.sender, stx.nonce)
    log_tuples = result.logs  # (address, topics, data) from either engine, as LogRecord keeps
    if result.status == 1:
        data = result.contract_address if result.contract_address else result.output
        return TxOutcome(code=0, data=data, gas_wanted=stx.gas, gas_used=result.gas_used,
                         tx_ref=ref, logs=log_tuples)
    log_text = result.error
    if result.error == "execution reverted" and result.output:
        reason = decode_revert_reason(result.output)
        if reason is not None:
            log_text = f"execution reverted: {reason}"
    return TxOutcome(code=ExecutionReverted.abci_code, log=log_text, data=result.output,
                     gas_wanted=stx.gas, gas_used=result.gas_used, tx_ref=ref,
                     logs=log_tuples)


def _clear_caches() -> None:
    """py-evm's and trie's module-level caches grow with every block: drop them."""
    HexaryTrie._cached_create_node_to_db_mapping.cache_clear()
    _make_trie_root_and_nodes.cache_clear()
