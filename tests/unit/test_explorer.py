"""The explorer's backend on real LMDB ledgers: the address index (kept in the block's
commit, across reopening, replays, old folders and state sync), the ABI registry's checks,
transaction decoding, CSV export, and their JSON-RPC/REST surface."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from consortium.api.explorer import (
    MAX_EXPORT_BLOCKS,
    Explorer,
    ExplorerError,
    selectors_in_code,
)
from consortium.errors import ConsortiumError
from consortium.ledger import address_index
from consortium.ledger.ledger import Ledger
from consortium.ledger.snapshots import restore_snapshot, write_snapshot
from consortium.system.model import GOVERNANCE_ADDRESS
from tests.support.jsonrpc_testkit import node
from tests.support.ledger_testkit import (
    ALICE,
    BOB,
    CAROL,
    TOKEN_SOURCE,
    calldata,
    compile_vyper,
    contract_address,
    ctx,
    new_ledger,
    run_block,
    sign,
    token_deploy_data,
)

TRANSFER = "transfer(address,uint256)"


def _transfer(to: str, amount: int) -> bytes:
    return calldata(TRANSFER, ["address", "uint256"], [to, amount])


def token_chain(ledger: Ledger) -> str:
    """Block 1: ALICE deploys the token, BOB pays CAROL; block 2: ALICE sends CAROL 7
    tokens; block 3: BOB's transfer of tokens he lacks fails (reverts)."""
    run_block(ledger, [sign(ALICE, nonce=0, data=token_deploy_data(1000), gas=2_000_000),
                       sign(BOB, nonce=0, to=CAROL.address, value=5)])
    token = contract_address(ALICE.address, 0)
    run_block(ledger, [sign(ALICE, nonce=1, to=token, data=_transfer(CAROL.address, 7))])
    run_block(ledger, [sign(BOB, nonce=1, to=token, data=_transfer(CAROL.address, 1))])
    return token


def _hashes(page: dict[str, Any]) -> list[tuple[int, int]]:
    return [(t["blockNumber"], t["index"]) for t in page["transactions"]]


@pytest.fixture
def chain(tmp_path: Path) -> Any:
    ledger = new_ledger(tmp_path / "ledger")
    token = token_chain(ledger)
    try:
        yield ledger, token, Explorer(ledger)
    finally:
        ledger.close()


def test_the_index_lists_senders_recipients_creations_and_token_holders(chain: Any) -> None:
    ledger, token, ex = chain
    alice = ex.address_transactions(ALICE.address)
    assert _hashes(alice) == [(2, 0), (1, 0)]
    assert alice["transactions"][1]["created"] == token
    assert alice["transactions"][1]["roles"] == ["from", "event"]  # the mint's Transfer
    assert alice["indexedFrom"] == 0
    carol = ex.address_transactions(CAROL.address)
    assert _hashes(carol) == [(2, 0), (1, 1)]  # block 3's failed transfer emitted nothing
    assert carol["transactions"][0]["roles"] == ["event"]
    assert carol["transactions"][1]["roles"] == ["to"]
    tok = ex.address_transactions(token)
    assert _hashes(tok) == [(3, 0), (2, 0), (1, 0)]
    assert tok["transactions"][2]["roles"] == ["created"]
    assert tok["transactions"][0]["status"] == 0
    assert ex.address_transactions("0x" + "77" * 20)["transactions"] == []


def test_pages_and_block_ranges(chain: Any) -> None:
    ledger, token, ex = chain
    first = ex.address_transactions(token, limit=2)
    assert _hashes(first) == [(3, 0), (2, 0)] and first["next"] == "2:0"
    second = ex.address_transactions(token, limit=2, before=first["next"])
    assert _hashes(second) == [(1, 0)] and second["next"] is None
    assert _hashes(ex.address_transactions(token, from_block=2, to_block=2)) == [(2, 0)]
    assert _hashes(ex.address_transactions(token, to_block=1)) == [(1, 0)]
    with pytest.raises(ExplorerError, match="limit"):
        ex.address_transactions(token, limit=0)
    with pytest.raises(ExplorerError, match="height:index"):
        ex.address_transactions(token, before="yesterday")
    with pytest.raises(ExplorerError, match="address"):
        ex.address_transactions("0x1234")


def test_the_index_survives_reopening_and_a_replayed_block(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path / "l")
    try:
        run_block(ledger, [sign(ALICE, nonce=0, to=BOB.address, value=1)])
        # a block finalized twice before its commit (a crash and replay) is indexed once
        tx = sign(ALICE, nonce=1, to=CAROL.address, value=1)
        ledger.finalize_block(ctx(2), [tx])
        ledger.finalize_block(ctx(2), [tx])
        ledger.commit()
    finally:
        ledger.close()
    ledger = Ledger(tmp_path / "l")
    try:
        ex = Explorer(ledger)
        assert _hashes(ex.address_transactions(ALICE.address)) == [(2, 0), (1, 0)]
        run_block(ledger, [sign(BOB, nonce=0, to=ALICE.address, value=1)])
        assert _hashes(ex.address_transactions(ALICE.address)) == [(3, 0), (2, 0), (1, 0)]
        assert ex.address_transactions(ALICE.address)["indexedFrom"] == 0
        with ledger.store.read() as txn:
            entries = sum(1 for _ in txn.cursor(db=ledger.store.dbs["addr_txs"]))
        assert entries == 6  # 3 transactions x (sender, recipient)
    finally:
        ledger.close()


def test_a_folder_written_before_the_index_starts_it_at_the_next_block(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path / "l")
    try:
        ledger.index_addresses = False  # as a version without the index committed it
        run_block(ledger, [sign(ALICE, nonce=0, to=BOB.address, value=1)])
        run_block(ledger, [sign(ALICE, nonce=1, to=BOB.address, value=1)])
        with ledger.store.write() as txn:
            txn.delete(address_index.FROM_KEY, db=ledger.store.dbs["meta"])
    finally:
        ledger.close()
    ledger = Ledger(tmp_path / "l")
    try:
        ex = Explorer(ledger)
        assert ex.address_transactions(ALICE.address) == {
            "transactions": [], "next": None, "indexedFrom": 3}
        run_block(ledger, [sign(ALICE, nonce=2, to=BOB.address, value=1)])
        assert _hashes(ex.address_transactions(BOB.address)) == [(3, 0)]
    finally:
        ledger.close()


def test_pages_inside_one_block_and_an_offline_rebuild(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path / "l")
    try:
        ledger.index_addresses = False  # committed without the index: rebuilt below
        run_block(ledger, [sign(ALICE, nonce=i, to=BOB.address, value=1) for i in range(3)]
                  + [sign(BOB, nonce=0, to=BOB.address, value=1)])
        run_block(ledger, [sign(ALICE, nonce=3, data=token_deploy_data(5), gas=2_000_000)])
        assert address_index.rebuild(ledger.store) == 4  # ALICE, BOB; ALICE, the token
        ex = Explorer(ledger)
        first = ex.address_transactions(ALICE.address, limit=2)
        assert _hashes(first) == [(2, 0), (1, 2)] and first["next"] == "1:2"
        rest = ex.address_transactions(ALICE.address, limit=2, before=first["next"])
        assert _hashes(rest) == [(1, 1), (1, 0)] and rest["next"] is None
        bob = ex.address_transactions(BOB.address)
        assert [t["roles"] for t in bob["transactions"]] == [["from", "to"], ["to"], ["to"],
                                                             ["to"]]
        token = contract_address(ALICE.address, 3)
        assert ex.address_transactions(token)["transactions"][0]["roles"] == ["created"]
        assert bob["indexedFrom"] == 0
    finally:
        ledger.close()


def test_a_state_synced_ledger_indexes_from_after_its_snapshot(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path / "l")
    try:
        for i in range(3):
            run_block(ledger, [sign(ALICE, nonce=i, to=BOB.address, value=1)])
        write_snapshot(ledger.store, 3, tmp_path / "snap")
    finally:
        ledger.close()
    restored = Ledger(tmp_path / "restored")
    try:
        restore_snapshot(restored.store, tmp_path / "snap")
        restored.reload()
        ex = Explorer(restored)
        assert ex.address_transactions(ALICE.address) == {
            "transactions": [], "next": None, "indexedFrom": 4}
        run_block(restored, [sign(ALICE, nonce=3, to=BOB.address, value=1)])
        assert _hashes(ex.address_transactions(ALICE.address)) == [(4, 0)]
    finally:
        restored.close()


def test_the_index_is_not_part_of_the_app_hash(tmp_path: Path) -> None:
    hashes = []
    for name, on in (("on", True), ("off", False)):
        ledger = new_ledger(tmp_path / name)
        try:
            ledger.index_addresses = on
            token_chain(ledger)
            hashes.append(ledger.info())
        finally:
            ledger.close()
    assert hashes[0] == hashes[1]


# --- ABI registry ----------------------------------------------------------------------


def test_abis_are_checked_against_the_deployed_code(chain: Any) -> None:
    ledger, token, ex = chain
    _, abi = compile_vyper(TOKEN_SOURCE)
    assert ex.get_abi(token) is None
    mint = {"type": "function", "name": "mint", "inputs": [
        {"name": "to", "type": "address"}, {"name": "amount", "type": "uint256"}],
        "outputs": [], "stateMutability": "nonpayable"}
    with pytest.raises(ExplorerError, match=r"no selector for 1 .*mint\(address,uint256\)"):
        ex.register_abi(token, [*abi, mint])
    with pytest.raises(ExplorerError, match="no contract is deployed"):
        ex.register_abi(BOB.address, abi)
    with pytest.raises(ExplorerError, match="shipped contract .*Governance"):
        ex.register_abi("0x" + GOVERNANCE_ADDRESS.hex(), abi)
    with pytest.raises(ExplorerError, match="not JSON"):
        ex.register_abi(token, "[{")
    with pytest.raises(ExplorerError, match="invalid type"):
        ex.register_abi(token, [{"type": "function", "name": "f",
                                 "inputs": [{"type": "uint7"}]}])
    assert ex.get_abi(token) is None  # nothing stored by a refusal
    done = ex.register_abi(token, abi, "Token")
    assert done == {"address": token, "name": "Token", "functions": 3, "events": 1}
    got = ex.get_abi(token)
    assert got is not None and got["source"] == "registered" and got["abi"] == abi
    shipped = ex.get_abi("0x" + GOVERNANCE_ADDRESS.hex())
    assert shipped is not None and shipped["source"] == "shipped"
    assert shipped["name"] == "Governance"


def test_an_api_in_its_own_process_hands_the_abi_to_its_node(tmp_path: Path) -> None:
    """The API's own process reads the ledger read-only: an ABI registered there is checked
    there, then handed to the node to store (`LedgerView.node`, the check socket's link);
    unlinked, or refused by the node, it is refused in words and nothing is kept. The link
    itself: tests/unit/test_api_process.py; a node: test_explorer_network."""
    from consortium.ledger.view import LedgerView

    ledger = new_ledger(tmp_path / "ledger")
    token = token_chain(ledger)
    ledger.close()  # the node is another process
    view = LedgerView(tmp_path / "ledger")
    try:
        _, abi = compile_vyper(TOKEN_SOURCE)
        ex = Explorer(view)
        with pytest.raises(ConsortiumError, match="read-only and linked to no node"):
            ex.register_abi(token, abi, "Token")

        class Node:
            def __init__(self) -> None:
                self.handed: list[tuple[bytes, bytes]] = []
                self.full = True

            def store_abi(self, address: bytes, document: bytes) -> None:
                if self.full:
                    raise ConsortiumError("the node did not store the ABI: disk full")
                self.handed.append((address, document))

            def pending_nonces(self, addresses: Any) -> list[int] | None:
                return None

        node = view.node = Node()
        with pytest.raises(ConsortiumError, match="disk full"):
            ex.register_abi(token, abi, "Token")
        assert ex.get_abi(token) is None and ex.abi_for(bytes.fromhex(token[2:])) is None

        node.full = False
        with pytest.raises(ExplorerError, match="no selector"):  # checked here, not handed
            ex.register_abi(token, [{"type": "function", "name": "nope", "inputs": []}])
        assert not node.handed
        assert ex.register_abi(token, abi, "Token")["functions"] == 3
        [(address, document)] = node.handed
        assert address == bytes.fromhex(token[2:])
        assert json.loads(document) == {"address": token, "name": "Token", "abi": abi}
    finally:
        view.close()


def test_selector_scan_skips_push_data() -> None:
    # PUSH4 0xa9059cbb; PUSH5 whose data holds 0x63 then a fake selector; PUSH3 0x00fdd58e
    code = bytes.fromhex("63a9059cbb" + "64" + "6312345678" + "62fdd58e")
    found = selectors_in_code(code)
    assert bytes.fromhex("a9059cbb") in found and bytes.fromhex("00fdd58e") in found
    assert bytes.fromhex("12345678") not in found


# --- decoding --------------------------------------------------------------------------


def _receipt_hash(ledger: Ledger, height: int, index: int = 0) -> str:
    view = ledger.block_record(height)
    assert view is not None
    return "0x" + view.txs[index].hash.hex()


def test_decoding_calls_events_and_revert_reasons(chain: Any) -> None:
    ledger, token, ex = chain
    sent = ex.decode_transaction(_receipt_hash(ledger, 2))
    assert sent is not None and sent["status"] == "success"
    assert sent["call"] == {"contract": None, "method": "transfer", "signature": TRANSFER,
                            "args": [{"name": "to", "type": "address",
                                      "value": CAROL.address.lower()},
                                     {"name": "value", "type": "uint256", "value": "7"}]}
    (event,) = sent["events"]
    assert event["name"] == "Transfer" and event["standard"] == "ERC-20"
    assert [a["value"] for a in event["args"]] == [ALICE.address.lower(),
                                                   CAROL.address.lower(), "7"]
    _, abi = compile_vyper(TOKEN_SOURCE)
    ex.register_abi(token, abi, "Token")
    named = ex.decode_transaction(_receipt_hash(ledger, 2))
    assert named is not None and named["call"]["contract"] == "Token"
    assert named["call"]["args"][0]["name"] == "to"  # the registered ABI's names
    assert named["events"][0]["contract"] == "Token"
    assert [a["name"] for a in named["events"][0]["args"]] == ["sender", "receiver", "value"]
    failed = ex.decode_transaction(_receipt_hash(ledger, 3))
    assert failed is not None and failed["status"] == "failed"
    assert failed["revertReason"] == "insufficient balance"
    assert failed["events"] == []
    created = ex.decode_transaction(_receipt_hash(ledger, 1))
    assert created is not None and created["created"] == token and created["call"] is None
    assert ex.decode_transaction("0x" + "00" * 32) is None
    with pytest.raises(ExplorerError, match="transaction hash"):
        ex.decode_transaction("0x12")


def test_a_shipped_contract_call_is_decoded_without_registering(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path / "l")
    try:
        data = calldata("keccak(bytes)", ["bytes"], [b"abc"])
        run_block(ledger, [sign(ALICE, nonce=0, to="0x" + "00" * 18 + "1003", data=data)])
        decoded = Explorer(ledger).decode_transaction(_receipt_hash(ledger, 1))
        assert decoded is not None and decoded["call"]["contract"] == "Crypto"
        assert decoded["call"]["method"] == "keccak"
        assert decoded["call"]["args"][0]["value"] == "0x616263"
    finally:
        ledger.close()


# --- CSV -------------------------------------------------------------------------------


def _csv(pieces: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO("".join(pieces))))


def test_csv_exports(chain: Any) -> None:
    ledger, token, ex = chain
    rows = _csv(ex.export_csv("transactions", 1, 3, token))
    assert rows[0][:4] == ["blockNumber", "timestamp", "index", "hash"]
    assert [(r[0], r[8], r[10]) for r in rows[1:]] == [
        ("1", "success", ""), ("2", "success", "transfer"), ("3", "failed", "transfer")]
    assert rows[1][6] == token  # the created contract
    everything = _csv(ex.export_csv("transactions", 1, 3))
    assert len(everything) == 1 + 4
    blocks = _csv(ex.export_csv("blocks", 1, 3))
    assert [r[0] for r in blocks] == ["number", "1", "2", "3"]
    assert blocks[1][3] == "2"  # transactions in block 1
    events = _csv(ex.export_csv("events", 1, 3, token))
    assert [r[5] for r in events[1:]] == ["Transfer", "Transfer"]
    assert f"to={CAROL.address.lower()}" in events[2][6]
    with pytest.raises(ExplorerError, match="kind"):
        ex.export_csv("accounts", 1, 3)
    with pytest.raises(ExplorerError, match="blocks export takes no address"):
        ex.export_csv("blocks", 1, 3, token)


def test_export_ranges_and_dates(chain: Any) -> None:
    ledger, token, ex = chain
    assert ex.export_range(from_block=None, to_block=None) == (1, 3)
    assert ex.export_range(from_block=2, to_block=99) == (2, 3)
    with pytest.raises(ExplorerError, match=f"at most {MAX_EXPORT_BLOCKS}"):
        ex.export_range(from_block=1, to_block=MAX_EXPORT_BLOCKS + 1)
    # the testkit's blocks are at T0 + height seconds: 2023-11-14 UTC
    assert ex.export_range(from_block=None, to_block=None, from_date="2023-11-14",
                           to_date="2023-11-14") == (1, 3)
    lo, hi = ex.export_range(from_block=None, to_block=None, from_date="2023-11-15")
    assert lo > hi  # nothing on later days: an empty export
    with pytest.raises(ExplorerError, match="yyyy-mm-dd"):
        ex.export_range(from_block=None, to_block=None, from_date="14/11/2023")


# --- JSON-RPC and REST -------------------------------------------------------------------


def test_the_methods_over_json_rpc_and_the_csv_route(tmp_path: Path) -> None:
    with node(tmp_path / "n") as n:
        token = token_chain(n.ledger)
        page = n.rpc("consortium_getAddressTransactions", token, {"limit": 2})
        assert [t["blockNumber"] for t in page["transactions"]] == [3, 2]
        more = n.rpc("consortium_getAddressTransactions", token,
                     {"limit": "0x2", "before": page["next"]})
        assert [t["blockNumber"] for t in more["transactions"]] == [1]
        tx = n.rpc("consortium_decodeTransaction", page["transactions"][0]["hash"])
        assert tx["status"] == "failed" and tx["revertReason"] == "insufficient balance"
        _, abi = compile_vyper(TOKEN_SOURCE)
        assert n.rpc("consortium_registerAbi", token, abi)["functions"] == 3
        assert n.rpc("consortium_getAbi", token)["abi"] == abi
        # bad input: clear invalid-params errors, never a crash
        for method, params in (
            ("consortium_decodeTransaction", ["0x12"]),
            ("consortium_getAddressTransactions", ["0xzz"]),
            ("consortium_getAddressTransactions", [token, {"limit": 0}]),
            ("consortium_getAddressTransactions", [token, {"colour": "red"}]),
            ("consortium_registerAbi", [BOB.address, abi]),
            ("consortium_registerAbi", [token, "not json"]),
            ("consortium_getAbi", []),
        ):
            err = n.rpc_error(method, *params)
            assert err["code"] == -32602, (method, err)
        csv_answer = n.client.get("/api/v1/explorer/export.csv",
                                  params={"kind": "transactions", "address": token,
                                          "fromBlock": "1", "toBlock": "3"})
        assert csv_answer.status_code == 200
        assert csv_answer.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(csv_answer.text)))
        assert rows[0][0] == "blockNumber" and len(rows) == 4
        for params in ({"kind": "nope"}, {"fromBlock": "x"}, {"address": "0x1"},
                       {"fromBlock": "0", "toBlock": str(MAX_EXPORT_BLOCKS + 10)},
                       {"fromDate": "2023-13-01"}):
            bad = n.client.get("/api/v1/explorer/export.csv", params=params)
            assert bad.status_code == 400, (params, bad.text)
            assert bad.json()["error"]
