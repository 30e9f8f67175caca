"""State-sync snapshots (issue 21): a ledger's state written in chunks, restored into an empty
ledger through the ABCI snapshot calls, and refused when a chunk or the state is not what the
verified app hash says."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from consortium.abci.protocol import types_pb2 as abci
from consortium.api.eth_json import EthReads
from consortium.errors import ConfigError, HistoryNotHere
from consortium.ledger.application import ConsortiumApp
from consortium.ledger.ledger import Ledger
from consortium.ledger.snapshots import (
    NodeSnapshots,
    SnapshotConfig,
    SnapshotInfo,
    list_snapshots,
    restore_snapshot,
    restored_height,
    take_snapshot,
    write_snapshot,
)
from consortium.ledger.types import TxFilter
from tests.support.ledger_testkit import (
    ALICE,
    BOB,
    CAROL,
    app_state,
    calldata,
    contract_address,
    new_ledger,
    run_block,
    sign,
    token_deploy_data,
)

SMALL_CHUNKS = 4096  # several chunks even for a small state


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Ledger, str, Path]]:
    """A ledger of 8 blocks: transfers and a token contract (code, storage, logs), with the
    snapshot of its last height written in small chunks."""
    root = tmp_path_factory.mktemp("snap-source")
    ledger = new_ledger(root / "app")
    token = contract_address(ALICE.address, 0)
    run_block(ledger, [sign(ALICE, nonce=0, data=token_deploy_data(10**6), gas=2_000_000)])
    for i in range(1, 7):
        run_block(ledger, [
            sign(ALICE, nonce=i, to=token, gas=200_000, data=calldata(
                "transfer(address,uint256)", ["address", "uint256"],
                ["0x" + bytes([i]).hex() * 20, i])),
            sign(BOB, nonce=i - 1, to=CAROL.address, value=10**15),
        ])
    run_block(ledger, [sign(ALICE, nonce=7, to=token, gas=200_000, data=calldata(
        "transfer(address,uint256)", ["address", "uint256"], [BOB.address, 5]))])
    write_snapshot(ledger.store, 8, root / "snap", chunk_bytes=SMALL_CHUNKS)
    yield ledger, token, root / "snap"
    ledger.close()


def _snapshot_pb(folder: Path) -> abci.Snapshot:
    info = SnapshotInfo.from_metadata((folder / "metadata.json").read_bytes())
    return abci.Snapshot(height=info.height, format=info.format, chunks=info.chunks,
                         hash=info.hash, metadata=info.metadata)


def _chunks(folder: Path) -> list[bytes]:
    n = len(json.loads((folder / "metadata.json").read_bytes())["chunk_hashes"])
    return [(folder / f"{i}.chunk").read_bytes() for i in range(n)]


@pytest.fixture
def target(tmp_path: Path) -> Iterator[tuple[ConsortiumApp, Ledger]]:
    ledger = Ledger(tmp_path / "restored")
    yield ConsortiumApp(ledger), ledger
    ledger.close()


def _offer(app: ConsortiumApp, snap: abci.Snapshot, app_hash: bytes) -> int:
    req = abci.RequestOfferSnapshot(snapshot=snap, app_hash=app_hash)
    return int(app.offer_snapshot(req).result)


def _apply(app: ConsortiumApp, index: int, chunk: bytes) -> abci.ResponseApplySnapshotChunk:
    return app.apply_snapshot_chunk(
        abci.RequestApplySnapshotChunk(index=index, chunk=chunk, sender="peer1"))


def test_a_restored_ledger_has_the_same_state_and_carries_on(source, target) -> None:
    ledger, token, folder = source
    app, restored = target
    snap = _snapshot_pb(folder)
    assert snap.chunks > 1
    app_hash = ledger.store.root_at(8)
    assert _offer(app, snap, app_hash) == abci.ResponseOfferSnapshot.ACCEPT
    for i, chunk in enumerate(_chunks(folder)):
        assert _apply(app, i, chunk).result == abci.ResponseApplySnapshotChunk.ACCEPT
    assert restored.info() == (8, app_hash)
    assert restored_height(restored.store) == 8
    assert app.info(abci.RequestInfo()).last_block_height == 8
    for who in (ALICE.address, BOB.address, CAROL.address, token):
        assert restored.get_balance(who) == ledger.get_balance(who)
        assert restored.get_nonce(who) == ledger.get_nonce(who)
        assert restored.get_code(who) == ledger.get_code(who)
    bal = calldata("balanceOf(address)", ["address"], [BOB.address])
    call = {"to": token, "data": "0x" + bal.hex()}
    assert restored.call(call).output == ledger.call(call).output
    # block 8 with its transactions, receipts and logs is here; nothing before it
    block = EthReads(ledger).get_block(8, True)
    assert EthReads(restored).get_block(8, True) == block
    tx_hash = block["transactions"][0]["hash"]
    assert EthReads(restored).get_receipt(tx_hash) == EthReads(ledger).get_receipt(tx_hash)
    assert restored.get_logs(TxFilter(from_block=8, to_block=8)) == \
        ledger.get_logs(TxFilter(from_block=8, to_block=8))
    message = "state before height 8 is not on this node"
    with pytest.raises(HistoryNotHere, match=message):
        restored.get_balance(ALICE.address, 7)
    with pytest.raises(HistoryNotHere, match=message):
        EthReads(restored).get_block(3)
    with pytest.raises(HistoryNotHere, match=message):
        restored.get_logs(TxFilter(from_block=0, to_block=8))
    with pytest.raises(HistoryNotHere, match=message):
        restored.call(call, 5)

    # the next block (BLOCKHASH of the restored window included) gives the same app hash;
    # the source is copied first so the module's fixture stays at height 8
    copy = folder.parent / "copy"
    shutil.rmtree(copy, ignore_errors=True)
    copy.mkdir()
    ledger.store.env.copy(str(copy))
    twin = Ledger(copy)
    try:
        blockhash = bytes.fromhex("600543034060005260206000f3")  # BLOCKHASH(number - 5)
        txs = [sign(BOB, nonce=6, to=CAROL.address, value=1),
               sign(ALICE, nonce=8, data=blockhash, gas=200_000)]
        expected = run_block(twin, txs).app_hash
        assert run_block(restored, txs).app_hash == expected
    finally:
        twin.close()


def test_a_corrupted_chunk_is_fetched_again_then_accepted(source, target) -> None:
    ledger, _, folder = source
    app, restored = target
    assert _offer(app, _snapshot_pb(folder), ledger.store.root_at(8)) == \
        abci.ResponseOfferSnapshot.ACCEPT
    chunks = _chunks(folder)
    bad = bytearray(chunks[0])
    bad[len(bad) // 2] ^= 0xFF
    out = _apply(app, 0, bytes(bad))
    assert out.result == abci.ResponseApplySnapshotChunk.RETRY
    assert list(out.refetch_chunks) == [0]
    assert list(out.reject_senders) == ["peer1"]
    for i, chunk in enumerate(chunks):
        assert _apply(app, i, chunk).result == abci.ResponseApplySnapshotChunk.ACCEPT
    assert restored.info()[0] == 8


def test_a_snapshot_not_matching_the_verified_app_hash_is_refused(source, target) -> None:
    ledger, _, folder = source
    app, restored = target
    snap = _snapshot_pb(folder)
    assert _offer(app, snap, ledger.store.root_at(7)) == abci.ResponseOfferSnapshot.REJECT
    assert _offer(app, snap, b"\x00" * 32) == abci.ResponseOfferSnapshot.REJECT
    wrong = abci.Snapshot(height=8, format=2, chunks=snap.chunks, hash=snap.hash,
                          metadata=snap.metadata)
    assert _offer(app, wrong, ledger.store.root_at(8)) == \
        abci.ResponseOfferSnapshot.REJECT_FORMAT
    forged = abci.Snapshot(height=8, format=1, chunks=snap.chunks, hash=b"\x01" * 32,
                           metadata=snap.metadata)
    assert _offer(app, forged, ledger.store.root_at(8)) == abci.ResponseOfferSnapshot.REJECT
    assert restored.info() == (0, b"")


def _forge(folder: Path, out: Path, change) -> Path:
    """A copy of the snapshot whose chunks `change` rewrites, with metadata and hashes made
    consistent again (what a malicious peer could serve)."""
    shutil.copytree(folder, out)
    chunks = change(_chunks(out))
    meta = json.loads((out / "metadata.json").read_bytes())
    for old in out.glob("*.chunk"):
        old.unlink()
    for i, chunk in enumerate(chunks):
        (out / f"{i}.chunk").write_bytes(chunk)
    meta["chunk_hashes"] = [hashlib.sha256(c).hexdigest() for c in chunks]
    (out / "metadata.json").write_bytes(json.dumps(meta).encode())
    return out


def _refused_after_all_chunks(app: ConsortiumApp, folder: Path, app_hash: bytes) -> int:
    assert _offer(app, _snapshot_pb(folder), app_hash) == abci.ResponseOfferSnapshot.ACCEPT
    for i, chunk in enumerate(_chunks(folder)):
        result = _apply(app, i, chunk).result
        if result != abci.ResponseApplySnapshotChunk.ACCEPT:
            return int(result)
    return int(abci.ResponseApplySnapshotChunk.ACCEPT)


def test_a_consistent_snapshot_of_another_state_is_refused(source, target, tmp_path) -> None:
    """Chunks that match their (forged) hashes but whose trie does not prove the app hash."""
    ledger, _, folder = source
    app, restored = target

    def flip_a_balance(chunks: list[bytes]) -> list[bytes]:
        last = bytearray(chunks[-1])
        last[-40] ^= 0x01  # inside the last trie node written
        return [*chunks[:-1], bytes(last)]

    forged = _forge(folder, tmp_path / "forged", flip_a_balance)
    assert _refused_after_all_chunks(app, forged, ledger.store.root_at(8)) == \
        abci.ResponseApplySnapshotChunk.REJECT_SNAPSHOT
    assert restored.info() == (0, b"")

    def drop_the_tail(chunks: list[bytes]) -> list[bytes]:
        return chunks[:-1]

    short = _forge(folder, tmp_path / "short", drop_the_tail)
    assert _refused_after_all_chunks(app, short, ledger.store.root_at(8)) == \
        abci.ResponseApplySnapshotChunk.REJECT_SNAPSHOT
    assert restored.info() == (0, b"")
    # then the genuine snapshot restores (what was written before is wiped first)
    assert _refused_after_all_chunks(app, folder, ledger.store.root_at(8)) == \
        abci.ResponseApplySnapshotChunk.ACCEPT
    assert restored.info() == (8, ledger.store.root_at(8))


def test_a_snapshot_of_another_genesis_is_refused(source, tmp_path) -> None:
    ledger, _, folder = source
    restored = Ledger(tmp_path / "restored")
    try:
        app = ConsortiumApp(restored)
        other = app_state(eth_chain_id=999).to_json()
        app.snapshots = NodeSnapshots(tmp_path / "snaps", tmp_path / "restored",
                                      SnapshotConfig(), other)
        assert _refused_after_all_chunks(app, folder, ledger.store.root_at(8)) == \
            abci.ResponseApplySnapshotChunk.REJECT_SNAPSHOT
    finally:
        restored.close()


def test_snapshots_are_kept_listed_served_and_restored_on_their_own(source, tmp_path) -> None:
    ledger, _, _ = source
    folder = tmp_path / "snaps"
    for h in (4, 6, 8):
        take_snapshot(ledger.store, h, folder, keep=2, chunk_bytes=SMALL_CHUNKS)
    assert [s.height for s in list_snapshots(folder)] == [8, 6]
    assert not any(p.name.startswith(".tmp") for p in folder.iterdir())
    app = ConsortiumApp(ledger)
    app.snapshots = NodeSnapshots(folder, tmp_path, SnapshotConfig())
    listed = app.list_snapshots(abci.RequestListSnapshots()).snapshots
    assert [s.height for s in listed] == [8, 6]
    chunk = app.load_snapshot_chunk(abci.RequestLoadSnapshotChunk(height=6, format=1, chunk=0))
    assert chunk.chunk == (folder / "6" / "0.chunk").read_bytes()
    gone = app.load_snapshot_chunk(abci.RequestLoadSnapshotChunk(height=4, format=1, chunk=0))
    assert gone.chunk == b""
    query = json.loads(app.query(abci.RequestQuery(path="/snapshots")).value)
    assert [s["height"] for s in query["snapshots"]] == [8, 6]
    # backup-style use: restore a snapshot folder into an empty store directly
    other = Ledger(tmp_path / "other")
    try:
        assert restore_snapshot(other.store, folder / "6") == 6
        other.reload()
        assert other.info() == (6, ledger.store.root_at(6))
        assert other.get_balance(CAROL.address) == ledger.get_balance(CAROL.address, 6)
    finally:
        other.close()


def test_the_node_writes_snapshots_in_a_separate_process(tmp_path: Path) -> None:
    """Every `interval` heights, while the ledger stays open and keeps committing."""
    ledger = new_ledger(tmp_path / "app")
    try:
        snaps = NodeSnapshots(tmp_path / "snapshots", tmp_path / "app",
                              SnapshotConfig(interval=2, keep=1, chunk_bytes=SMALL_CHUNKS))
        app = ConsortiumApp(ledger)
        app.snapshots = snaps
        for i in range(3):
            run_block(ledger, [sign(ALICE, nonce=i, to=BOB.address, value=1)], commit=False)
            app.commit(abci.RequestCommit())
            snaps.wait(120)
        assert [s.height for s in snaps.list()] == [2]
        restored = Ledger(tmp_path / "restored")
        try:
            restore_snapshot(restored.store, tmp_path / "snapshots" / "2",
                             ledger.store.root_at(2))
            restored.reload()
            assert restored.get_balance(BOB.address) == ledger.get_balance(BOB.address, 2)
        finally:
            restored.close()
    finally:
        ledger.close()


def test_state_sync_config(tmp_path: Path) -> None:
    assert SnapshotConfig.load(tmp_path) == SnapshotConfig(interval=1000, keep=2)
    (tmp_path / "consortium.toml").write_text(
        "[state_sync]\nsnapshot_interval = 0\nsnapshot_keep = 3\n")
    assert SnapshotConfig.load(tmp_path).interval == 0
    assert SnapshotConfig.load(tmp_path).keep == 3
    (tmp_path / "consortium.toml").write_text("[state_sync]\nsnapshot_interval = -5\n")
    with pytest.raises(ConfigError, match="state_sync.snapshot_interval must be an integer"):
        SnapshotConfig.load(tmp_path)
