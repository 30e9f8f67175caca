"""Transactions whose nonce is ahead of their sender's next one, held by the API until the
gap fills (as geth's and anvil's pools queue them), instead of refused.

CheckTx admits only the sender's next nonce, so a client that sends nonces n+1 and n in
parallel (viem's nonce manager does), or retries out of order, would see n+1 refused. The
queue is bounded three ways: per sender, node-wide, and by age. Memory only: the node's
journal keeps held transactions across restarts, where they are held again.
"""

from __future__ import annotations

from consortium.api.tx_journal import JournalEntry
from consortium.errors import TxError

MAX_PER_SENDER = 64
MAX_HELD = 4096
HOLD_SECONDS = 600.0


class QueueFull(TxError):
    """The queue has no room for another held transaction."""


HeldTx = JournalEntry  # held since it was accepted (a time the journal keeps across restarts)


class NonceQueue:
    """Held transactions per sender, by nonce. Not thread-safe: the API's event loop owns
    it."""

    def __init__(self, *, max_per_sender: int = MAX_PER_SENDER, max_held: int = MAX_HELD,
                 hold_seconds: float = HOLD_SECONDS) -> None:
        self.max_per_sender = max_per_sender
        self.max_held = max_held
        self.hold_seconds = hold_seconds
        self._by_sender: dict[bytes, dict[int, HeldTx]] = {}
        self._by_hash: dict[bytes, HeldTx] = {}

    def __len__(self) -> int:
        return len(self._by_hash)

    def get(self, tx_hash: bytes) -> HeldTx | None:
        return self._by_hash.get(tx_hash)

    def holds(self, sender: bytes) -> bool:
        return sender in self._by_sender

    def senders(self) -> list[bytes]:
        return list(self._by_sender)

    def hold(self, tx: HeldTx) -> HeldTx | None:
        """Hold `tx`; answers the transaction it replaced (same sender and nonce), if any.
        Raises QueueFull past a cap."""
        held = self._by_sender.get(tx.sender, {})
        replaced = held.get(tx.nonce)
        if replaced is None:
            if len(held) >= self.max_per_sender:
                raise QueueFull(
                    f"txpool is full: {len(held)} transactions of 0x{tx.sender.hex()} already "
                    f"wait for an earlier nonce (at most {self.max_per_sender}); send the "
                    "missing nonce first")
            if len(self._by_hash) >= self.max_held:
                raise QueueFull(f"txpool is full: {len(self._by_hash)} transactions wait for "
                                f"an earlier nonce on this node (at most {self.max_held})")
        else:
            del self._by_hash[replaced.hash]
        self._by_sender.setdefault(tx.sender, {})[tx.nonce] = tx
        self._by_hash[tx.hash] = tx
        return replaced

    def release(self, sender: bytes, next_nonce: int) -> list[HeldTx]:
        """Take out what may go to the engine now that `next_nonce` is the sender's next:
        every held nonce below it (CheckTx will tell whether it is still valid) and the
        contiguous run from it, in nonce order."""
        held = self._by_sender.get(sender)
        if not held:
            return []
        out = [held[n] for n in sorted(held) if n < next_nonce] + [
            held[next_nonce + i] for i in range(self.contiguous(sender, next_nonce))]
        self._remove(out)
        return out

    def contiguous(self, sender: bytes, next_nonce: int) -> int:
        """How many held transactions follow `next_nonce` without a gap (what geth counts in
        a sender's pending nonce)."""
        held = self._by_sender.get(sender)
        count = 0
        while held and next_nonce + count in held:
            count += 1
        return count

    def expire(self, now: float) -> list[HeldTx]:
        """Drop and answer the transactions held longer than `hold_seconds`."""
        cutoff = now - self.hold_seconds
        old = [tx for tx in self._by_hash.values() if tx.accepted_at <= cutoff]
        self._remove(old)
        return old

    def _remove(self, txs: list[HeldTx]) -> None:
        for tx in txs:
            self._by_hash.pop(tx.hash, None)
            held = self._by_sender.get(tx.sender)
            if held is not None:
                held.pop(tx.nonce, None)
                if not held:
                    del self._by_sender[tx.sender]
