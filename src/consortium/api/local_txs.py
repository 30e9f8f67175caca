"""The transactions this node's API accepted, from the hash it answers until a block commits
them or the client can learn why not ("accepted means committed or told").

`submit` checks each transaction statelessly, refuses known or committed ones, forwards the
rest to CheckTx, holds those ahead of their sender's nonce (`NonceQueue`) and journals what
it accepted (`TxJournal`, one write per batch) before answering. `run` resubmits the journal
after a restart, then on every block prunes, expires and releases held transactions."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from functools import partial
from typing import Any

from consortium.api.engine_client import EngineClient
from consortium.api.eth_json import EthReads, hx, tx_json
from consortium.api.nonce_queue import HeldTx, NonceQueue, QueueFull
from consortium.api.service_surface import RunSync
from consortium.api.tx_journal import JournalEntry, TxJournal
from consortium.errors import ConsortiumError, NonceTooHigh, NonceTooLow, TxError
from consortium.ledger.chain_store import TxRecord
from consortium.ledger.transactions import SignedTx, decode_transaction
from consortium.ledger.types import LedgerReader

log = logging.getLogger("consortium.api.txs")

BLOCK_POLL_SECONDS = 0.2
STALE_SECONDS = 5.0  # an entry not committed this long after acceptance is checked for validity
CATCH_UP_WAIT_SECONDS = 120.0  # resubmission waits this long at most for the engine to sync
REBROADCAST_SECONDS = 60.0  # an entry still pending this long is sent to the engine again
MAX_SCAN_BLOCKS = 100  # new blocks read for their hashes; past that, entries looked up one by one
MAX_DROPPED = 10_000  # reasons kept (in memory) for transactions dropped after acceptance

COMMITTED, PENDING, QUEUED, REJECTED, UNKNOWN = (
    "committed", "pending", "queued", "rejected", "unknown")


def _retrieve(fut: asyncio.Future[Any]) -> None:
    """Mark a future's exception as seen (it was reported another way)."""
    if not fut.cancelled():
        fut.exception()


async def _journal_failure(write: Awaitable[None]) -> ConsortiumError | None:
    """None once a journal write is durable, else the error answered instead of acceptance."""
    try:
        await write
    except ConsortiumError as exc:
        return exc
    except Exception:
        log.exception("writing the transaction journal failed")
        return TxError("the node could not journal the transaction; send it again")
    return None


def _status(status: str, block: str | None = None, reason: str | None = None
            ) -> dict[str, Any]:
    return {"status": status, "blockNumber": block, "reason": reason}


def _expired(hold: float, tx: HeldTx, missing: int) -> str:
    """Why a transaction held past `hold` seconds was dropped (the receipt's error says
    "transaction 0x… was dropped: " before it): the nonce it waited for, then its own."""
    if missing >= tx.nonce:  # the gap filled as it expired
        return (f"held {hold:g} s for an earlier nonce of {hx(tx.sender)} (its own nonce is "
                f"{tx.nonce})")
    return (f"held {hold:g} s until nonce {missing} of {hx(tx.sender)} arrives, and it did "
            f"not (its own nonce is {tx.nonce})")


class LocalTransactions:
    """The node's own accepted transactions: journal, held future nonces, drop reasons."""

    def __init__(self, ledger: LedgerReader, engine: EngineClient, run_sync: RunSync[Any], *,
                 journal: TxJournal | None = None, queue: NonceQueue | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.ledger = ledger
        self.engine = engine
        self.run_sync = run_sync
        self.journal = journal if journal is not None else TxJournal()
        self.queue = queue if queue is not None else NonceQueue()
        self.clock = clock
        self.dropped: OrderedDict[bytes, str] = OrderedDict()  # hash -> why
        self._writes: list[tuple[dict[bytes, JournalEntry | None], asyncio.Future[None]]] = []
        self._writing = False
        self._drain: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._height: int | None = None
        self._scanned: int | None = None  # the last block whose hashes pruned the journal
        self._sent_at: dict[bytes, float] = {}  # rebroadcasts, by hash
        # told each batch's senders before it goes to the engine (the API in a process of
        # its own tells its node: `check_relay.NodeLink`)
        self.before_broadcast: Callable[[Sequence[SignedTx | JournalEntry]], None] | None = None
        # What the journal held at start and the engine's mempool does not have yet (it did
        # not survive the restart): counted in the pending nonce and kept from new
        # transactions until `resubmit` has sent it again, so no client takes those nonces
        # meanwhile. sender -> nonce -> hash
        self._replaying: dict[bytes, dict[int, bytes]] = {}
        for e in self.journal.entries(ordered=False):
            self._replaying.setdefault(e.sender, {})[e.nonce] = e.hash

    # --- eth_sendRawTransaction ---------------------------------------------------------

    async def submit(self, raws: Sequence[bytes]) -> list[bytes | ConsortiumError]:
        """Submit a client's transactions; per transaction its hash (accepted or held: the
        answer) or the error to answer."""
        inspected = await self.run_sync(lambda: self._inspect(raws))
        out: list[bytes | ConsortiumError] = []
        fresh: list[tuple[int, SignedTx]] = []
        for i, item in enumerate(inspected):
            if isinstance(item, ConsortiumError):
                out.append(item)
            elif self.queue.get(item.hash) is not None:
                out.append(TxError(f"already known: transaction {hx(item.hash)} waits for "
                                   f"an earlier nonce of {hx(item.sender)}"))
            elif (taken := self._replaying.get(item.sender, {}).get(item.nonce)) is not None:
                out.append(TxError(f"already known: transaction {hx(item.hash)} is in the "
                                   "node's journal") if taken == item.hash else NonceTooLow(
                    f"nonce too low: nonce {item.nonce} of {hx(item.sender)} is taken by "
                    f"transaction {hx(taken)}, which this node accepted before its restart "
                    "and is sending again"))
            else:
                out.append(item.hash)
                fresh.append((i, item))
        if fresh:
            results = await self._forward([tx for _, tx in fresh], journalled=False)
            for (i, _), result in zip(fresh, results, strict=True):
                if result is not None:
                    out[i] = result
        return out

    def _inspect(self, raws: Sequence[bytes]) -> list[SignedTx | ConsortiumError]:
        """Decode and check statelessly (in a worker thread: signature recovery); refuse
        what a block already committed. Decoded transactions stay in the ledger's sender
        cache, so CheckTx does not recover them again."""
        try:
            chain_id = self.ledger.eth_chain_id
        except ConsortiumError as exc:
            return [exc for _ in raws]
        prime = getattr(self.ledger, "prime_senders", None)
        cache = getattr(self.ledger, "senders", None)
        if prime is not None:  # only a shortcut (it never raises): decoding below decides
            prime(list(raws))
        out: list[SignedTx | ConsortiumError] = []
        for raw in raws:
            try:
                out.append(cache.decode(raw, chain_id) if cache is not None
                           else decode_transaction(raw, chain_id))
            except TxError as err:
                out.append(err)
        decoded = [(i, stx) for i, stx in enumerate(out) if isinstance(stx, SignedTx)]
        # A committed transaction used its sender's nonce: only one below the committed
        # nonce can be, so only those are looked up by hash (a fresh batch: none at all).
        nonces = getattr(self.ledger, "committed_nonces", None)
        if nonces is not None and decoded:
            try:
                committed = nonces(stx.sender for _, stx in decoded)
            except ConsortiumError:  # no state to read yet: every hash is looked up
                pass
            else:
                decoded = [(i, stx) for i, stx in decoded if stx.nonce < committed[stx.sender]]
        heights = self._committed_heights([stx.hash for _, stx in decoded])
        for (i, stx), height in zip(decoded, heights, strict=True):
            if height is not None:
                out[i] = NonceTooLow(
                    f"nonce too low: transaction {hx(stx.hash)} (nonce {stx.nonce}) is already "
                    f"committed in block {height}")
        return out

    async def _forward(self, txs: Sequence[SignedTx | JournalEntry], *,
                       journalled: bool, still_pending_if_nonce_low: bool = False
                       ) -> list[ConsortiumError | None]:
        """Send to CheckTx; journal what it accepted and hold what is ahead of its nonce.
        `journalled` transactions (resubmitted, released) leave the journal if refused —
        but for "nonce too low" with `still_pending_if_nonce_low`: a rebroadcast one may
        be that nonce's pending transaction itself, out of the engine's cache."""
        now = self.clock()
        known = [self.journal.get(tx.hash) for tx in txs]
        entries = [k or JournalEntry(tx.hash, tx.raw, tx.sender, tx.nonce, now)
                   for tx, k in zip(txs, known, strict=True)]
        # Journalled while CheckTx runs instead of after it (the write is off the answer's
        # path); a refused one is removed again below. A crash in between leaves refused
        # entries, which resubmission after the restart refuses and drops.
        early: dict[bytes, JournalEntry | None] = {
            e.hash: e for e, k in zip(entries, known, strict=True) if k is None}
        ahead = asyncio.ensure_future(self._write(early)) if early else None
        if self.before_broadcast is not None:
            self.before_broadcast(txs)
        try:
            outcomes = await self.engine.broadcast([tx.raw for tx in txs])
        except BaseException:  # cancelled: the entries stay, housekeeping settles them
            if ahead is not None:
                ahead.add_done_callback(_retrieve)
            raise
        changes: dict[bytes, JournalEntry | None] = {}
        touched: set[bytes] = set()
        # a ledger read from another process learns its pending nonces from what it sent
        sent = getattr(self.ledger, "note_sent", None)
        out: list[ConsortiumError | None] = []
        for tx, outcome, entry, was in zip(txs, outcomes, entries, known, strict=True):
            error = outcome.error
            if isinstance(error, NonceTooHigh):  # ahead of the sender's nonce: held
                try:
                    replaced = self.queue.hold(entry)
                except QueueFull as full:
                    error = full
                else:
                    error = None
                    if replaced is not None and replaced.hash != tx.hash:
                        self._drop(replaced.hash, f"replaced by {hx(tx.hash)} (same nonce "
                                                  f"{tx.nonce})")
                        changes[replaced.hash] = None
            if error is None:
                out.append(None)
                touched.add(tx.sender)
                if sent is not None and outcome.error is None:
                    sent(tx.sender, tx.nonce)
                continue
            if outcome.already_known:
                out.append(TxError(f"already known: transaction {hx(tx.hash)} is in the "
                                   "mempool"))
                continue  # in the mempool: journalled (now, or before) it stays
            out.append(error)
            if still_pending_if_nonce_low and isinstance(error, NonceTooLow):
                continue  # the nonce check of `_settled` decides once a block uses it
            if journalled or was is not None:
                self._drop(tx.hash, error.message or type(error).__name__)
                self._gone(tx.sender, tx.nonce)
            changes[tx.hash] = None  # journalled before, or just now as `early`
        failure: ConsortiumError | None = None
        for write in (ahead, self._write(changes) if changes else None):
            if write is not None:
                error = await _journal_failure(write)
                failure = failure or error
        if failure is not None:
            out = [failure if e is None else e for e in out]
        if touched:
            self._spawn(self._release(touched))
        return out

    def _gone(self, sender: bytes, nonce: int) -> None:
        """A transaction sent to the engine will not commit: a ledger read from another
        process lowers the pending nonce it counts (the node's own mempool does it there)."""
        gone = getattr(self.ledger, "note_gone", None)
        if gone is not None:
            gone(sender, nonce)

    def _drop(self, tx_hash: bytes, why: str) -> None:
        self.dropped[tx_hash] = why
        self.dropped.move_to_end(tx_hash)
        while len(self.dropped) > MAX_DROPPED:
            self.dropped.popitem(last=False)

    # --- the journal's group commit ------------------------------------------------------

    async def _write(self, changes: dict[bytes, JournalEntry | None]) -> None:
        """Apply `changes` (hash -> entry, or None to remove) durably. Writes requested
        while one is on its way share the next."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writes.append((changes, fut))
        if not self._writing:
            self._writing = True
            self._drain = asyncio.ensure_future(self._drain_writes())
            self._drain.add_done_callback(self._finished)
        await fut

    async def _drain_writes(self) -> None:
        try:
            while self._writes:
                group, self._writes = self._writes, []
                merged: dict[bytes, JournalEntry | None] = {}
                for changes, _ in group:
                    merged.update(changes)  # in request order: the last word wins
                add = [e for e in merged.values() if e is not None]
                remove = [h for h, e in merged.items() if e is None]
                try:
                    await self.run_sync(partial(self.journal.update, add, remove))
                except Exception as exc:
                    for _, fut in group:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for _, fut in group:
                    if not fut.done():
                        fut.set_result(None)
        finally:
            self._writing = False

    # --- held transactions -----------------------------------------------------------------

    async def _release(self, senders: Iterable[bytes]) -> None:
        """Send the held transactions of `senders` whose gap has filled, in nonce order."""
        waiting = [s for s in senders if self.queue.holds(s)]
        if not waiting:
            return
        nexts = await self.run_sync(
            lambda: {s: self.ledger.pending_nonce(hx(s)) for s in waiting})
        ready = [tx for sender, nonce in nexts.items() for tx in self.queue.release(sender, nonce)]
        if ready:
            await self._forward(ready, journalled=True)

    def missing_nonce(self, sender: bytes) -> int:
        """The first nonce of `sender` that neither the chain, the mempool nor the held
        transactions have: what a held transaction of theirs waits for."""
        return self.pending_count(sender, self.ledger.pending_nonce(hx(sender)))

    def held_reason(self, held: HeldTx) -> str:
        """Why a held transaction waits, naming the nonce it waits for (as the private path
        says: "held until nonce 3 arrives")."""
        missing = self.missing_nonce(held.sender)
        if missing >= held.nonce:  # its gap just filled: released at the next block
            return f"held for an earlier nonce of {hx(held.sender)}; its gap has just filled"
        return (f"held until nonce {missing} of {hx(held.sender)} arrives (its own nonce is "
                f"{held.nonce})")

    def next_nonce(self, address: str) -> int:
        """The nonce a client's next transaction takes: the ledger's pending nonce (its
        mempool) and this node's held and journalled ones (`pending_count`)."""
        return self.pending_count(bytes.fromhex(address[2:]), self.ledger.pending_nonce(address))

    def pending_count(self, address: bytes, pending_nonce: int) -> int:
        """The sender's next nonce counting the held transactions that follow without a gap
        (as geth's pending nonce does), and, after a restart until they are resubmitted,
        the journalled ones the engine's mempool lost."""
        replaying = self._replaying.get(address)
        if not replaying:
            return pending_nonce + self.queue.contiguous(address, pending_nonce)
        nonce = pending_nonce
        while True:
            if nonce in replaying:
                nonce += 1
            elif (held := self.queue.contiguous(address, nonce)) > 0:
                nonce += held
            else:
                return nonce

    # --- the node's lifetime ----------------------------------------------------------------

    async def run(self) -> None:
        """Resubmit the journal (after a restart), then follow new blocks until cancelled."""
        try:
            await self.resubmit()
        except Exception:
            log.exception("resubmitting the transaction journal failed")
        finally:  # sent again (or dropped): the mempool and the held queue count them now
            self._replaying.clear()
        while True:
            await asyncio.sleep(BLOCK_POLL_SECONDS)
            try:
                height = self.ledger.latest_height()
                if height != self._height:
                    self._height = height
                    await self.on_block()
            except Exception:
                log.exception("transaction journal housekeeping failed; retrying")

    async def resubmit(self) -> None:
        """Send the journal's entries to the engine again once its RPC answers: CometBFT's
        mempool did not survive the restart. Entries a block committed or made invalid
        (their nonce used) meanwhile are dropped."""
        entries = self.journal.entries()
        if not entries:
            return
        await self._engine_ready()
        live, done = await self._settle(entries, stale_after=None)
        if done:
            await self._write({h: None for h in done})
        results = await self._forward(live, journalled=True) if live else []
        self._replaying.clear()
        kept = sum(1 for r in results if r is None or "already known" in str(r))
        log.info("transaction journal: %d entries; %d resubmitted, %d committed or made "
                 "invalid meanwhile, %d refused now", len(entries), kept, len(done),
                 len(results) - kept)

    async def _engine_ready(self) -> None:
        """Wait until the engine's RPC answers and (for a bounded time) has caught up."""
        started = time.monotonic()
        while True:
            try:
                status = await self.engine.call("status")
            except ConsortiumError:
                status = None
            if status is not None:
                syncing = bool((status.get("sync_info") or {}).get("catching_up"))
                if not syncing or time.monotonic() - started > CATCH_UP_WAIT_SECONDS:
                    return
            await asyncio.sleep(0.5)

    async def on_block(self) -> None:
        """After a new block: drop expired held transactions, prune the journal, release
        held transactions whose gap the block filled."""
        changes: dict[bytes, JournalEntry | None] = {}
        hold = self.queue.hold_seconds
        expired = self.queue.expire(self.clock())
        if expired:
            senders = {tx.sender for tx in expired}
            nexts = await self.run_sync(
                lambda: {s: self.ledger.pending_nonce(hx(s)) for s in senders})
            for tx in expired:
                missing = self.pending_count(tx.sender, nexts[tx.sender])
                self._drop(tx.hash, _expired(hold, tx, missing))
                changes[tx.hash] = None
        entries = [e for e in self.journal.entries(ordered=False) if e.hash not in changes]
        live: list[JournalEntry] = []
        if entries:
            live, done = await self._settle(entries, stale_after=STALE_SECONDS, scan=True)
            changes.update({h: None for h in done})
        else:  # nothing to prune in the blocks so far: the next scan starts after them
            self._scanned = self.ledger.latest_height()
        if changes:
            await self._write(changes)
        if self.queue.senders():
            await self._release(self.queue.senders())
        await self._rebroadcast(live)

    async def _rebroadcast(self, live: list[JournalEntry]) -> None:
        """Send again what has waited REBROADCAST_SECONDS and is not held: the engine's
        recheck after a block may have evicted it from the mempool without telling the
        API. Still there: "already known", nothing changes; evicted and now valid: back in
        the mempool; now invalid: dropped, and its status and receipt say why."""
        now = self.clock()
        self._sent_at = {h: t for h, t in self._sent_at.items() if h in self.journal}
        again = [e for e in live
                 if now - max(e.accepted_at, self._sent_at.get(e.hash, 0.0))
                 >= REBROADCAST_SECONDS and e.hash in self.journal
                 and self.queue.get(e.hash) is None]
        if again:
            again.sort(key=lambda e: (e.sender, e.nonce))  # each sender's nonces in order
            for e in again:
                self._sent_at[e.hash] = now
            await self._forward(again, journalled=True, still_pending_if_nonce_low=True)

    async def _settle(self, entries: list[JournalEntry], *, stale_after: float | None,
                      scan: bool = False) -> tuple[list[JournalEntry], list[bytes]]:
        """`_settled` in a worker thread; the reasons recorded on the event loop. With
        `scan`, young entries are settled against the hashes of the blocks committed since
        the last scan instead of one lookup each."""
        live, done, reasons = await self.run_sync(
            lambda: self._settled(entries, stale_after=stale_after,
                                  recent=self._new_commits() if scan else None))
        for tx_hash, why in reasons.items():
            self._drop(tx_hash, why)
        return live, done

    def _new_commits(self) -> set[bytes] | None:
        """The hashes committed by the blocks since the last call, or None when they cannot
        be read in one go (no chain to read, the first call, too many blocks)."""
        chain = getattr(self.ledger, "chain", None)
        latest = self.ledger.latest_height()
        since, self._scanned = self._scanned, latest
        if chain is None or since is None or not 0 <= latest - since <= MAX_SCAN_BLOCKS:
            return None
        return chain.tx_hashes_in(since + 1, latest)  # type: ignore[no-any-return]

    def _settled(self, entries: list[JournalEntry], *, stale_after: float | None,
                 recent: set[bytes] | None = None
                 ) -> tuple[list[JournalEntry], list[bytes], dict[bytes, str]]:
        """Split entries into those still waiting and those done with: committed, refused by
        a block, or invalid (the sender's nonce used by another transaction). An entry
        younger than `stale_after` seconds is only looked up by hash (cheap) — or, given
        `recent` (the hashes of the blocks new since the last scan), not even that: one a
        block committed before it was journalled waits to be stale, then is looked up."""
        now = self.clock()
        nonces: dict[bytes, int] = {}
        live: list[JournalEntry] = []
        done: list[bytes] = []
        reasons: dict[bytes, str] = {}
        if stale_after is not None and recent is not None:
            stale = []
            for entry in entries:
                if now - entry.accepted_at >= stale_after:
                    stale.append(entry)
                elif entry.hash in recent:
                    done.append(entry.hash)
                else:
                    live.append(entry)
            entries = stale
        heights = self._committed_heights([entry.hash for entry in entries])
        for entry, height in zip(entries, heights, strict=True):
            if height is not None:
                done.append(entry.hash)
                continue
            if stale_after is not None and now - entry.accepted_at < stale_after:
                live.append(entry)
                continue
            rejection = self._rejection(entry.hash)
            if rejection is not None:
                done.append(entry.hash)
                self._gone(entry.sender, entry.nonce)
                continue
            if entry.sender not in nonces:
                nonces[entry.sender] = self.ledger.get_nonce(hx(entry.sender))
            if entry.nonce < nonces[entry.sender]:
                reasons[entry.hash] = (f"nonce {entry.nonce} of {hx(entry.sender)} was used by "
                                       "another transaction")
                done.append(entry.hash)
                continue
            live.append(entry)
        return live, done, reasons

    # --- reads ------------------------------------------------------------------------------

    def _committed_heights(self, tx_hashes: Sequence[bytes]) -> list[int | None]:
        """The block that committed each transaction, None if none has: one read of the
        chain for the batch (per hash it was two LMDB transactions on admission's path)."""
        chain = getattr(self.ledger, "chain", None)
        if chain is None:
            reads = EthReads(self.ledger)
            receipts = [reads.get_receipt(hx(h)) for h in tx_hashes]
            return [None if r is None else int(r["blockNumber"], 16) for r in receipts]
        if not tx_hashes:
            return []
        positions = chain.tx_positions(tx_hashes)
        latest = self.ledger.latest_height()
        return [None if pos is None or pos[0] > latest else int(pos[0]) for pos in positions]

    def _rejection(self, tx_hash: bytes) -> dict[str, Any] | None:
        find = getattr(self.ledger, "transaction_rejection", None)
        return None if find is None else find(hx(tx_hash))  # type: ignore[no-any-return]

    def status(self, tx_hash: bytes) -> dict[str, Any]:
        """consortium_getTransactionStatus: where a transaction is, and why if it failed."""
        height = self._committed_heights([tx_hash])[0]
        if height is not None:
            return _status(COMMITTED, hex(height))
        rejection = self._rejection(tx_hash)
        if rejection is not None:
            return _status(REJECTED, hex(int(rejection["blockNumber"])), rejection["reason"])
        held = self.queue.get(tx_hash)
        if held is not None:
            return _status(QUEUED, None, self.held_reason(held))
        if tx_hash in self.journal:
            return _status(PENDING)
        why = self.dropped.get(tx_hash)
        return _status(UNKNOWN) if why is None else _status(REJECTED, None, why)

    def refusal(self, tx_hash: bytes) -> str | None:
        """Why a transaction accepted here will not commit (for eth_getTransactionReceipt),
        or None."""
        rejection = self._rejection(tx_hash)
        if rejection is not None:
            return (f"transaction {hx(tx_hash)} was rejected in block "
                    f"{int(rejection['blockNumber'])}: {rejection['reason']}")
        why = self.dropped.get(tx_hash)
        if why is not None and tx_hash not in self.journal and self.queue.get(tx_hash) is None:
            return f"transaction {hx(tx_hash)} was dropped: {why}"
        return None

    def pending_transaction(self, tx_hash: bytes) -> dict[str, Any] | None:
        """A journalled or held transaction as eth_getTransactionByHash answers a pending
        one (blockHash, blockNumber and transactionIndex null), or None."""
        entry = self.journal.get(tx_hash) or self.queue.get(tx_hash)
        if entry is None:
            return None
        stx = decode_transaction(entry.raw, self.ledger.eth_chain_id)
        price = min(stx.tx.max_fee_per_gas, stx.tx.max_priority_fee_per_gas)
        record = TxRecord(entry.hash, entry.raw, entry.sender, 0, 0, 0, 0, 0, b"", 0, 0, price)
        return {**tx_json(record, None), "blockNumber": None, "transactionIndex": None}

    def pending_block_transactions(self, full: bool) -> list[Any]:
        """The journalled transactions not held for a nonce gap (they wait in the mempool),
        in (sender, nonce) order: hashes, or pending transaction objects with `full`."""
        ready = [e for e in self.journal.entries() if self.queue.get(e.hash) is None]
        if not full:
            return [hx(e.hash) for e in ready]
        return [tx for e in ready if (tx := self.pending_transaction(e.hash)) is not None]

    # --- tasks ------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("transaction housekeeping failed", exc_info=task.exception())

    async def aclose(self) -> None:
        """Let journal writes finish (a cancelled write would lose an answer's promise),
        cancel the rest, close the journal."""
        if self._drain is not None and not self._drain.done():
            await asyncio.wait([self._drain], timeout=5)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        self.journal.close()
