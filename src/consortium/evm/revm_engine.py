"""The fast engine: revm (Rust, Prague; the `consortium_revm` extension) behind the world-state
interface of `consortium.evm.engine`: either engine computes the same state.

Python keeps the database: revm reads nodes and code through `db` and `persist()` writes its
new ones back, node for node the trie py-evm would read (historical reads stay on py-evm).
The native contracts are py-evm's own Python classes, served through `RevmHost`, and the
call guards of `consortium.evm.fork` run before every message (and creation) as in py-evm.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from eth.abc import AtomicDatabaseAPI, SignedTransactionAPI
from eth.exceptions import InsufficientFunds, OutOfGas, StackDepthLimit, VMError, WriteProtection
from eth_abi import encode as abi_encode

from consortium.evm.abc import (
    CachingWorldStateAPI,
    ExecResult,
    InvalidTransaction,
    WorldFactory,
)
from consortium.evm.budget import CallBudget
from consortium.evm.chain_rules import NATIVE_GAS_RULE
from consortium.evm.engine import EMPTY_ROOT, WorldState
from consortium.evm.fork import CALL_GUARDS, ERROR_SELECTOR, call_guard_gates
from consortium.evm.header import BLOCKHASH_WINDOW, BlockEnv
from consortium.evm.native import (
    NATIVE_GAS,
    NativeContract,
    child_gas,
    delegatecall_refusal,
    log_gas,
    registered_natives,
    revert_output,
)
from consortium.evm.public_reads import ACTIVE as PUBLIC_READS
from consortium.evm.public_reads import host_for
from consortium.evm.storage import (
    NATIVE_VERSION_SLOT,
    BlockInfo,
    Host,
    WordSetOps,
)
from consortium.evm.trie_records import rlp_length

log = logging.getLogger("consortium.evm")

try:
    import consortium_revm as _native
except ImportError as exc:  # not built: the node runs py-evm
    _native = None
    UNAVAILABLE = f"the consortium_revm extension is not installed ({exc})"
else:
    UNAVAILABLE = ""

ENGINES = ("revm", "py-evm")

StateDiff = list[tuple[bytes, Any]]


def available() -> bool:
    """Whether the revm engine can run here (the extension is built and importable)."""
    return _native is not None


_engine: Any = None
_engine_lock = threading.Lock()


def new_engine() -> Any:
    """Fresh engine caches (decoded trie nodes, code, the newest root's accounts and slots)
    for one store: a decoded node knows where its children are stored, so a store's caches
    are its own (`StateStore.revm_engine`)."""
    if _native is None:
        raise RuntimeError(UNAVAILABLE)
    return _native.Engine()


def shared_engine() -> Any:
    """The process's engine caches for content-addressed databases (py-evm's in-memory
    `AtomicDB`: any node of a hash will do), shared by every world over one."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = new_engine()
        return _engine


# --- the Host a native contract sees -------------------------------------------------------


_SLOAD_GAS, _SSTORE_GAS = NATIVE_GAS["sload"], NATIVE_GAS["sstore"]


class RevmHost:
    """`consortium.evm.host.Host` over a revm call (the extension's `NativeFrame`); a call's
    identity is fixed, so it is read once (a write's static check then reads a slot)."""

    __slots__ = ("_f", "address", "caller", "origin", "value", "is_static", "_block",
                 "_priced")

    def __init__(self, frame: Any) -> None:
        self._f = frame
        self.address: bytes = frame.address
        self.caller: bytes = frame.caller
        self.origin: bytes = frame.origin
        self.value: int = frame.value
        self.is_static: bool = frame.is_static
        self._block: BlockInfo | None = None
        self._priced = False  # the chain's gas schedule told to the frame (first write)

    @property
    def block(self) -> BlockInfo:
        """The block's fields, read once per call (they cannot change within it)."""
        if self._block is None:
            number, timestamp, coinbase, chain_id, prevrandao, gas_limit = self._f.block
            self._block = BlockInfo(number=number, timestamp=timestamp, coinbase=coinbase,
                                    chain_id=chain_id, prevrandao=prevrandao,
                                    gas_limit=gas_limit)
        return self._block

    def charge(self, gas: int) -> None:
        if not 0 <= gas < 1 << 64 or not self._f.charge(gas):  # taken only if it is there
            raise OutOfGas("native contract")

    def sload(self, slot: int) -> int:
        value = self._f.charged_sload(_SLOAD_GAS, slot)  # charge, then read: one crossing
        if value is None:
            raise OutOfGas("native contract")
        return value  # type: ignore[no-any-return]

    def sload_at(self, address: bytes, slot: int) -> int:
        self.charge(NATIVE_GAS["sload"])
        public = PUBLIC_READS.get()  # a privacy group's world: system contracts read publicly
        if public is not None and address in public.addresses:
            return public.read(bytes(address), slot)
        return self._f.peek(bytes(address), slot)  # type: ignore[no-any-return]

    def native_version(self) -> int:
        """Without gas (`Host.native_version`): the frame's uncharged read."""
        public = PUBLIC_READS.get()  # a privacy group's world: the public chain's version
        if public is not None:
            return public.read(self.address, NATIVE_VERSION_SLOT) or 1
        return self._f.peek(self.address, NATIVE_VERSION_SLOT) or 1  # type: ignore[no-any-return]

    def sstore(self, slot: int, value: int) -> None:
        if self.is_static:
            raise WriteProtection("native contract write inside a static call")
        if not self._priced:
            self._price_writes()
        if not self._f.charged_sstore(_SSTORE_GAS, slot, value):  # charge, then write
            raise OutOfGas("native contract")

    def _price_writes(self) -> None:
        """Tell the frame the chain's native gas schedule, read without gas (a privacy
        group's world: the public chain's): under 2 it prices each write by the slot's
        present value (`consortium.evm.native.write_gas`)."""
        self._priced = True
        public = PUBLIC_READS.get()
        schedule = NATIVE_GAS_RULE.read(public.read if public is not None else self._f.peek)
        if schedule >= 2:
            self._f.price_writes(NATIVE_GAS["sstore_change"], NATIVE_GAS["sstore_same"])

    @property
    def sloads(self) -> Callable[[list[int]], list[int]]:
        """`sload` of each slot in order, in one crossing: the words read."""
        return self._sloads

    def _sloads(self, slots: list[int]) -> list[int]:
        words = self._f.charged_sloads(_SLOAD_GAS, slots)
        if words is None:
            raise OutOfGas("native contract")
        return words  # type: ignore[no-any-return]

    @property
    def sstores(self) -> Callable[[list[tuple[int, int]]], None] | None:
        """`sstore` of each (slot, value) in order, in one crossing (None inside a static
        call: see `word_sets`)."""
        return None if self.is_static else self._sstores

    def _sstores(self, writes: list[tuple[int, int]]) -> None:
        if not self._priced:
            self._price_writes()
        if not self._f.charged_sstores(_SSTORE_GAS, writes):
            raise OutOfGas("native contract")

    @property
    def word_sets(self) -> WordSetOps | None:
        """`WordSet.add`/`remove` in one crossing each (the same reads, writes and gas as
        one `sload`/`sstore` at a time); None inside a static call, where a write must fail
        at the exact write the slot-by-slot path reaches."""
        return None if self.is_static else EngineWordSets(self)

    def emit(self, topics: Sequence[bytes], data: bytes) -> None:
        if self.is_static:
            raise WriteProtection("native contract log inside a static call")
        self.charge(log_gas(topics, data))
        # as py-evm does: a topic is a 256-bit number (32 bytes as they are: an event's)
        words = [t if type(t) is bytes and len(t) == 32
                 else int.from_bytes(t, "big").to_bytes(32, "big") for t in topics]
        self._f.log(words, bytes(data))

    def call(self, to: bytes, data: bytes, value: int = 0,
             gas: int | None = None) -> tuple[bool, bytes]:
        """Call another contract as this native, a nested frame on the same journal like an
        EVM CALL. Returns (success, output); a failed call does not revert the caller."""
        f = self._f
        if value and self.is_static:
            raise WriteProtection("a native contract's call with value inside a static call")
        self.charge(NATIVE_GAS["subcall"])
        gas = child_gas(f.gas_left(), gas)
        self.charge(gas)
        status, output, left = f.subcall(bytes(to), bytes(data), value, gas)
        if status == 2:
            raise StackDepthLimit("Stack depth limit reached")
        if status == 3:
            raise InsufficientFunds(f"Insufficient funds for a call of {value} wei")
        f.refund(left)
        return status == 0, output


class EngineWordSets:
    """A frame's word-set operations (`WordSetOps`), raising OutOfGas as `sload`/`sstore`."""

    __slots__ = ("_host",)

    def __init__(self, host: RevmHost) -> None:
        self._host = host

    def add(self, slot: int, key: int) -> bool:
        return self._apply(True, slot, key)

    def remove(self, slot: int, key: int) -> bool:
        return self._apply(False, slot, key)

    def _apply(self, add: bool, slot: int, key: int) -> bool:
        host = self._host
        if not host._priced:
            host._price_writes()
        done = host._f.word_set(add, _SLOAD_GAS, _SSTORE_GAS, slot, key)
        if done is None:
            raise OutOfGas("native contract")
        return done  # type: ignore[no-any-return]


def _server(cls: type[NativeContract]) -> Callable[[Any], tuple[int, bytes]]:
    """The function the extension calls to run native `cls`: (0 success | 1 revert |
    2 halt, output) — the mapping of `consortium.evm.host.make_precompile`. A halt's output
    is the EVM error's name (the transaction's error when the native was called by it)."""
    address = bytes(cls.address)
    refusal = delegatecall_refusal(cls)

    def serve(frame: Any) -> tuple[int, bytes]:
        if frame.address != address:
            return 1, refusal
        contract = cls(host_for(RevmHost(frame)))  # a system contract in a private world
        try:
            return 0, contract.dispatch(frame.input)
        except VMError as exc:  # out of gas, write protection, depth: the EVM's own errors
            return 2, type(exc).__name__.encode()
        except Exception as exc:  # a revert, or any bug in a native: the same on every node
            return 1, revert_output(exc)

    serve.__name__ = f"serve_{cls.__name__}"
    return serve


_servers: dict[type[NativeContract], Callable[[Any], tuple[int, bytes]]] = {}


def _natives() -> dict[bytes, Callable[[Any], tuple[int, bytes]]]:
    out = {}
    for address, cls in registered_natives().items():
        serve = _servers.get(cls)
        if serve is None:
            serve = _servers[cls] = _server(cls)
        out[address] = serve
    return out


def _guard(read: Callable[[bytes, int], int], storage_address: bytes,
           code_address: bytes) -> bytes | None:
    """The call guards of `consortium.evm.fork`, as py-evm runs them before a message."""
    targets = sorted({storage_address, code_address})
    for guard in CALL_GUARDS:
        for target in targets:
            reason = guard(read, target)
            if reason is not None:
                return ERROR_SELECTOR + abi_encode(["string"], [reason])
    return None


# --- the world state -------------------------------------------------------------------------


def _fetcher(db: AtomicDatabaseAPI) -> Callable[[bytes], bytes | None]:
    """The engine's reads: the store's own `fetch` (nodes by place, code by hash), or over a
    content-addressed database, everything by hash (a node's height does not matter)."""
    located = getattr(db, "fetch", None)
    if located is not None:
        return located  # type: ignore[no-any-return]

    def fetch(key: bytes) -> bytes | None:
        try:
            return bytes(db[key[-32:]])
        except KeyError:
            return None

    return fetch


def _located(db: AtomicDatabaseAPI) -> bool:
    """Whether `db` stores nodes by place (the ledger's `TrieNodeDB`)."""
    return hasattr(db, "add_sealed")


class RevmWorldState:
    """The EVM world state at `state_root`, executing in block environment `env`, on revm:
    `consortium.evm.abc.CachingWorldStateAPI`, as py-evm's `WorldState` is its base."""

    def __init__(self, db: AtomicDatabaseAPI, state_root: bytes, env: BlockEnv,
                 engine: Any = None) -> None:
        self.env = env
        self._db = db
        located = _located(db)
        if engine is None:
            engine = db.revm_engine if located else shared_engine()  # type: ignore[attr-defined]
        self._world = _native.World(  # type: ignore[union-attr]
            engine,
            _fetcher(db),
            bytes(state_root),
            db.location(bytes(state_root)) if located else 0,  # type: ignore[attr-defined]
            env.number,
            env.timestamp,
            bytes(env.coinbase),
            bytes(env.prevrandao),
            env.gas_limit,
            env.chain_id,
            [bytes(h) for h in env.prev_hashes[:BLOCKHASH_WINDOW]],
            _natives(),
            _guard if CALL_GUARDS else None,
            call_guard_gates() or [],
            getattr(db, "fetch_many", None),
        )
        self.last_diff: StateDiff = []

    # --- reads -------------------------------------------------------------------------

    def get_balance(self, address: bytes) -> int:
        return self._world.get_balance(bytes(address))  # type: ignore[no-any-return]

    def get_nonce(self, address: bytes) -> int:
        return self._world.get_nonce(bytes(address))  # type: ignore[no-any-return]

    def get_code(self, address: bytes) -> bytes:
        return self._world.get_code(bytes(address))  # type: ignore[no-any-return]

    def get_storage(self, address: bytes, slot: int) -> int:
        return self._world.get_storage(bytes(address), slot)  # type: ignore[no-any-return]

    def storage_root(self, address: bytes) -> bytes:
        """The root of an account's storage trie as of the last `persist()` (or of the state
        root this world was opened at)."""
        return self._world.storage_root(bytes(address))  # type: ignore[no-any-return]

    # --- genesis writes ----------------------------------------------------------------

    def set_balance(self, address: bytes, value: int) -> None:
        self._world.set_balance(bytes(address), value)

    def set_nonce(self, address: bytes, nonce: int) -> None:
        self._world.set_nonce(bytes(address), nonce)

    def set_code(self, address: bytes, code: bytes) -> None:
        self._world.set_code(bytes(address), bytes(code))

    def set_storage(self, address: bytes, slot: int, value: int) -> None:
        self._world.set_storage(bytes(address), slot, value)

    # --- execution ---------------------------------------------------------------------

    def apply_transaction(self, tx: SignedTransactionAPI) -> ExecResult:
        """Execute a signed transaction whose sender is already known (`tx.sender`).
        Raises InvalidTransaction, with no state change, if revm refuses it."""
        try:
            status, output, gas, logs, created, error = self._world.apply(tx)
        except _native.InvalidTransaction as exc:  # type: ignore[union-attr]
            raise InvalidTransaction(str(exc)) from None
        return ExecResult(status, output, gas, tuple(logs), created, error)

    def apply_raw(self, raw: bytes, sender: bytes | None = None) -> ExecResult:
        """Execute a raw signed transaction, decoded in Rust (sender recovered there unless
        given). No chain-id or admission checks: those are the ledger's."""
        try:
            status, output, gas, logs, created, error = self._world.apply_raw(raw, sender)
        except _native.InvalidTransaction as exc:  # type: ignore[union-attr]
            raise InvalidTransaction(str(exc)) from None
        return ExecResult(status, output, gas, tuple(logs), created, error)

    def call(self, sender: bytes, to: bytes | None, value: int, data: bytes, gas: int,
             access_list: tuple[Any, ...] = (), *,
             budget: CallBudget | None = None) -> ExecResult:
        """eth_call semantics on this (throwaway) state: gas price 0, no nonce check for the
        sender. The state is changed; don't persist it. Runs with the GIL released. With
        `budget`, raises CallTimeout / CallCancelled when it is spent (checked every frame,
        native gas charge and 128 JUMPDESTs, by a native token `budget.cancel()` reaches)."""
        token = None
        if budget is not None:
            token = _native.CallBudget(budget.remaining())  # type: ignore[union-attr]
            budget.link(token)
        try:
            status, output, gas_used, logs, created, error = self._world.call(
                bytes(sender), bytes(to) if to else None, value, bytes(data), gas,
                access_list if access_list else None, token,
            )
        except _native.Interrupted as exc:  # type: ignore[union-attr]
            assert budget is not None
            raise budget.error(cancelled=str(exc) == "cancelled") from None
        finally:
            if budget is not None:
                budget.unlink(token)  # type: ignore[arg-type]
        return ExecResult(status, output, gas_used, tuple(logs), created, error)

    # --- state root --------------------------------------------------------------------

    def state_root(self) -> bytes:
        """The state root with every change so far (trie nodes stay in the engine)."""
        return self._world.state_root()  # type: ignore[no-any-return]

    def prefetch(self, addresses: Sequence[bytes]) -> int:
        """Load the state-trie paths of `addresses` into the engine's caches in a few batched
        reads (a block's senders and recipients, before it runs); how many nodes it read."""
        return self._world.prefetch([bytes(a) for a in addresses])  # type: ignore[no-any-return]

    def warm(self, budget: int) -> int:
        """Load the top of the state trie into the engine's caches, breadth first, up to
        `budget` nodes; how many it read."""
        return self._world.warm(budget)  # type: ignore[no-any-return]

    def persist(self, diff: bool = False) -> bytes:
        """Write the changed trie nodes and code into the database; returns the root.
        With `diff`, the block's state diff is kept in `last_diff`.

        Into the ledger's store the nodes go by place, under the database's write height, and
        the engine's shared caches learn them only at `keep()`, once the block is committed.
        Into a content-addressed database (tests, the bench) they go by hash, kept at once."""
        db = self._db
        if _located(db):
            height = db.write_height  # type: ignore[attr-defined]
            if height is None:
                raise RuntimeError("this world's database was opened read-only")
            root, root_at, nodes, codes, changes = self._world.persist(height, diff)
            db.add_sealed(root, root_at, nodes, codes)  # type: ignore[attr-defined]
        else:
            root, _, nodes, codes, changes = self._world.persist(0, diff)
            for key, record in nodes:
                db[key[8:]] = record[:rlp_length(record)]
            for key, code in codes:
                db[key] = code
            self._world.keep()
        self.last_diff = changes
        return root  # type: ignore[no-any-return]

    def keep(self) -> None:
        """The last `persist` is in the store: let the engine's caches learn it."""
        self._world.keep()

    def full_root(self) -> bytes:
        """The state root recomputed from scratch from every stored node (alloy-trie's
        HashBuilder), every storage root checked: the oracle for the incremental trie."""
        return self._world.full_root()  # type: ignore[no-any-return]


# mypy checks the revm engine against the engine interface (`consortium.evm.abc`) here,
# its trie-cache warming included, and its native frames' host against `Host`.
REVM_ENGINE: WorldFactory = RevmWorldState
_CACHING: type[CachingWorldStateAPI] = RevmWorldState
_HOST: type[Host] = RevmHost


def parse_transaction(raw: bytes) -> tuple[Any, bytes] | None:
    """A raw transaction decoded and its sender recovered in Rust, for
    `consortium.ledger.transactions.decode_transaction(parse=...)`: (transaction, sender),
    the transaction answering the attributes of py-evm's that the ledger and this engine
    read; None (py-evm's decoder decides) unless `raw` is the canonical encoding of a legacy,
    EIP-2930 or EIP-1559 transaction whose signature recovers."""
    return _native.decode_tx(raw)  # type: ignore[union-attr,no-any-return]


def parse_transactions(raws: list[bytes], senders: list[bytes | None] | None = None
                       ) -> list[tuple[Any, bytes] | None]:
    """`parse_transaction` for a batch, with the GIL released while Rust decodes and
    recovers (from a worker thread this runs beside the event loop). `senders` (one per
    raw, or None) are taken as they are instead of recovered."""
    return _native.decode_txs(raws, senders)  # type: ignore[union-attr,no-any-return]


def log_bloom(items: list[bytes]) -> bytes | None:
    """The 2,048-bit log bloom of `items` computed in Rust (eth_bloom's, bit for bit), or
    None without the extension (the caller computes it in Python)."""
    return None if _native is None else _native.log_bloom(items)  # type: ignore[no-any-return]


def transaction_batch_parser(
    engine: str,
) -> Callable[[list[bytes], list[bytes | None] | None], list[tuple[Any, bytes] | None]] | None:
    """The batch decoder to prime the sender cache with, for engine `engine`, or None."""
    return parse_transactions if engine == "revm" and _native is not None else None


def transaction_parser(engine: str) -> Callable[[bytes], tuple[Any, bytes] | None] | None:
    """The decoder to use with engine `engine` (as `world_factory` answered it): revm's
    transactions need not be py-evm objects, py-evm's must."""
    return parse_transaction if engine == "revm" and _native is not None else None


def world_factory(engine: str) -> tuple[WorldFactory, str]:
    """The world-state class for engine setting `engine` ("revm" or "py-evm"), and the
    engine actually used: revm falls back to py-evm, with a log line, when the extension is
    not built."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r} (engines: {', '.join(ENGINES)})")
    if engine == "revm":
        if _native is not None:
            return RevmWorldState, "revm"
        log.warning("engine revm is not available, falling back to py-evm: %s "
                    "(build it with `pip install ./native/revm_engine`)", UNAVAILABLE)
    return WorldState, "py-evm"


__all__ = [
    "EMPTY_ROOT",
    "ENGINES",
    "REVM_ENGINE",
    "RevmHost",
    "RevmWorldState",
    "available",
    "new_engine",
    "parse_transaction",
    "parse_transactions",
    "shared_engine",
    "transaction_batch_parser",
    "transaction_parser",
    "WorldFactory",
    "world_factory",
]
