"""Decoding and stateless checks of Ethereum signed transactions, and the sender cache.

Accepted: legacy transactions signed with EIP-155 replay protection (type 0), EIP-2930
(type 1) and EIP-1559 (type 2). Refused: blob (type 3), set-code (type 4) and unknown types,
unprotected legacy transactions, other chains. The sender is recovered once, with coincurve,
and remembered by transaction hash so block execution does not recover it again.

The validity rules are written here once and applied, in this order, by CheckTx (committed
state and the pending nonces) and by block execution (the block's state so far), before
either engine (revm, py-evm) runs the transaction, so nothing CheckTx admits is refused by an
engine for a rule CheckTx did not check:

  decode (stateless)   size ≤ 128 KiB; type 0 with EIP-155, 1 or 2; chain id; field ranges;
                       maxPriorityFeePerGas ≤ maxFeePerGas; signature (low s)
  check_admission      sender permitted (member account, not frozen, may deploy);
                       sender has no code (EIP-3607); initcode ≤ 49,152 bytes (EIP-3860);
                       gas ≥ intrinsic gas (with EIP-3860's initcode words) and ≥ the EIP-7623
                       calldata floor; gas ≤ block gas limit and fits the block;
                       maxFeePerGas ≥ base fee (0 here); nonce = next nonce;
                       balance ≥ gas × maxFeePerGas + value (legacy/2930: gasPrice)
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import coincurve
from eth.abc import LegacyTransactionFieldsAPI, SignedTransactionAPI
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_hash.auto import keccak

from consortium.errors import (
    BadSignature,
    FeeCapTooLow,
    GasLimitError,
    InitcodeTooLarge,
    InsufficientFunds,
    MalformedTx,
    NonceTooHigh,
    NonceTooLow,
    NotPermitted,
    SenderHasCode,
    TxError,
    TxTooLarge,
    UnsupportedTxType,
    WrongChainId,
)
from consortium.evm.engine import data_floor_gas

MAX_TX_BYTES = 128 * 1024
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
UINT256_LIMIT = 2**256
UINT64_MAX = 2**64 - 1
ACCEPTED_TYPES = {0: "legacy", 1: "EIP-2930", 2: "EIP-1559"}
MAX_INITCODE_BYTES = 2 * 24_576  # EIP-3860: twice EIP-170's code size limit
INITCODE_WORD_GAS = 2  # EIP-3860: per 32-byte word of initcode, part of the intrinsic gas
BASE_FEE = 0  # this chain's base fee per gas: fees are priority fees only

log = logging.getLogger("consortium.ledger")


@dataclass(slots=True)  # not frozen: made per transaction, 5x cheaper
class SignedTx:
    """A decoded, signature-checked transaction and what the ledger needs of it."""

    hash: bytes
    raw: bytes
    tx: SignedTransactionAPI  # py-evm's object, its `sender` already set
    sender: bytes
    type_id: int  # 0 for legacy
    chain_id: int
    min_gas: int  # intrinsic gas (with initcode words), or the EIP-7623 floor if higher

    @property
    def nonce(self) -> int:
        return self.tx.nonce  # type: ignore[no-any-return]

    @property
    def gas(self) -> int:
        return self.tx.gas  # type: ignore[no-any-return]

    @property
    def value(self) -> int:
        return self.tx.value  # type: ignore[no-any-return]

    @property
    def is_creation(self) -> bool:
        return self.tx.to == b""  # type: ignore[no-any-return]

    @property
    def max_cost(self) -> int:
        """What the sender's balance must cover (EIP-1559): value plus all the gas at the
        fee cap, maxFeePerGas (gasPrice for legacy and EIP-2930), whatever price is paid."""
        return self.tx.value + self.tx.gas * self.tx.max_fee_per_gas  # type: ignore[no-any-return]


def effective_gas_price(tx: Any) -> int:
    """The price per gas the sender pays: the base fee plus the priority fee, capped by the
    fee cap; the base fee being 0, min(max fee, priority fee)."""
    return BASE_FEE + min(tx.max_fee_per_gas - BASE_FEE,  # type: ignore[no-any-return]
                          tx.max_priority_fee_per_gas)


# A faster decoder (the revm engine's, in Rust): (transaction, recovered sender) with the
# attributes of py-evm's transaction objects, or None to take py-evm's path. It must accept
# only what py-evm decodes to the same fields; every check below still runs on its answer.
Parser = Callable[[bytes], "tuple[Any, bytes] | None"]
# The same for a batch, releasing the GIL while it recovers (see `SenderCache.prime`); given
# one sender per transaction (or None), it takes those instead of recovering them.
BatchParser = Callable[[list[bytes], "list[bytes | None] | None"],
                       "list[tuple[Any, bytes] | None]"]


def decode_transaction(raw: bytes, chain_id: int, parse: Parser | None = None) -> SignedTx:
    """Decode `raw` and check everything that does not depend on state. Raises a TxError."""
    if len(raw) > MAX_TX_BYTES:
        raise TxTooLarge(f"transaction is {len(raw)} bytes, the limit is {MAX_TX_BYTES}")
    if not raw:
        raise MalformedTx("empty transaction")
    first = raw[0]
    if first >= 0xC0:
        type_id = 0
    elif first <= 0x7F:
        type_id = first
        if type_id == 3:
            raise UnsupportedTxType("blob transactions (type 3) are not accepted")
        if type_id not in ACCEPTED_TYPES:
            raise UnsupportedTxType(
                f"transaction type {type_id} is not accepted (only legacy, 1 and 2)"
            )
    else:
        raise MalformedTx("not an RLP-encoded transaction")
    parsed = parse(raw) if parse is not None else None
    if parsed is None:
        try:
            tx = PragueTransactionBuilder.decode(raw)
        except Exception as exc:
            raise MalformedTx(f"cannot decode {ACCEPTED_TYPES[type_id]} transaction: "
                              f"{type(exc).__name__}") from None
        recovered = None
    else:
        tx, recovered = parsed

    if type_id == 0:
        v = cast(LegacyTransactionFieldsAPI, tx).v  # type 0: a legacy transaction
        if v in (27, 28):
            raise WrongChainId("unprotected legacy transaction (no EIP-155 chain id): "
                               "sign it for chain id " f"{chain_id}")
        if v < 35:
            raise BadSignature(f"invalid legacy signature v={v}")
        tx_chain_id = (v - 35) // 2
    else:
        tx_chain_id = cast(int, tx.chain_id)  # types 1 and 2 always carry a chain id
        if tx.y_parity not in (0, 1):
            raise BadSignature(f"invalid signature y parity {tx.y_parity}")
    if tx_chain_id != chain_id:
        raise WrongChainId(f"transaction is for chain id {tx_chain_id}, this chain is "
                           f"{chain_id}")
    _check_ranges(tx, type_id)

    tx_hash = keccak(raw)
    sender = recovered if recovered is not None else recover_sender(tx)
    tx.__dict__["sender"] = sender  # py-evm's cached `sender`: never recovered again
    min_gas = max(intrinsic_gas(tx), data_floor_gas(tx.data))
    return SignedTx(tx_hash, raw, tx, sender, type_id, tx_chain_id, min_gas)


def intrinsic_gas(tx: Any) -> int:
    """The gas a transaction costs before it runs: py-evm's intrinsic gas, plus EIP-3860's
    initcode words for a creation (py-evm charges those when the creation starts, revm
    up front: counted here, a transaction short of them is refused by both alike)."""
    gas: int = tx.intrinsic_gas
    if tx.to == b"":
        gas += INITCODE_WORD_GAS * ((len(tx.data) + 31) // 32)
    return gas


# Why a sender may not send a transaction (creating a contract or not, to whom: b"" for a
# creation), or None if it may.
Permission = Callable[[bytes, bool, bytes], "str | None"]


def check_admission(
    stx: SignedTx,
    *,
    permission: Permission,
    block_gas_limit: int,
    block_gas_used: int,
    next_nonce: int,
    balance: int,
    sender_has_code: bool,
    pending_cost: int = 0,
    base_fee: int = BASE_FEE,
) -> None:
    """The validity rules that depend on state (see the module's docstring), shared by
    CheckTx (against the committed state and the pending nonces) and execution (against the
    block's state so far). Raises a TxError.
    `permission` answers from the system contracts: an active member's account, not frozen,
    and for a deployment, on the deploy allowlist when there is one (or a privacy node
    account calling the Privacy contract). `pending_cost` is what
    the sender's transactions admitted before this one may spend (CheckTx; 0 in a block,
    where `balance` is already after them).
    """
    sender = "0x" + stx.sender.hex()
    refusal = permission(stx.sender, stx.is_creation, stx.tx.to)
    if refusal is not None:
        raise NotPermitted(refusal)
    if sender_has_code:
        raise SenderHasCode(f"sender {sender} has code: only externally owned accounts may "
                            "send transactions (EIP-3607)")
    if stx.is_creation and len(stx.tx.data) > MAX_INITCODE_BYTES:
        raise InitcodeTooLarge(f"initcode is {len(stx.tx.data)} bytes, the limit is "
                               f"{MAX_INITCODE_BYTES} (EIP-3860)")
    if stx.gas < stx.min_gas:
        raise GasLimitError(f"gas limit {stx.gas} is below the intrinsic gas {stx.min_gas}")
    if stx.gas > block_gas_limit:
        raise GasLimitError(f"gas limit {stx.gas} is above the block gas limit "
                            f"{block_gas_limit}")
    if block_gas_used + stx.gas > block_gas_limit:
        raise GasLimitError(f"gas limit {stx.gas} does not fit in the block "
                            f"({block_gas_used} of {block_gas_limit} used)")
    if stx.tx.max_fee_per_gas < base_fee:
        raise FeeCapTooLow(f"maxFeePerGas {stx.tx.max_fee_per_gas} is below the base fee "
                           f"{base_fee}")
    if stx.nonce < next_nonce:
        raise NonceTooLow(f"nonce {stx.nonce} already used (next nonce for {sender} is "
                          f"{next_nonce})")
    if stx.nonce > next_nonce:
        raise NonceTooHigh(f"nonce {stx.nonce} is ahead of the next nonce {next_nonce} for "
                           f"{sender}")
    if pending_cost + stx.max_cost > balance:
        pending = f" after {pending_cost} for its pending transactions" if pending_cost else ""
        raise InsufficientFunds(f"balance {balance} of {sender} does not cover "
                                f"{stx.max_cost} (gas * maxFeePerGas + value){pending}")


def _check_ranges(tx: Any, type_id: int) -> None:
    if tx.nonce >= UINT64_MAX:
        raise MalformedTx("nonce out of range")
    if tx.gas > UINT64_MAX:
        raise GasLimitError("gas limit out of range")
    for name in ("value", "max_fee_per_gas", "max_priority_fee_per_gas"):
        if getattr(tx, name) >= UINT256_LIMIT:
            raise MalformedTx(f"{name} out of range")
    if type_id == 2 and tx.max_priority_fee_per_gas > tx.max_fee_per_gas:
        raise MalformedTx("maxPriorityFeePerGas is above maxFeePerGas")
    for _address, slots in tx.access_list:
        for slot in slots:
            if slot >= UINT256_LIMIT:
                raise MalformedTx("access list storage key out of range")
    if not (1 <= tx.r < SECP256K1_N) or not (1 <= tx.s <= SECP256K1_N // 2):
        raise BadSignature("signature r or s out of range (s must be in the lower half)")


def recover_sender(tx: Any) -> bytes:
    # Legacy EIP-155: v = 35 + 2 * chain_id + parity. Typed: y_parity is a field.
    y_parity = (tx.v - 35) % 2 if getattr(tx, "type_id", None) is None else tx.y_parity
    msg_hash = keccak(tx.get_message_for_signing())
    signature = tx.r.to_bytes(32, "big") + tx.s.to_bytes(32, "big") + bytes([y_parity])
    try:
        public = coincurve.PublicKey.from_signature_and_message(signature, msg_hash,
                                                                hasher=None)
    except Exception:
        raise BadSignature("the signature does not recover to a public key") from None
    return keccak(public.format(compressed=False)[1:])[-20:]


def _given(parsed: tuple[Any, bytes]) -> Parser:
    """A parser that answers what was already parsed."""
    return lambda _raw: parsed


class SenderCache:
    """Bounded LRU of decoded transactions by their raw bytes (thread-safe)."""

    def __init__(self, capacity: int = 50_000, parse: Parser | None = None,
                 parse_many: BatchParser | None = None) -> None:
        self.capacity = capacity
        self.parse = parse  # a faster decoder (see `decode_transaction`), if any
        self.parse_many = parse_many
        self._items: OrderedDict[bytes, SignedTx] = OrderedDict()
        self._known: OrderedDict[bytes, bytes] = OrderedDict()  # raw -> sender (`know`)
        self.given = 0  # decodings that took a known sender instead of recovering it
        self._lock = threading.Lock()

    # Keyed by the raw bytes, not the hash: a lookup then costs a bytes hash, not a keccak.

    def get(self, raw: bytes) -> SignedTx | None:
        with self._lock:
            item = self._items.get(raw)
            if item is not None:
                self._items.move_to_end(raw)
            return item

    def put(self, item: SignedTx) -> None:
        with self._lock:
            self._items[item.raw] = item
            self._items.move_to_end(item.raw)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def pop(self, raw: bytes) -> None:
        with self._lock:
            self._items.pop(raw, None)

    def pop_many(self, raws: Iterable[bytes]) -> None:
        """`pop` of a committed block's transactions, under one lock."""
        with self._lock:
            pop, forget = self._items.pop, self._known.pop
            for raw in raws:
                pop(raw, None)
                forget(raw, None)  # told after its CheckTx had recovered it: not needed now

    def know(self, pairs: Iterable[tuple[bytes, bytes]]) -> None:
        """Senders already recovered, by raw transaction: the node's API in a process of its
        own recovers each sender it sends and tells it here (over the node's socket) before
        the engine asks CheckTx, so the node need not recover it again. Trusted as the
        node's own code is (only a process of the node's user reaches that socket); kept
        until used, the oldest forgotten past `capacity`."""
        with self._lock:
            known = self._known
            for raw, sender in pairs:
                if len(sender) == 20:
                    known[raw] = sender
            while len(known) > self.capacity:
                known.popitem(last=False)

    def _take_known(self, raws: Sequence[bytes]) -> list[bytes | None] | None:
        """The known senders of `raws` (taken), None when none is known."""
        with self._lock:
            if not self._known:
                return None
            pop = self._known.pop
            senders = [pop(raw, None) for raw in raws]
        return senders if any(s is not None for s in senders) else None

    def prime(self, raws: Sequence[bytes], chain_id: int) -> int:
        """Decode `raws` ahead of CheckTx, so CheckTx finds them here: the node's API calls
        this from a worker thread, and the ABCI server for a batch of CheckTx requests
        (transactions from peers), the batch parser recovering signatures with the GIL
        released. Those already here are not decoded again. Returns how many were newly
        cached; a transaction that does not decode is left for CheckTx to refuse with its
        reason. Only a shortcut, so it never raises (its callers — the API, the ABCI server,
        FinalizeBlock — go on without it): a failure is logged, and what it did not cache is
        decoded on its own when asked for."""
        if self.parse_many is None or not raws:
            return 0
        with self._lock:
            fresh = [raw for raw in raws if raw not in self._items]
        cached = 0
        try:
            senders = self._take_known(fresh)
            if senders is not None:
                self.given += sum(s is not None for s in senders)
            parsed_all = self.parse_many(fresh, senders) if fresh else ()
            for raw, parsed in zip(fresh, parsed_all, strict=True):
                if parsed is None:
                    continue
                try:
                    self.put(decode_transaction(raw, chain_id, _given(parsed)))
                except TxError:
                    continue
                cached += 1
        except Exception:
            log.exception("recovering a batch of %d transactions ahead failed", len(fresh))
        return cached

    def decode(self, raw: bytes, chain_id: int) -> SignedTx:
        """The cached decoding of `raw`, or decode (and cache) it now."""
        item = self.get(raw)
        if item is not None and item.chain_id == chain_id:
            return item
        if self._known and self.prime([raw], chain_id):  # its sender told (`know`)
            item = self.get(raw)
            if item is not None:
                return item
        item = decode_transaction(raw, chain_id, self.parse)
        self.put(item)
        return item
