"""The parts of an API in a process of its own (`[api] process = "own"`): the setting, the
read-only ledger view it reads through, and the CheckTx answers it hears over a unix socket.
A node running it end to end: tests/integration/test_api_process_network.py."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import lmdb
import pytest

from consortium.api.check_relay import (
    MAX_UP_BODY_BYTES,
    CheckTxRelay,
    NodeLink,
    decode_up,
    encode_abi,
    encode_senders,
    follow_checks,
)
from consortium.errors import ConfigError, ConsortiumError
from consortium.ledger.state_store import StateStore
from consortium.ledger.view import LedgerView
from consortium.network.node_config import CONFIG_FILE, NodeConfig
from tests.support.ledger_testkit import ALICE, BOB, CHAIN_ID, new_ledger, run_block, sign

NODE_FILE = '[node]\nname = "node0"\nmember = "Bank A"\n\n[api]\nport = 8545\n'


def _home(tmp_path: Path, api_extra: str = "") -> Path:
    (tmp_path / CONFIG_FILE).write_text(NODE_FILE + api_extra)
    return tmp_path


def test_the_api_runs_in_a_process_of_its_own_unless_set_otherwise(tmp_path: Path) -> None:
    cfg = NodeConfig.load(_home(tmp_path))
    assert cfg.api_process == "own"
    cfg.save()  # the default is not written
    assert "process" not in (tmp_path / CONFIG_FILE).read_text()
    cfg = NodeConfig.load(_home(tmp_path, 'process = "node"\n'))
    assert cfg.api_process == "node"
    cfg.save()  # written back as set
    assert 'process = "node"' in (tmp_path / CONFIG_FILE).read_text()
    with pytest.raises(ConfigError, match=r"api\.process must be one of node, own"):
        NodeConfig.load(_home(tmp_path, 'process = "thread"\n'))


def test_a_view_reads_what_the_node_committed_and_writes_nothing(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path / "app")
    tx = sign(ALICE, nonce=0, to=BOB.address, value=5, gas=21_000)
    run_block(ledger, [tx])
    height, app_hash = ledger.info()
    balance = ledger.get_balance(BOB.address)
    ledger.close()  # LMDB opens a folder once per process: the node is another process

    view = LedgerView(tmp_path / "app")
    try:
        assert view.info() == (height, app_hash) and view.latest_height() == height
        assert view.eth_chain_id == CHAIN_ID
        assert view.get_balance(BOB.address) == balance
        assert view.get_nonce(ALICE.address) == 1
        found = view.receipt_record("0x" + view.senders.decode(tx, CHAIN_ID).hash.hex())
        assert found is not None and found[0].status == 1
        # what this process sent counts in the pending nonce, over the committed one
        assert view.pending_nonce(ALICE.address) == 1
        alice = bytes.fromhex(ALICE.address[2:])
        view.note_sent(alice, 3)
        assert view.pending_nonce(ALICE.address) == 4
        # one that will not commit lowers it to its nonce, as the node's recheck would;
        # a nonce the chain already passed (1 committed) tells nothing
        view.note_gone(alice, 0)
        assert view.pending_nonce(ALICE.address) == 4
        view.note_gone(alice, 2)
        assert view.pending_nonce(ALICE.address) == 2
        view.note_gone(alice, 3)  # after the gap: no change
        assert view.pending_nonce(ALICE.address) == 2
        # linked to its node: the node's mempool counts too (its peers' transactions), and
        # without its answer, this process's count
        told: list[int] | None = [7]

        class Node:
            def store_abi(self, address: bytes, document: bytes) -> None: ...

            def pending_nonces(self, addresses: Any) -> list[int] | None:
                assert list(addresses) == [alice]
                return told
        view.node = Node()
        assert view.pending_nonce(ALICE.address) == 7
        told = [0]
        assert view.pending_nonce(ALICE.address) == 2
        told = None
        assert view.pending_nonce(ALICE.address) == 2
        with pytest.raises(lmdb.ReadonlyError), view.store.write() as txn:
            txn.put(b"height", b"x", db=view.store.dbs["meta"])
    finally:
        view.close()
    store = StateStore(tmp_path / "app")
    assert store.committed() == (height, app_hash)  # unchanged
    store.close()


def test_a_view_of_no_ledger_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConsortiumError, match="no ledger at .*start its node first"):
        LedgerView(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


class _Heard:
    def __init__(self) -> None:
        self.answers: list[tuple[bytes, int, str]] = []

    def resolve(self, raw: bytes, code: int, log_text: str) -> None:
        self.answers.append((raw, code, log_text))


def test_checktx_answers_cross_the_socket_in_order(tmp_path: Path) -> None:
    told = [(b"\x02" + bytes([i]) * 100, i % 3, "nonce too low" if i % 3 else "")
            for i in range(250)]

    async def scenario() -> list[tuple[bytes, int, str]]:
        relay = CheckTxRelay(asyncio.get_running_loop(), tmp_path / "checktx.sock")
        await relay.start()
        heard = _Heard()
        follow = asyncio.create_task(follow_checks(
            tmp_path / "checktx.sock", heard, None,  # type: ignore[arg-type]
            lambda *block: private.append(block)))
        async with asyncio.timeout(10):
            while not relay.listeners:  # the API's process connected
                await asyncio.sleep(0.01)
        # CheckTx tells from the consensus thread, not the relay's loop; the privacy
        # groups' processor its heights from its own, between them
        thread = threading.Thread(target=lambda: [
            (relay.resolve(*t), i == 100 and relay.private_block(*PRIVATE))
            for i, t in enumerate(told)])
        thread.start()
        await asyncio.to_thread(thread.join)
        async with asyncio.timeout(10):
            while len(heard.answers) < len(told):
                await asyncio.sleep(0.01)
        await relay.stop()
        with pytest.raises(asyncio.IncompleteReadError):  # the node went: it says so
            async with asyncio.timeout(10):
                await follow
        return heard.answers

    private: list[tuple[bytes, int, bytes, bool]] = []
    assert asyncio.run(scenario()) == told
    assert private == [PRIVATE]


PRIVATE = (b"\x22" * 32, 123_456, b"\x33" * 32, True)  # a group's height its processor ran


class _Sent:
    def __init__(self, raw: bytes, sender: bytes) -> None:
        self.raw, self.sender = raw, sender


def test_senders_cross_the_socket_to_the_node(tmp_path: Path) -> None:
    """The API's process tells its node each sender it recovered, on the CheckTx answers'
    connection (only the node's user may open it), whole frames in any cut."""
    sent = [_Sent(bytes([i % 256]) * (50 + i), bytes([i % 256]) * 20) for i in range(300)]
    wire = bytearray(encode_senders([(t.raw, t.sender) for t in sent]))
    heard: list[tuple[bytes, bytes]] = []
    buf = bytearray()
    for at in range(0, len(wire), 777):  # a read may end anywhere
        buf += wire[at:at + 777]
        heard += [(body, sender) for _kind, sender, body in decode_up(buf)]
    assert heard == [(t.raw, t.sender) for t in sent] and not buf
    with pytest.raises(ValueError, match="bytes"):
        decode_up(bytearray(encode_senders([(b"x" * (MAX_UP_BODY_BYTES + 1), b"a" * 20)])))
    with pytest.raises(ValueError, match="kind 7"):
        decode_up(bytearray(b"\x07" + encode_abi(b"a" * 20, b"{}")[1:]))

    async def scenario() -> list[tuple[bytes, bytes]]:
        got: list[tuple[bytes, bytes]] = []
        relay = CheckTxRelay(asyncio.get_running_loop(), tmp_path / "checktx.sock",
                             on_senders=got.extend)
        await relay.start()
        assert (tmp_path / "checktx.sock").stat().st_mode & 0o777 == 0o600
        teller = NodeLink()
        teller.tell(sent[:1])  # not connected yet: nothing written, nothing kept
        follow = asyncio.create_task(follow_checks(tmp_path / "checktx.sock", _Heard(),  # type: ignore[arg-type]
                                                   teller))
        async with asyncio.timeout(10):
            while not relay.listeners:
                await asyncio.sleep(0.01)
        for at in range(0, len(sent), 64):
            teller.tell(sent[at:at + 64])
        async with asyncio.timeout(10):
            while len(got) < len(sent):
                await asyncio.sleep(0.01)
        await relay.stop()
        with pytest.raises(asyncio.IncompleteReadError):
            async with asyncio.timeout(10):
                await follow
        assert teller.told == len(sent)
        return got

    assert asyncio.run(scenario()) == [(t.raw, t.sender) for t in sent]


def test_an_abi_crosses_the_socket_and_the_node_acknowledges_it(tmp_path: Path) -> None:
    """An ABI registered with the API's process is handed to its node, which stores it on a
    worker thread and acknowledges it, in order among the senders; what the node refuses
    comes back as the reason; a link that closes fails whatever still waits."""
    stored: list[tuple[bytes, bytes]] = []
    senders: list[tuple[bytes, bytes]] = []
    node_thread = threading.get_ident()

    def store(address: bytes, document: bytes) -> None:
        assert threading.get_ident() != node_thread  # not on the node's loop
        if document == b"refuse":
            raise OSError("No space left on device")
        stored.append((address, document))

    async def scenario() -> None:
        relay = CheckTxRelay(asyncio.get_running_loop(), tmp_path / "checktx.sock",
                             on_senders=senders.extend, on_abi=store)
        await relay.start()
        link = NodeLink()
        with pytest.raises(ConsortiumError, match="no link to its node"):
            await link.store_abi(b"\x01" * 20, b"{}")
        follow = asyncio.create_task(follow_checks(tmp_path / "checktx.sock", _Heard(),  # type: ignore[arg-type]
                                                   link))
        async with asyncio.timeout(10):
            while not relay.listeners:
                await asyncio.sleep(0.01)
        link.tell([_Sent(b"tx-1", b"\x0a" * 20)])
        first = asyncio.create_task(link.store_abi(b"\x01" * 20, b'{"abi": 1}'))
        link.tell([_Sent(b"tx-2", b"\x0b" * 20)])
        second = asyncio.create_task(link.store_abi(b"\x02" * 20, b"refuse"))
        await first
        with pytest.raises(ConsortiumError, match="did not store the ABI: No space left"):
            await second
        assert stored == [(b"\x01" * 20, b'{"abi": 1}')]
        assert senders == [(b"tx-1", b"\x0a" * 20), (b"tx-2", b"\x0b" * 20)]
        # from a worker thread, as JSON-RPC's reads run
        requests = link.from_thread(asyncio.get_running_loop())
        await asyncio.to_thread(requests.store_abi, b"\x03" * 20, b"[]")
        assert stored[-1] == (b"\x03" * 20, b"[]")

        hold = threading.Event()
        relay._on_abi = lambda _a, _d: hold.wait(10)  # a node that does not answer in time
        waiting = asyncio.create_task(link.store_abi(b"\x04" * 20, b"{}"))
        await asyncio.sleep(0)
        await relay.stop()
        with pytest.raises(ConsortiumError, match="link to the node closed.*may be stored"):
            async with asyncio.timeout(10):
                await waiting
        hold.set()
        with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
            await follow

    asyncio.run(scenario())


def test_the_nodes_pending_nonces_cross_the_socket(tmp_path: Path) -> None:
    """The API's process asks its node the mempool's pending nonces (its peers'
    transactions count there); from a worker thread it waits for the answer, on the link's
    own loop, or when the node cannot say, it gets None (and counts its own)."""
    mempool = {b"\x01" * 20: 5, b"\x02" * 20: 0}

    def read(addresses: list[bytes]) -> list[int]:
        if b"\xee" * 20 in addresses:
            raise RuntimeError("the ledger is closing")
        return [mempool.get(a, 0) for a in addresses]

    async def scenario() -> None:
        relay = CheckTxRelay(asyncio.get_running_loop(), tmp_path / "checktx.sock",
                             pending_nonces=read)
        await relay.start()
        link = NodeLink()
        follow = asyncio.create_task(follow_checks(tmp_path / "checktx.sock", _Heard(),  # type: ignore[arg-type]
                                                   link))
        async with asyncio.timeout(10):
            while not relay.listeners:
                await asyncio.sleep(0.01)
        asked = [b"\x02" * 20, b"\x01" * 20, b"\x03" * 20]
        assert await link.pending_nonces(asked) == [0, 5, 0]
        with pytest.raises(ConsortiumError, match="did not read its pending nonces: the ledger"):
            await link.pending_nonces([b"\xee" * 20])
        requests = link.from_thread(asyncio.get_running_loop())
        assert await asyncio.to_thread(requests.pending_nonces, asked[1:2]) == [5]
        assert await asyncio.to_thread(requests.pending_nonces, [b"\xee" * 20]) is None
        assert requests.pending_nonces(asked) is None  # on the loop: it would wait on itself
        await relay.stop()
        with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
            async with asyncio.timeout(10):
                await follow
        assert await asyncio.to_thread(requests.pending_nonces, asked) is None  # no link

    asyncio.run(scenario())
