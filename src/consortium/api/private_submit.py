"""Private transactions on their way to the chain (privacy groups, docs/privacy.md).

`PrivateSubmitter.distribute` checks a member's signed private transaction against its
group (the group's chain id, fee 0, a sender of a group member, this node in the group with
the current epoch key), queues it and answers once its marker is journalled (or refused:
then with the reason); the flusher seals everything queued for a group into
markers (`Privacy.submit`, at most MARKER_PLAINTEXT bytes of transactions each) that the
node signs with its node account (its privacy key) and submits through the API's local
transaction path (journal, CheckTx answer). Root attestations (`Privacy.attestRoot`) go out
the same way, after each block in which a group had markers, and at start for the recent
heights with markers this node's member has not attested (the processor does not announce
again a height it wrote just before a crash). The node's privacy key lives in
`HOME/privacy_key.json` (mode 600), made at the first start like CometBFT's node key."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_keys import keys
from eth_typing import HexStr
from eth_utils import ValidationError

from consortium.api.local_txs import LocalTransactions
from consortium.api.nonce_queue import HeldTx, NonceQueue, QueueFull
from consortium.errors import (
    ConfigError,
    ConsortiumError,
    InitcodeTooLarge,
    NonceTooLow,
    NotPermitted,
    TxError,
)
from consortium.ledger.transactions import MAX_INITCODE_BYTES, SignedTx, decode_transaction

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

log = logging.getLogger("consortium.api.private")

T = TypeVar("T")
RunSync = Callable[[Callable[[], T]], Awaitable[T]]

PRIVACY_KEY_FILE = "privacy_key.json"
MARKER_PLAINTEXT = 100 * 1024  # private transactions sealed into one marker, at most
FLUSH_SECONDS = 0.05  # what arrives within this of the first queued transaction shares a marker
MARKER_GAS = 150_000  # Privacy.submit's own work; calldata costs the EIP-7623 floor on top
ATTEST_GAS = 200_000
ATTEST_WINDOW = 256  # heights further behind the chain's tip are not attested
SEND_WAIT_SECONDS = 30.0  # distribute answers once the marker is journalled, or after this
MAX_TRACKED = 100_000  # private transactions whose outcome this node remembers (in memory)
QUEUED, PENDING, COMMITTED, REJECTED, UNKNOWN = (
    "queued", "pending", "committed", "rejected", "unknown")


def hx(b: bytes) -> str:
    return "0x" + b.hex()


def _selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


SUBMIT = _selector("submit(bytes32,uint32,bytes)")
ATTEST = _selector("attestRoot(bytes32,uint64,bytes32)")


# --- the node's privacy key ------------------------------------------------------------------


def load_privacy_key(home: Path, *, create: bool = True) -> bytes:
    """The node's privacy key (32 bytes) from HOME/privacy_key.json, made (mode 600) if
    absent and `create`. A file that is not {"private_key": "<64 hex>"} on secp256k1 is
    refused with a ConfigError naming it."""
    path = home / PRIVACY_KEY_FILE
    if not path.exists():
        if not create:
            raise ConfigError(f"{path} does not exist (a node makes it at its first start)")
        key = secrets.token_bytes(32)
        keys.PrivateKey(key)  # a valid scalar (the odds otherwise are nil, but check)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"private_key": key.hex()}, out)
            out.write("\n")
        os.replace(tmp, path)
        log.info("made the node's privacy key %s", path)
        return key
    try:
        doc = json.loads(path.read_text())
        text = doc["private_key"] if isinstance(doc, dict) else None
        if not isinstance(text, str):
            raise ValueError("no private_key")
        key = bytes.fromhex(text.removeprefix("0x"))
        if len(key) != 32:
            raise ValueError("not 32 bytes")
        keys.PrivateKey(key)  # a scalar of the curve
    except (OSError, ValueError, KeyError, ValidationError) as exc:
        raise ConfigError(f"{path} is not a privacy key ({{\"private_key\": \"<64 hex>\"}} "
                          f"on secp256k1): {exc}") from None
    return key


def node_identity(key: bytes) -> tuple[bytes, bytes]:
    """(node account, 64-byte public key) of a privacy key."""
    public = keys.PrivateKey(key).public_key.to_bytes()
    return keccak(public)[12:], public


@dataclass
class PrivacyNode:
    """What the node hands its API: the group processor (P2's `PrivateGroups`), the
    privacy key, and who hears of each processed height (the submitter's attestations)."""

    key: bytes
    groups: Any = None
    listeners: list[Callable[[bytes, int, bytes, bool], None]] = field(default_factory=list)

    def on_block(self, group_id: bytes, height: int, root: bytes, had_markers: bool) -> None:
        for listener in list(self.listeners):
            try:
                listener(group_id, height, root, had_markers)
            except Exception:
                log.exception("a private block listener failed")


def privacy_node(ledger: Any, ledger_dir: Path, key: bytes, *,
                 readonly: bool = False) -> PrivacyNode:
    """The group processor over `ledger` (not started; group stores in
    `ledger_dir`/private/), its listeners hooked; without one
    (software without it) `groups` stays None and the node serves no priv_ methods.
    `readonly`: the reads of the stores only, for the node's API in a process of its own
    (the node tells it the processed heights: `on_block`)."""
    node = PrivacyNode(key)
    try:
        from consortium.ledger.private_groups import PrivateGroups
    except ImportError:
        log.warning("this software has no privacy groups processor: priv_ methods are off")
        return node
    node.groups = PrivateGroups(ledger, ledger_dir, key, on_block=node.on_block,
                                readonly=readonly)
    return node


# --- the submitter ---------------------------------------------------------------------------


@dataclass
class PrivateEntry:
    """A private transaction this node accepted, and where it is."""

    hash: bytes
    group_id: bytes
    raw: bytes
    sender: bytes
    nonce: int
    state: str = QUEUED
    marker: bytes | None = None
    reason: str | None = None
    seq: int = 0  # arrival order on this node
    sent: asyncio.Future[str | None] | None = None  # told None or why not, once sealed


class PrivateSubmitter:
    """Queues private transactions per group and sends them sealed, in markers signed by
    this node's node account; sends the node's root attestations."""

    def __init__(self, ledger: Any, local_txs: LocalTransactions, node: PrivacyNode,
                 run_sync: RunSync[Any], *, flush_seconds: float = FLUSH_SECONDS,
                 held: NonceQueue | None = None) -> None:
        self.ledger = ledger
        self.local_txs = local_txs
        self.node = node
        self.groups = node.groups
        self.run_sync = run_sync
        self.flush_seconds = flush_seconds
        self.node_account, self.public_key = node_identity(node.key)
        self.entries: OrderedDict[bytes, PrivateEntry] = OrderedDict()
        self._queues: dict[bytes, list[PrivateEntry]] = {}
        self._attestations: list[tuple[bytes, int, bytes]] = []
        self._attest_lock = threading.Lock()
        self._attest_sent: set[tuple[bytes, int]] = set()  # (group, height) sent, recent ones
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._nonce: int | None = None
        self._memo_height = -1
        self._seq = 0
        self._checking: set[int] = set()  # sequence numbers of calls being checked
        # per (group, sender): the nonces of its private transactions not executed yet
        self._waiting: dict[tuple[bytes, bytes], dict[int, PrivateEntry]] = {}
        self._memo_values: dict[tuple[Any, ...], Any] = {}
        # nonces ahead of their sender's next one, held until the gap fills (as the public
        # path's NonceQueue does), keyed by group id + sender
        self.held = held if held is not None else NonceQueue()
        node.listeners.append(self.on_block)

    # --- views of the public state ----------------------------------------------------------

    def privacy_view(self) -> Any:
        """P1's `PrivacyView` of the committed state (one height for all its reads)."""
        from consortium.system.privacy import PrivacyView

        height = self.ledger.latest_height()
        state_at = getattr(self.ledger, "_state_at", None)
        if state_at is not None:  # one world for all the view's reads (one per thread)
            return PrivacyView(state_at(height).get_storage)
        ledger = self.ledger

        def get_storage(address: bytes, slot: int) -> int:
            return int.from_bytes(ledger.get_storage_at(hx(address), slot, height), "big")

        return PrivacyView(get_storage)

    def my_member(self, view: Any) -> int:
        return int(view.member_of_node(self.node_account))

    def _memo(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """`compute()` remembered until the next block (the answers of the committed
        state a private transaction is checked against: one lookup per block, not per
        transaction)."""
        height = self.ledger.latest_height()
        if self._memo_height != height:
            self._memo_height, self._memo_values = height, {}
        if key in self._memo_values:
            return self._memo_values[key]  # type: ignore[no-any-return]
        value = compute()
        self._memo_values[key] = value
        return value

    def group_chain_id(self, group_id: bytes) -> int:
        from consortium.system.privacy_payload import group_chain_id

        return int(group_chain_id(int(self.ledger.eth_chain_id), group_id))

    # --- priv_distributeRawTransaction ------------------------------------------------------

    def check(self, raw: bytes, group_id: bytes) -> SignedTx:
        """The private transaction decoded and checked against its group (a worker thread:
        signature recovery, state reads); raises TxError naming what is wrong."""
        if len(raw) > MARKER_PLAINTEXT - 16:
            raise TxError(f"private transaction is {len(raw)} bytes, the limit is "
                          f"{MARKER_PLAINTEXT - 16}")
        views: list[Any] = []

        def view() -> Any:
            if not views:
                views.append(self.privacy_view())
            return views[0]

        group = self._memo(("group", group_id), lambda: view().group(group_id))
        if group is None or int(group.status) == 0:
            raise TxError(f"unknown privacy group {hx(group_id)}")
        if int(group.status) != 2:
            raise TxError(f"privacy group {hx(group_id)} is not active yet (every founding "
                          "member must join)")
        mine = self._memo(("mine",), lambda: self.my_member(view()))
        if mine == 0 or mine not in tuple(group.members):
            raise TxError(f"this node is not a member's node of privacy group {hx(group_id)}; "
                          "send the transaction to a node of a group member")
        if self.groups.epoch_key(group_id, int(group.epoch)) is None:
            raise TxError(f"this node cannot open epoch {group.epoch}'s key of privacy group "
                          f"{hx(group_id)} yet; try again after the next block")
        chain_id = self.group_chain_id(group_id)
        senders = getattr(self.ledger, "senders", None)
        stx = (senders.decode(raw, chain_id) if senders is not None
               else decode_transaction(raw, chain_id))
        if stx.tx.max_fee_per_gas != 0 or stx.tx.max_priority_fee_per_gas != 0:
            raise TxError("a private transaction's gas price (max fee) must be 0: private "
                          "state has no balances")
        if stx.value != 0:
            raise TxError("a private transaction carries no value (private state has no "
                          "balances)")
        from consortium.ledger.private_ledger import PUBLIC_SYSTEM

        if stx.is_creation and len(stx.tx.data) > MAX_INITCODE_BYTES:
            raise InitcodeTooLarge(f"initcode is {len(stx.tx.data)} bytes, the limit is "
                                   f"{MAX_INITCODE_BYTES} (EIP-3860)")
        if not stx.is_creation and bytes(stx.tx.to) in PUBLIC_SYSTEM:
            raise NotPermitted(f"{hx(bytes(stx.tx.to))} is a public system contract: send "
                               "this transaction on the public chain")
        if stx.gas < stx.min_gas:
            raise TxError(f"intrinsic gas too low: gas {stx.gas}, this transaction needs at "
                          f"least {stx.min_gas}")
        limit = int(self.ledger.block_gas_limit)
        if stx.gas > limit:
            raise TxError(f"gas {stx.gas} is over the block gas limit {limit}")
        member = self._memo(("member", stx.sender),
                            lambda: int(view().member_of_account(stx.sender)))
        if member == 0 or member not in tuple(group.members):
            raise TxError(f"sender {hx(stx.sender)} is not an account of a member of privacy "
                          f"group {hx(group_id)}")
        reader = self.groups.reader(group_id)
        if reader is not None:
            committed = int(reader.get_nonce(hx(stx.sender)))
            if stx.nonce < committed:
                raise NonceTooLow(f"nonce too low: {hx(stx.sender)}'s next private nonce in "
                                  f"group {hx(group_id)} is {committed}, this one is "
                                  f"{stx.nonce}")
        return stx

    async def distribute(self, raw: bytes, group_id: bytes) -> bytes:
        """Check and queue one private transaction; its hash (already known: an error).
        Transactions keep the order they arrived in (a batch's calls are checked in
        parallel threads): each takes a sequence number now, and a flush sends only what
        arrived before the oldest one still being checked."""
        seq = self._seq
        self._seq += 1
        self._checking.add(seq)
        try:
            stx, next_nonce = await self.run_sync(lambda: self._check_new(raw, group_id))
            self._refuse_held(stx, group_id)  # again on the loop: a batch checks in parallel
            entry = PrivateEntry(stx.hash, group_id, raw, stx.sender, stx.nonce, seq=seq)
            next_nonce = self._next_waiting(group_id, stx.sender, next_nonce)
            if stx.nonce > next_nonce:
                self._hold(entry, next_nonce)
                return stx.hash  # its status says "queued (held until nonce N arrives)"
            entry.sent = asyncio.get_running_loop().create_future()
            self._enqueue(entry)
            self._release(group_id, stx.sender,
                          self._next_waiting(group_id, stx.sender, stx.nonce + 1), seq)
        finally:
            self._checking.discard(seq)
            self._poke()
        try:  # answered once its marker is journalled ("accepted means committed or told")
            refused = await asyncio.wait_for(asyncio.shield(entry.sent), SEND_WAIT_SECONDS)
        except TimeoutError:
            return stx.hash  # still queued: its status says what becomes of it
        if refused is not None:
            raise TxError(f"private transaction {hx(stx.hash)} was not sent: {refused}")
        return stx.hash

    def _check_new(self, raw: bytes, group_id: bytes) -> tuple[SignedTx, int]:
        """`check`, and refuse what this node already holds: the same transaction, or
        another one with its nonce still waiting here; with the sender's next private nonce
        (committed, and what waits here)."""
        stx = self.check(raw, group_id)
        same = self._waiting.get((group_id, stx.sender), {}).get(stx.nonce)
        if same is not None:
            self._settle(same)
        self._refuse_held(stx, group_id)
        reader = self.groups.reader(group_id)
        committed = int(reader.get_nonce(hx(stx.sender))) if reader is not None else 0
        return stx, self.queued_nonce(group_id, stx.sender, committed)

    def _next_waiting(self, group_id: bytes, sender: bytes, nonce: int) -> int:
        """`nonce` past those queued or sent here since it was read (on the loop)."""
        waiting = self._waiting.get((group_id, sender), {})
        while nonce in waiting and waiting[nonce].state in (QUEUED, PENDING):
            nonce += 1
        return nonce

    def _enqueue(self, entry: PrivateEntry) -> None:
        self._track(entry)
        self._queues.setdefault(entry.group_id, []).append(entry)

    def _hold(self, entry: PrivateEntry, next_nonce: int) -> None:
        """Hold a transaction whose nonce is ahead (NonceQueue's caps: QueueFull)."""
        key = entry.group_id + entry.sender
        try:
            replaced = self.held.hold(HeldTx(entry.hash, entry.raw, key, entry.nonce,
                                             time.time()))
        except QueueFull as exc:
            raise QueueFull(f"private {exc.message}".replace(
                hx(key), f"{hx(entry.sender)} in group {hx(entry.group_id)}")) from None
        if replaced is not None and replaced.hash in self.entries:
            self._reject(self.entries[replaced.hash],
                         f"replaced by {hx(entry.hash)} (same nonce) while held")
        entry.reason = f"held until nonce {next_nonce} arrives"
        self.entries[entry.hash] = entry
        self.entries.move_to_end(entry.hash)

    def _release(self, group_id: bytes, sender: bytes, next_nonce: int, seq: int) -> None:
        """Queue the held transactions whose gap is filled now that `next_nonce` is next,
        with the arrival number `seq` of what filled it (sent with it or after it; `flush`
        orders one sender's by nonce)."""
        for tx in self.held.release(group_id + sender, next_nonce):
            entry = self.entries.get(tx.hash)
            if entry is not None and entry.state == QUEUED:
                entry.reason, entry.seq = None, seq
                self._enqueue(entry)

    async def release_committed(self) -> None:
        """Release what a gap filled through another node (the group's committed nonce
        moved past it) let go."""
        for key in self.held.senders():
            group_id, sender = key[:32], key[32:]
            reader = self.groups.reader(group_id)
            if reader is None:
                continue
            committed = await self.run_sync(functools.partial(_nonce_of, reader, sender))
            self._release(group_id, sender, self._next_waiting(group_id, sender, committed),
                          self._seq)
            self._seq += 1

    def expire_held(self, now: float | None = None) -> None:
        """Drop the transactions held longer than the queue's `hold_seconds`."""
        for tx in self.held.expire(time.time() if now is None else now):
            entry = self.entries.get(tx.hash)
            if entry is not None and entry.state == QUEUED:
                self._reject(entry, f"dropped: {entry.reason or 'held'} for "
                                    f"{self.held.hold_seconds:g} s, and it did not")

    def _refuse_held(self, stx: SignedTx, group_id: bytes) -> None:
        """Refuse a transaction this node holds, or one whose nonce another one waiting here
        holds (run on the loop once more after the threaded check: two calls of one batch,
        checked at once, must not both be queued)."""
        known = self.entries.get(stx.hash)
        if known is not None and known.state != REJECTED:
            raise TxError(f"already known: private transaction {hx(stx.hash)}")
        same = self._waiting.get((group_id, stx.sender), {}).get(stx.nonce)
        if same is not None and same.state in (QUEUED, PENDING):
            raise NonceTooLow(f"nonce too low: private nonce {stx.nonce} of "
                              f"{hx(stx.sender)} is taken by {hx(same.hash)}, which waits "
                              "on this node")

    def _settle(self, entry: PrivateEntry) -> None:
        """Mark a sent transaction the group's execution refused as rejected (a read of
        the group's store)."""
        if entry.state != PENDING:
            return
        reader = self.groups.reader(entry.group_id)
        rejection = None if reader is None else reader.transaction_rejection(hx(entry.hash))
        if rejection is not None:
            self._reject(entry, str(rejection["reason"]))

    def queued_nonce(self, group_id: bytes, sender: bytes, committed: int) -> int:
        """The sender's next private nonce counting what waits here unprocessed (a
        worker thread: reads the group's store)."""
        waiting = self._waiting.get((group_id, sender))
        if not waiting:
            return committed
        for entry in list(waiting.values()):
            if entry.nonce >= committed:
                self._settle(entry)
        for nonce in [n for n, e in waiting.items() if n < committed or e.state == REJECTED]:
            del waiting[nonce]  # executed, or refused: no longer waiting
        nonce = committed
        while nonce in waiting:
            nonce += 1
        return nonce

    def _track(self, entry: PrivateEntry) -> None:
        self.entries[entry.hash] = entry
        self.entries.move_to_end(entry.hash)
        self._waiting.setdefault((entry.group_id, entry.sender), {})[entry.nonce] = entry
        while len(self.entries) > MAX_TRACKED:
            _, old = self.entries.popitem(last=False)
            waiting = self._waiting.get((old.group_id, old.sender), {})
            if waiting.get(old.nonce) is old:
                del waiting[old.nonce]
                if not waiting:
                    del self._waiting[(old.group_id, old.sender)]

    # --- attestations (from the group processor's thread) ------------------------------------

    def on_block(self, group_id: bytes, height: int, root: bytes, had_markers: bool) -> None:
        """After the processor executed `height` of a group: attest its root if the group
        had markers there."""
        if not had_markers or height + ATTEST_WINDOW < self.ledger.latest_height():
            return  # an old height replayed (a restart, a member added later): not attested
        with self._attest_lock:
            self._attestations.append((group_id, height, root))
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._poke)

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # --- the flusher ------------------------------------------------------------------------

    async def run(self) -> None:
        """Seal and send what is queued, until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            missed = await self.run_sync(self.missed_attestations)
        except Exception:
            log.exception("looking for heights this node has not attested failed")
            missed = []
        if missed:
            log.info("attesting %d recent private root(s) this node had not attested",
                     len(missed))
            with self._attest_lock:
                self._attestations[:0] = missed
        if self._queues or self._attestations:
            self._wake.set()
        while True:
            try:  # wake up now and then while transactions are held, to expire them
                await asyncio.wait_for(self._wake.wait(), min(1.0, self.held.hold_seconds)
                                       if len(self.held) else None)
            except TimeoutError:
                self.expire_held()
                await self.release_committed()
                if not self._queues:
                    continue
            self.expire_held()
            # as soon as every call that arrived is checked (its callers wait for the
            # marker), at most flush_seconds while more keep arriving (they share it)
            deadline = time.monotonic() + self.flush_seconds
            await asyncio.sleep(0)
            while self._checking and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            self._wake.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sending private markers failed; retrying on the next one")

    async def flush(self) -> None:
        """Send everything queued: per group, markers of at most MARKER_PLAINTEXT bytes of
        private transactions; then the pending attestations."""
        horizon = min(self._checking, default=self._seq)
        queues: dict[bytes, list[PrivateEntry]] = {}
        for group_id, entries in list(self._queues.items()):
            ready = sorted((e for e in entries if e.seq < horizon), key=lambda e: e.seq)
            if ready:
                queues[group_id] = _nonce_order(ready)
                left = [e for e in entries if e.seq >= horizon]
                if left:
                    self._queues[group_id] = left
                else:
                    del self._queues[group_id]
        with self._attest_lock:
            attestations, self._attestations = self._attestations, []
        for group_id, entries in queues.items():
            try:
                await self._send_group(group_id, entries)
            except Exception as exc:
                log.exception("sealing privacy group %s's transactions failed", hx(group_id))
                for entry in entries:
                    if entry.state == QUEUED:
                        self._reject(entry, f"the node could not seal it: {exc}")
                        _tell(entry, entry.reason)
        if attestations:
            attestations = await self.run_sync(lambda: self._unattested(attestations))
        for group_id, height, root in attestations:
            if (group_id, height) in self._attest_sent:
                continue  # found at start and announced by the processor too
            self._attest_sent.add((group_id, height))
            data = ATTEST + abi_encode(["bytes32", "uint64", "bytes32"], [group_id, height, root])
            error = await self._send_signed(data, ATTEST_GAS)
            if error is not None:
                log.warning("attesting group %s's root at height %d was refused: %s",
                            hx(group_id), height, error)

    def _unattested(self, attestations: list[tuple[bytes, int, bytes]]
                    ) -> list[tuple[bytes, int, bytes]]:
        """Those this node's member has not attested yet (a restarted node replays heights
        it attested before its crash)."""
        view = self.privacy_view()
        member = self.my_member(view)
        horizon = self.ledger.latest_height() - ATTEST_WINDOW
        self._attest_sent = {(g, h) for g, h in self._attest_sent if h >= horizon}
        return [(g, h, r) for g, h, r in attestations
                if member and not view.state.attested(g, h, member)]

    def missed_attestations(self) -> list[tuple[bytes, int, bytes]]:
        """(group, height, root) of the heights within ATTEST_WINDOW of the tip in which a
        group this node keeps (and its member is in) had markers, that this node's store has
        processed and its member has not attested: `on_block` is not repeated for a height
        the processor wrote just before a crash. Reads the chain: call in a worker thread."""
        from consortium.ledger.private_groups import block_markers

        groups, tip = self.groups, self.ledger.latest_height()
        if groups is None or not tip:
            return []
        view = self.privacy_view()
        member = self.my_member(view) if view.enabled() else 0
        readers = {}
        for group_id in groups.group_ids() if member else ():
            info, reader = view.group(group_id), groups.reader(group_id)
            if info is not None and member in info.members and reader is not None:
                readers[group_id] = (reader, groups.processed_height(group_id))
        missed = []
        for height in range(max(1, tip - ATTEST_WINDOW), tip + 1) if readers else ():
            for group_id in sorted({m.group_id for m in block_markers(self.ledger, height)}):
                reader, processed = readers.get(group_id, (None, 0))
                if (reader is not None and reader.genesis_height <= height <= processed
                        and not view.state.attested(group_id, height, member)):
                    missed.append((group_id, height, reader.root_at(height)))
        return missed

    async def _send_group(self, group_id: bytes, entries: list[PrivateEntry]) -> None:
        try:
            epoch, key = await self.run_sync(lambda: self._epoch_key(group_id))
        except ConsortiumError as exc:
            for entry in entries:
                self._reject(entry, exc.message or str(exc))
                _tell(entry, entry.reason)
            return
        for batch in _batches(entries):
            from consortium.system.privacy_payload import seal_batch

            payload = seal_batch(key, group_id, epoch, [e.raw for e in batch])
            data = SUBMIT + abi_encode(["bytes32", "uint32", "bytes"], [group_id, epoch, payload])
            gas = MARKER_GAS + 21_000 + 40 * len(data)
            marker_hash: list[bytes] = []
            error = await self._send_signed(data, gas, marker_hash)
            for entry in batch:
                entry.marker = marker_hash[0] if marker_hash else None
                if error is None:
                    entry.state = PENDING
                    entry.raw = b""  # sealed and journalled in its marker: not kept twice
                else:
                    self._reject(entry, f"its marker was refused: {error}")
                _tell(entry, entry.reason)

    def _epoch_key(self, group_id: bytes) -> tuple[int, bytes]:
        group = self.privacy_view().group(group_id)
        if group is None or int(group.status) != 2:
            raise TxError(f"privacy group {hx(group_id)} is not active")
        key = self.groups.epoch_key(group_id, int(group.epoch))
        if key is None:
            raise TxError(f"this node cannot open epoch {group.epoch}'s key of privacy group "
                          f"{hx(group_id)}")
        return int(group.epoch), bytes(key)

    def _reject(self, entry: PrivateEntry, why: str) -> None:
        entry.state = REJECTED
        entry.reason = why

    @functools.cached_property
    def account(self) -> LocalAccount:
        """The node account that signs Privacy's calls (eth_account loaded at the first: a
        node that never sends one does not pay its import, a tenth of a start)."""
        from eth_account import Account

        return Account.from_key(self.node.key)

    async def _send_signed(self, data: bytes, gas: int,
                           hash_out: list[bytes] | None = None) -> str | None:
        """Sign a call of Privacy from the node account and submit it locally; None when
        accepted, else why not. A refused nonce is resynced from the chain and tried once
        more."""
        from consortium.system.privacy import PRIVACY_ADDRESS

        for attempt in (1, 2):
            nonce = await self._next_nonce()
            signed = self.account.sign_transaction({
                "to": HexStr("0x" + bytes(PRIVACY_ADDRESS).hex()), "data": data, "gas": gas,
                "nonce": nonce, "chainId": int(self.ledger.eth_chain_id),
                "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "value": 0})
            raw = bytes(signed.raw_transaction)
            if hash_out is not None:
                hash_out[:] = [keccak(raw)]
            [error] = await self.local_txs.submit([raw])
            if isinstance(error, bytes):  # accepted: its hash
                self._nonce = nonce + 1
                return None
            self._nonce = None  # resync from the chain
            if attempt == 1 and _nonce_error(error):
                continue
            return error.message or type(error).__name__
        return None  # unreachable: the second attempt returns

    async def _next_nonce(self) -> int:
        """The node account's next nonce: tracked here, else (at start, after a refusal)
        the mempool's pending one, past any of its transactions still in the journal (after
        a restart they are resubmitted meanwhile: a new marker must not take their nonce)."""
        if self._nonce is None:
            address = self.node_account

            def pending() -> int:
                journalled = [e.nonce + 1 for e in self.local_txs.journal.entries()
                              if e.sender == address]
                return max([self.local_txs.pending_count(
                    address, int(self.ledger.pending_nonce(hx(address)))), *journalled])

            self._nonce = await self.run_sync(pending)
        return self._nonce

    # --- status -----------------------------------------------------------------------------

    def status(self, tx_hash: bytes) -> dict[str, Any]:
        """Where a private transaction is: committed (executed in the group's state),
        pending (its marker sent), queued (waiting for the next marker), rejected (why),
        unknown. Reads the group stores: call in a worker thread."""
        entry = self.entries.get(tx_hash)
        groups = [entry.group_id] if entry is not None else list(self.groups.group_ids())
        for group_id in groups:
            found = self._processed(group_id, tx_hash)
            if found is not None:
                return found
        if entry is None:
            return _status(UNKNOWN)
        out = _status(entry.state, entry.group_id, entry.marker, reason=entry.reason)
        if entry.state == PENDING and entry.marker is not None:
            marker = self.local_txs.status(entry.marker)
            if marker["status"] == REJECTED:
                self._reject(entry, f"its marker {hx(entry.marker)} was rejected: "
                                    f"{marker['reason']}")
                out = _status(REJECTED, entry.group_id, entry.marker, reason=entry.reason)
            elif marker["status"] == COMMITTED:
                out["markerBlockNumber"] = marker["blockNumber"]
                found = self.ledger.receipt_record(hx(entry.marker))
                if found is not None and int(found[0].status) != 1:
                    self._reject(entry, f"its marker {hx(entry.marker)} reverted in block "
                                        f"{int(found[0].height)} (the group's epoch or "
                                        "membership changed meanwhile?): send it again")
                    out = _status(REJECTED, entry.group_id, entry.marker, reason=entry.reason)
        return out

    def _processed(self, group_id: bytes, tx_hash: bytes) -> dict[str, Any] | None:
        reader = self.groups.reader(group_id)
        if reader is None:
            return None
        marker = self.marker_of(group_id, tx_hash)
        found = reader.receipt_record(hx(tx_hash))
        if found is not None:
            return _status(COMMITTED, group_id, marker, block=int(found[0].height))
        rejection = reader.transaction_rejection(hx(tx_hash))
        if rejection is not None:
            return _status(REJECTED, group_id, marker, block=int(rejection["blockNumber"]),
                           reason=str(rejection["reason"]))
        return None

    def marker_of(self, group_id: bytes, tx_hash: bytes) -> bytes | None:
        """The public marker transaction that carried a private one, if known."""
        reader = self.groups.reader(group_id)
        find = getattr(reader, "marker_of", None)
        if find is not None:
            found = find(tx_hash)
            if found is not None:
                return bytes(found)
        entry = self.entries.get(tx_hash)
        return entry.marker if entry is not None else None

    def group_of(self, tx_hash: bytes) -> bytes | None:
        """The group a private transaction belongs to (this node's groups only)."""
        entry = self.entries.get(tx_hash)
        if entry is not None:
            return entry.group_id
        for group_id in self.groups.group_ids():
            reader = self.groups.reader(group_id)
            if reader is not None and (reader.receipt_record(hx(tx_hash)) is not None or
                                       reader.transaction_rejection(hx(tx_hash)) is not None):
                return bytes(group_id)
        return None


def _status(state: str, group_id: bytes | None = None, marker: bytes | None = None, *,
            block: int | None = None, reason: str | None = None) -> dict[str, Any]:
    return {"status": state, "privacyGroupId": hx(group_id) if group_id else None,
            "markerHash": hx(marker) if marker else None,
            "blockNumber": hex(block) if block is not None else None, "reason": reason}


def _tell(entry: PrivateEntry, refused: str | None) -> None:
    """Answer the distribute call waiting for `entry`'s marker."""
    if entry.sent is not None and not entry.sent.done():
        entry.sent.set_result(refused)
    entry.sent = None


def _nonce_error(error: ConsortiumError) -> bool:
    return isinstance(error, NonceTooLow) or "nonce" in (error.message or "").lower()


def _nonce_of(reader: Any, sender: bytes) -> int:
    return int(reader.get_nonce(hx(sender)))


def _nonce_order(entries: list[PrivateEntry]) -> list[PrivateEntry]:
    """`entries` in arrival order, but each sender's in nonce order among its own places
    (held transactions released by the one that filled their gap follow it)."""
    by_sender: dict[bytes, list[PrivateEntry]] = {}
    for entry in entries:
        by_sender.setdefault(entry.sender, []).append(entry)
    ordered = {s: iter(sorted(es, key=lambda e: e.nonce)) for s, es in by_sender.items()}
    return [next(ordered[entry.sender]) for entry in entries]


def _batches(entries: list[PrivateEntry]) -> list[list[PrivateEntry]]:
    """Consecutive runs of at most MARKER_PLAINTEXT bytes (RLP list overhead counted)."""
    out: list[list[PrivateEntry]] = []
    size = 0
    for entry in entries:
        cost = len(entry.raw) + 4
        if not out or size + cost > MARKER_PLAINTEXT:
            out.append([])
            size = 0
        out[-1].append(entry)
        size += cost
    return out
