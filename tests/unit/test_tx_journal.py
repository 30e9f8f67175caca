"""The journal of accepted transactions and the queue of future nonces: the stores alone,
resubmission after a restart, and what eth_sendRawTransaction and the transaction reads
answer for journalled, held, dropped and rejected transactions."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_hash.auto import keccak

from consortium.api.engine_client import EngineClient
from consortium.api.local_txs import REBROADCAST_SECONDS, STALE_SECONDS, LocalTransactions
from consortium.api.nonce_queue import HeldTx, NonceQueue, QueueFull
from consortium.api.tx_journal import JournalEntry, TxJournal
from consortium.errors import ConfigError
from tests.support.jsonrpc_testkit import Node, StubEngine, node
from tests.support.ledger_testkit import ALICE, BOB, CAROL, new_ledger, run_block, sign


def h(raw: bytes) -> str:
    return "0x" + keccak(raw).hex()


def entry(i: int, *, sender: bytes = b"\x01" * 20, nonce: int | None = None) -> JournalEntry:
    raw = bytes([0xC0 + i % 8]) + i.to_bytes(4, "big") * 10
    return JournalEntry(keccak(raw), raw, sender, i if nonce is None else nonce, 1000.0 + i)


def wait_for(what: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


# --- the journal ------------------------------------------------------------------------------


def test_journal_survives_reopen_and_applies_batches(tmp_path: Path) -> None:
    path = tmp_path / "tx-journal"
    journal = TxJournal(path)
    first = [entry(i) for i in range(5)]
    journal.update(add=first)
    journal.update(add=[entry(5)], remove=[first[0].hash, first[3].hash])
    journal.close()
    again = TxJournal(path)
    try:
        assert [e.hash for e in again.entries()] == [e.hash for e in (first[1], first[2],
                                                                      first[4], entry(5))]
        assert again.get(first[2].hash) == first[2]
        assert first[0].hash not in again
    finally:
        again.close()


def test_journal_orders_entries_by_sender_then_nonce(tmp_path: Path) -> None:
    journal = TxJournal(tmp_path / "j")
    items = [entry(1, sender=b"\x02" * 20, nonce=7), entry(2, sender=b"\x01" * 20, nonce=9),
             entry(3, sender=b"\x02" * 20, nonce=3), entry(4, sender=b"\x01" * 20, nonce=2)]
    journal.update(add=items)
    assert [(e.sender[0], e.nonce) for e in journal.entries()] == [(1, 2), (1, 9), (2, 3),
                                                                    (2, 7)]
    journal.close()


CRASH_WRITER = """
import os, signal, sys
from consortium.api.tx_journal import JournalEntry, TxJournal
from consortium.errors import ConfigError
journal = TxJournal(__import__("pathlib").Path(sys.argv[1]))
for i in range(20):
    raw = bytes([i]) * 100
    journal.update(add=[JournalEntry(bytes([i]) * 32, raw, b"\\x05" * 20, i, 1.0)])
print("written", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_journal_writes_are_on_disk_when_update_returns(tmp_path: Path) -> None:
    """A process killed with SIGKILL right after its writes (no close): every write is
    there when the journal is opened again."""
    path = tmp_path / "tx-journal"
    proc = subprocess.run([sys.executable, "-c", CRASH_WRITER, str(path)], capture_output=True,
                          text=True, timeout=120, env={**os.environ})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "written" in proc.stdout
    journal = TxJournal(path)
    try:
        assert sorted(e.nonce for e in journal.entries()) == list(range(20))
        assert journal.get(bytes([7]) * 32) == JournalEntry(bytes([7]) * 32, bytes([7]) * 100,
                                                             b"\x05" * 20, 7, 1.0)
    finally:
        journal.close()


# --- the nonce queue --------------------------------------------------------------------------


def held(nonce: int, sender: bytes = b"\x01" * 20, at: float = 0.0, tag: int = 0) -> HeldTx:
    raw = sender + nonce.to_bytes(8, "big") + bytes([tag])
    return HeldTx(keccak(raw), raw, sender, nonce, at)


def test_queue_releases_contiguous_runs_in_nonce_order() -> None:
    q = NonceQueue()
    for n in (9, 7, 5, 6):
        q.hold(held(n))
    assert q.contiguous(b"\x01" * 20, 5) == 3 and q.contiguous(b"\x01" * 20, 4) == 0
    assert q.release(b"\x01" * 20, 4) == []
    assert [t.nonce for t in q.release(b"\x01" * 20, 5)] == [5, 6, 7]
    assert len(q) == 1 and q.holds(b"\x01" * 20)
    assert [t.nonce for t in q.release(b"\x01" * 20, 12)] == [9]  # stale: CheckTx decides
    assert len(q) == 0 and not q.holds(b"\x01" * 20)


def test_queue_caps_per_sender_and_node_wide() -> None:
    q = NonceQueue(max_per_sender=3, max_held=5)
    for n in range(3):
        q.hold(held(n + 10))
    with pytest.raises(QueueFull, match="txpool is full: 3 transactions of 0x0101"):
        q.hold(held(20))
    q.hold(held(1, sender=b"\x02" * 20))
    q.hold(held(2, sender=b"\x02" * 20))
    with pytest.raises(QueueFull, match="txpool is full: 5 transactions wait"):
        q.hold(held(1, sender=b"\x03" * 20))
    replaced = q.hold(held(10, tag=1))  # the same nonce replaces, even when full
    assert replaced is not None and replaced.nonce == 10 and len(q) == 5
    assert q.get(replaced.hash) is None


def test_queue_expires_old_transactions() -> None:
    q = NonceQueue(hold_seconds=60)
    q.hold(held(3, at=100.0))
    q.hold(held(4, at=150.0))
    assert q.expire(159.0) == []
    assert [t.nonce for t in q.expire(160.0)] == [3]
    assert [t.nonce for t in q.expire(210.0)] == [4]
    assert len(q) == 0


# --- through the API ----------------------------------------------------------------------------


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def n(request: Any, tmp_path: Path) -> Iterator[Node]:
    with node(tmp_path, async_checks=request.param) as api:
        yield api


def local(n: Node) -> LocalTransactions:
    txs: LocalTransactions = n.app.state.local_txs
    return txs


def send(n: Node, raw: bytes) -> Any:
    return n.rpc("eth_sendRawTransaction", "0x" + raw.hex())


def test_reverse_nonce_order_all_reach_the_mempool_in_order(n: Node) -> None:
    raws = [sign(ALICE, nonce=i, to=BOB.address, value=i, gas=21_000) for i in range(5)]
    for raw in reversed(raws[1:]):
        assert send(n, raw) == h(raw)
        assert n.rpc("consortium_getTransactionStatus", h(raw))["status"] == "queued"
    assert n.engine.mempool == []
    assert n.rpc("eth_getTransactionCount", ALICE.address, "pending") == "0x0"
    held_tx = n.rpc("eth_getTransactionByHash", h(raws[3]))
    assert held_tx["blockNumber"] is None and held_tx["nonce"] == "0x3"
    assert held_tx["from"] == ALICE.address.lower() and held_tx["value"] == "0x3"
    assert n.rpc("eth_getTransactionReceipt", h(raws[3])) is None
    assert send(n, raws[0]) == h(raws[0])
    wait_for(lambda: len(n.engine.mempool) == 5)
    assert n.engine.mempool == raws
    assert n.rpc("eth_getTransactionCount", ALICE.address, "pending") == "0x5"
    assert {n.rpc("consortium_getTransactionStatus", h(r))["status"] for r in raws} == {
        "pending"}
    n.engine.commit_block()
    for raw in raws:
        assert n.rpc("eth_getTransactionReceipt", h(raw))["status"] == "0x1"
    status = n.rpc("consortium_getTransactionStatus", h(raws[4]))
    assert status == {"status": "committed", "blockNumber": status["blockNumber"],
                      "reason": None}
    n.client.portal.call(local(n).on_block)
    assert len(local(n).journal) == 0  # pruned once committed


def test_pending_count_stops_at_a_gap(n: Node) -> None:
    raws = [sign(CAROL, nonce=i, to=BOB.address, gas=21_000) for i in range(5)]
    send(n, raws[0])
    send(n, raws[2])
    send(n, raws[3])
    assert n.rpc("eth_getTransactionCount", CAROL.address, "pending") == "0x1"
    send(n, raws[1])
    wait_for(lambda: len(n.engine.mempool) == 4)
    assert n.rpc("eth_getTransactionCount", CAROL.address, "pending") == "0x4"


def test_the_pending_block_lists_waiting_transactions_not_gapped_ones(n: Node) -> None:
    raws = [sign(CAROL, nonce=i, to=BOB.address, gas=21_000) for i in range(4)]
    latest = n.rpc("eth_getBlockByNumber", "latest", False)
    for raw in (raws[0], raws[1], raws[3]):  # nonce 2 missing: 3 is held
        send(n, raw)
    pending = n.rpc("eth_getBlockByNumber", "pending", False)
    assert pending["hash"] is None and pending["parentHash"] == latest["hash"]
    assert int(pending["number"], 16) == int(latest["number"], 16) + 1
    assert pending["transactions"] == [h(raws[0]), h(raws[1])]
    full = n.rpc("eth_getBlockByNumber", "pending", True)
    assert [t["nonce"] for t in full["transactions"]] == ["0x0", "0x1"]
    assert n.rpc("eth_getBlockTransactionCountByNumber", "pending") == "0x2"
    send(n, raws[2])  # the gap fills: all four wait in the mempool
    wait_for(lambda: len(n.engine.mempool) == 4)
    assert n.rpc("eth_getBlockByNumber", "pending", False)["transactions"] == [h(r) for r in raws]
    n.engine.commit_block()
    n.client.portal.call(local(n).on_block)
    assert n.rpc("eth_getBlockByNumber", "pending", False)["transactions"] == []


def test_concurrent_out_of_order_sends_all_land(n: Node) -> None:
    """viem's nonce manager: five writes with nonces n..n+4 sent at once."""
    raws = [sign(ALICE, nonce=i, to=BOB.address, gas=21_000) for i in range(5)]

    async def burst() -> list[Any]:
        api = n.app.state.jsonrpc
        calls = [api.handle({"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction",
                             "params": ["0x" + raw.hex()]}) for i, raw in enumerate(raws)]
        return list(await asyncio.gather(*reversed(calls)))

    answers = n.client.portal.call(burst)
    assert sorted(a["result"] for a in answers) == sorted(h(r) for r in raws)
    wait_for(lambda: len(n.engine.mempool) == 5)
    assert n.engine.mempool == raws


def test_committed_and_known_resubmissions_answer_standard_errors(n: Node) -> None:
    raw = sign(ALICE, nonce=0, to=BOB.address, gas=21_000)
    send(n, raw)
    err = n.rpc_error("eth_sendRawTransaction", "0x" + raw.hex())
    assert err["code"] == -32000 and err["message"].startswith("already known")
    future = sign(ALICE, nonce=3, to=BOB.address, gas=21_000)
    send(n, future)
    err = n.rpc_error("eth_sendRawTransaction", "0x" + future.hex())
    assert err["message"].startswith("already known") and "earlier nonce" in err["message"]
    n.engine.commit_block()
    err = n.rpc_error("eth_sendRawTransaction", "0x" + raw.hex())
    assert err["code"] == -32000
    assert err["message"].startswith("nonce too low") and "already committed in block" in \
        err["message"]


def test_held_transactions_are_checked_before_holding(n: Node) -> None:
    good = sign(ALICE, nonce=4, to=BOB.address, gas=21_000)
    tampered = bytearray(good)
    tampered[-5] ^= 0xFF
    err = n.rpc_error("eth_sendRawTransaction", "0x" + bytes(tampered).hex())
    assert err["code"] in (-32000, -32003, -32602)  # recovers another (unknown) sender
    assert len(local(n).queue) == 0
    other_chain = sign(ALICE, nonce=4, to=BOB.address, gas=21_000, chain_id=1)
    assert "chain id" in n.rpc_error("eth_sendRawTransaction",
                                     "0x" + other_chain.hex())["message"]
    assert len(local(n).queue) == 0


def test_queue_caps_answer_txpool_is_full(n: Node) -> None:
    local(n).queue.max_per_sender = 2
    send(n, sign(ALICE, nonce=5, to=BOB.address, gas=21_000))
    send(n, sign(ALICE, nonce=6, to=BOB.address, gas=21_000))
    err = n.rpc_error("eth_sendRawTransaction",
                      "0x" + sign(ALICE, nonce=7, to=BOB.address, gas=21_000).hex())
    assert err["code"] == -32000 and err["message"].startswith("txpool is full")


def test_expired_held_transaction_is_dropped_with_its_reason(n: Node) -> None:
    now = [time.time()]
    local(n).clock = lambda: now[0]
    raw = sign(ALICE, nonce=2, to=BOB.address, gas=21_000)
    send(n, raw)
    now[0] += local(n).queue.hold_seconds + 1
    n.client.portal.call(local(n).on_block)
    status = n.rpc("consortium_getTransactionStatus", h(raw))
    assert status["status"] == "rejected" and "held 600 s" in status["reason"]
    err = n.rpc_error("eth_getTransactionReceipt", h(raw))
    assert err["code"] == -32000 and "was dropped: held 600 s" in err["message"]
    assert len(local(n).journal) == 0 and len(local(n).queue) == 0
    assert n.rpc("eth_getTransactionByHash", h(raw)) is None


def test_journalled_transaction_whose_nonce_was_used_is_dropped(n: Node) -> None:
    now = [time.time()]
    local(n).clock = lambda: now[0]
    mine = sign(ALICE, nonce=0, to=BOB.address, value=1, gas=21_000)
    send(n, mine)
    assert n.rpc("consortium_getTransactionStatus", h(mine))["status"] == "pending"
    other = sign(ALICE, nonce=0, to=BOB.address, value=2, gas=21_000)  # via another node
    n.engine.mempool = []
    run_block(n.ledger, [other])
    now[0] += STALE_SECONDS + 1
    n.client.portal.call(local(n).on_block)
    status = n.rpc("consortium_getTransactionStatus", h(mine))
    assert status["status"] == "rejected"
    assert "nonce 0 of " in status["reason"] and "used by another" in status["reason"]
    assert len(local(n).journal) == 0


def test_a_transaction_the_mempool_lost_is_sent_again(n: Node) -> None:
    now = [time.time()]
    local(n).clock = lambda: now[0]
    raw = sign(ALICE, nonce=0, to=BOB.address, gas=21_000)
    send(n, raw)
    n.client.portal.call(local(n).on_block)
    assert n.engine.mempool == [raw]
    n.engine.mempool, n.engine.seen = [], set()  # evicted, as a recheck may
    n.ledger._pending_nonces.clear()
    now[0] += REBROADCAST_SECONDS + 1
    n.client.portal.call(local(n).on_block)
    wait_for(lambda: n.engine.mempool == [raw])
    n.client.portal.call(local(n).on_block)  # not again within the interval
    assert n.engine.mempool == [raw] and len(local(n).journal) == 1


def test_receipt_of_a_transaction_a_block_refused_names_the_reason(n: Node) -> None:
    if not hasattr(n.ledger, "transaction_rejection"):
        pytest.skip("this ledger records no rejections yet")
    gap = sign(CAROL, nonce=7, to=BOB.address, gas=21_000)
    run_block(n.ledger, [gap])  # straight into a block: execution refuses it
    err = n.rpc_error("eth_getTransactionReceipt", h(gap))
    assert err["code"] == -32000
    assert err["message"].startswith(f"transaction {h(gap)} was rejected in block ")
    assert "nonce" in err["message"]
    status = n.rpc("consortium_getTransactionStatus", h(gap))
    assert status["status"] == "rejected" and status["blockNumber"] is not None
    assert n.rpc("consortium_getTransactionStatus", "0x" + "ab" * 32)["status"] == "unknown"


def test_a_transaction_a_block_refused_is_told_to_a_ledger_that_counts_what_it_sent(
        n: Node) -> None:
    """The API of its own process counts its pending nonces from what it sent
    (`LedgerView.note_sent`); a transaction a block refused is told to it (`note_gone`)."""
    gone: list[tuple[bytes, int]] = []
    n.ledger.note_gone = lambda sender, nonce: gone.append((sender, nonce))  # type: ignore[attr-defined]
    now = [time.time()]
    local(n).clock = lambda: now[0]
    mine = sign(ALICE, nonce=0, to=BOB.address, value=1, gas=21_000)
    send(n, mine)
    # another node's proposal fills the block's gas first (a creation that halts takes all
    # its gas): this one does not fit
    full = sign(BOB, nonce=0, data=b"\xfe", gas=n.ledger.block_gas_limit - 10_000)
    n.engine.mempool = []
    run_block(n.ledger, [full, mine])
    assert n.ledger.transaction_rejection(h(full)) is None  # committed (failed, as meant)
    assert "does not fit in the block" in n.ledger.transaction_rejection(h(mine))["reason"]
    n.client.portal.call(local(n).on_block)
    assert gone == []  # young: looked up by hash only
    now[0] += STALE_SECONDS + 1
    n.client.portal.call(local(n).on_block)
    assert gone == [(bytes.fromhex(ALICE.address[2:]), 0)]
    assert n.rpc("consortium_getTransactionStatus", h(mine))["status"] == "rejected"
    assert len(local(n).journal) == 0


# --- resubmission after a restart -----------------------------------------------------------


def test_restart_resubmits_valid_entries_in_nonce_order(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path / "ledger")
    stub = StubEngine(ledger)
    journal_path = tmp_path / "tx-journal"
    try:
        committed = sign(ALICE, nonce=0, to=BOB.address, gas=21_000)
        run_block(ledger, [committed])
        used = sign(ALICE, nonce=0, to=BOB.address, value=5, gas=21_000)  # nonce 0 taken
        alice = [sign(ALICE, nonce=i, to=BOB.address, gas=21_000) for i in (1, 2, 3)]
        carol_gap = sign(CAROL, nonce=2, to=BOB.address, gas=21_000)  # held again
        journal = TxJournal(journal_path)
        chain_id = ledger.eth_chain_id
        from consortium.ledger.transactions import decode_transaction

        journal.update(add=[
            _entry(decode_transaction(r, chain_id)) for r in
            [*reversed(alice), committed, used, carol_gap]])
        journal.close()

        async def restart() -> LocalTransactions:
            async def run_sync(fn: Callable[[], Any]) -> Any:
                return fn()

            engine = EngineClient(stub.url)
            txs = LocalTransactions(ledger, engine, run_sync, journal=TxJournal(journal_path))
            await txs.resubmit()
            for _ in range(100):  # background releases settle
                await asyncio.sleep(0.01)
            await engine.aclose()
            return txs

        txs = asyncio.run(restart())
        assert stub.mempool == alice
        assert sorted(e.hash for e in txs.journal.entries()) == sorted(
            keccak(r) for r in [*alice, carol_gap])
        assert txs.status(keccak(carol_gap))["status"] == "queued"
        assert txs.status(keccak(used))["status"] == "rejected"
        assert txs.status(keccak(committed))["status"] == "committed"
        txs.journal.close()
    finally:
        stub.close()
        ledger.close()


def _entry(stx: Any) -> JournalEntry:
    return JournalEntry(stx.hash, stx.raw, stx.sender, stx.nonce, time.time())


def test_an_unreadable_journal_is_a_clear_startup_error(tmp_path: Path) -> None:
    path = tmp_path / "tx-journal"
    path.mkdir()
    (path / "data.mdb").write_bytes(b"not an lmdb file" * 512)
    with pytest.raises(ConfigError, match="cannot open the transaction journal .*move it aside"):
        TxJournal(path)


def test_journal_is_pruned_by_the_new_blocks_hashes(n: Node, monkeypatch: Any) -> None:
    """After a first scan, each block's own hashes prune the journal (no lookup per young
    entry); an entry a block committed before it was journalled waits until stale, then
    goes by lookup, never with a wrong reason."""
    now = [time.time()]
    lt = local(n)
    lt.clock = lambda: now[0]
    n.client.portal.call(lt.on_block)  # the first scan: the starting height
    raws = [sign(ALICE, nonce=i, to=BOB.address, gas=21_000) for i in range(3)]
    for raw in raws:
        send(n, raw)
    wait_for(lambda: len(n.engine.mempool) == 3)
    n.engine.commit_block()
    looked_up: list[int] = []
    real = lt._committed_heights

    def counting(hashes: Any) -> list[int | None]:
        looked_up.append(len(hashes))
        return real(hashes)

    monkeypatch.setattr(lt, "_committed_heights", counting)
    n.client.portal.call(lt.on_block)
    assert len(lt.journal) == 0 and sum(looked_up) == 0
    # committed in the block scanned above, journalled only now (a late write)
    late = JournalEntry(keccak(raws[1]), raws[1], ALICE.address, 1, now[0])
    lt.journal.update(add=[late])
    n.client.portal.call(lt.on_block)
    assert late.hash in lt.journal  # young and not in a new block: kept for now
    now[0] += STALE_SECONDS + 1
    n.client.portal.call(lt.on_block)
    assert late.hash not in lt.journal and sum(looked_up) == 1
    assert n.rpc("consortium_getTransactionStatus", h(raws[1]))["status"] == "committed"
