"""The LedgerReader reads: JSON shapes, state at heights, eth_call and gas estimation."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_abi import decode as abi_decode
from eth_hash.auto import keccak

from consortium.api.eth_json import EthReads
from consortium.errors import ConsortiumError
from consortium.ledger.ledger import Ledger
from consortium.ledger.types import LedgerReader
from tests.support.ledger_testkit import (
    ALICE,
    BOB,
    CAROL,
    CHAIN_ID,
    calldata,
    contract_address,
    new_ledger,
    run_block,
    sign,
    token_deploy_data,
)


def h(raw: bytes) -> str:
    return "0x" + keccak(raw).hex()


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    ledger = new_ledger(tmp_path)
    yield ledger
    ledger.close()


def test_ledger_is_a_ledger_reader(ledger: Ledger) -> None:
    reader: LedgerReader = ledger
    assert reader.eth_chain_id == CHAIN_ID
    assert reader.latest_height() == 0


def test_transaction_json_per_type(ledger: Ledger) -> None:
    legacy = sign(ALICE, nonce=0, to=BOB.address, value=3, gas=21_000, tx_type=0, gas_price=2)
    access = sign(ALICE, nonce=1, to=BOB.address, value=4, gas=30_000, tx_type=1,
                  accessList=[{"address": CAROL.address, "storageKeys": ["0x" + "00" * 31
                                                                          + "01"]}])
    dynamic = sign(ALICE, nonce=2, to=BOB.address, value=5, gas=21_000, gas_price=3,
                   data=b"")
    run_block(ledger, [legacy, access, dynamic])
    t0, t1, t2 = (EthReads(ledger).get_transaction(h(r)) for r in (legacy, access, dynamic))
    common = {"blockHash", "blockNumber", "from", "gas", "gasPrice", "hash", "input", "nonce",
              "to", "transactionIndex", "value", "type", "chainId", "v", "r", "s"}
    assert common <= set(t0)
    assert t0["type"] == "0x0" and t0["gasPrice"] == "0x2"
    assert int(t0["v"], 16) in (CHAIN_ID * 2 + 35, CHAIN_ID * 2 + 36)
    assert t0["chainId"] == hex(CHAIN_ID)
    assert t1["type"] == "0x1"
    assert t1["accessList"] == [{"address": CAROL.address.lower(),
                                 "storageKeys": ["0x" + "00" * 31 + "01"]}]
    assert t1["yParity"] in ("0x0", "0x1")
    assert t2["type"] == "0x2" and t2["maxFeePerGas"] == "0x3"
    assert t2["maxPriorityFeePerGas"] == "0x3" and t2["gasPrice"] == "0x3"
    assert t2["transactionIndex"] == "0x2" and t2["nonce"] == "0x2"
    assert t2["value"] == "0x5" and t2["input"] == "0x"
    assert t2["from"] == ALICE.address.lower() and t2["to"] == BOB.address.lower()
    receipt = EthReads(ledger).get_receipt(h(access))
    assert receipt["type"] == "0x1"
    assert receipt["cumulativeGasUsed"] == hex(21_000 + int(receipt["gasUsed"], 16))
    assert len(receipt["logsBloom"]) == 2 + 512


def test_unknown_things_are_none(ledger: Ledger) -> None:
    assert EthReads(ledger).get_transaction("0x" + "12" * 32) is None
    assert EthReads(ledger).get_receipt("0x" + "12" * 32) is None
    assert EthReads(ledger).get_block(5) is None
    assert EthReads(ledger).get_block_by_hash("0x" + "12" * 32) is None


def test_genesis_block(ledger: Ledger) -> None:
    block = EthReads(ledger).get_block(0)
    assert block is not None
    assert block["number"] == "0x0"
    assert block["transactions"] == []
    assert block["stateRoot"] == "0x" + ledger.info()[1].hex()


def test_state_reads(ledger: Ledger) -> None:
    run_block(ledger, [sign(ALICE, nonce=0, data=token_deploy_data(77), gas=2_000_000)])
    token = contract_address(ALICE.address.lower(), 0)
    code = ledger.get_code(token)
    assert code and ledger.get_code(token, height=0) == b""
    # balanceOf is the first storage variable: slot of balanceOf[alice] per Vyper's layout
    # is not asserted; totalSupply is slot 1
    assert int.from_bytes(ledger.get_storage_at(token, 1), "big") == 77
    assert ledger.get_storage_at(token, 1, height=0) == b"\x00" * 32
    with pytest.raises(ConsortiumError):
        ledger.get_balance(ALICE.address, height=9)
    with pytest.raises(ConsortiumError):
        ledger.get_balance("0x1234")


def test_call_defaults(ledger: Ledger) -> None:
    run_block(ledger, [sign(ALICE, nonce=0, data=token_deploy_data(77), gas=2_000_000)])
    token = contract_address(ALICE.address.lower(), 0)
    supply = ledger.call({"to": token, "data": calldata("totalSupply()", [], []).hex()})
    assert supply.success and abi_decode(["uint256"], supply.output) == (77,)
    assert supply.gas_used > 21_000
    # a call may move value the caller doesn't have? no: value needs balance
    poor = ledger.call({"from": CAROL.address, "to": BOB.address, "value": 1})
    assert not poor.success
    # contract creation through eth_call returns the runtime code
    created = ledger.call({"from": BOB.address, "data": "0x" + token_deploy_data(1).hex()})
    assert created.success and created.output == ledger.get_code(token)
    # calls never change state
    assert ledger.get_nonce(BOB.address) == 0


def test_estimate_gas(ledger: Ledger) -> None:
    assert ledger.estimate_gas({"from": ALICE.address, "to": BOB.address, "value": "0x1"}) \
        == 21_000
    run_block(ledger, [sign(ALICE, nonce=0, data=token_deploy_data(77), gas=2_000_000)])
    token = contract_address(ALICE.address.lower(), 0)
    data = "0x" + calldata("transfer(address,uint256)", ["address", "uint256"],
                           [BOB.address, 1]).hex()
    estimate = ledger.estimate_gas({"from": ALICE.address, "to": token, "data": data})
    tx = {"from": ALICE.address, "to": token, "data": data}
    assert ledger.call({**tx, "gas": estimate}).success
    assert not ledger.call({**tx, "gas": estimate - 1}).success
    raw = sign(ALICE, nonce=1, to=token, data=bytes.fromhex(data[2:]), gas=estimate)
    (res,) = run_block(ledger, [raw]).tx_results
    assert res.code == 0


def test_pending_nonce(ledger: Ledger) -> None:
    assert ledger.pending_nonce(ALICE.address) == 0
    ledger.check_tx(sign(ALICE, nonce=0, to=BOB.address, gas=21_000))
    assert ledger.pending_nonce(ALICE.address) == 1
    assert ledger.pending_nonce(BOB.address) == 0


def test_block_roots_match_ethereum_tries(ledger: Ledger) -> None:
    from eth.db.trie import make_trie_root_and_nodes
    from eth.vm.forks.prague.transactions import PragueTransactionBuilder

    token = contract_address(ALICE.address.lower(), 0)
    transfer = calldata("transfer(address,uint256)", ["address", "uint256"], [BOB.address, 1])
    too_much = calldata("transfer(address,uint256)", ["address", "uint256"], [BOB.address, 99])
    txs = [sign(ALICE, nonce=0, data=token_deploy_data(10), gas=2_000_000, tx_type=0),
           sign(ALICE, nonce=1, to=token, data=transfer),
           sign(ALICE, nonce=2, to=token, data=too_much, tx_type=1)]  # reverts
    run_block(ledger, txs)
    block = EthReads(ledger).get_block(1)
    objects = [PragueTransactionBuilder.decode(raw) for raw in txs]
    assert block["transactionsRoot"] == "0x" + make_trie_root_and_nodes(objects)[0].hex()
    receipts = []
    for obj, raw in zip(objects, txs, strict=True):
        r = EthReads(ledger).get_receipt(h(raw))
        logs = [(bytes.fromhex(lg["address"][2:]), tuple(int(t, 16) for t in lg["topics"]),
                 bytes.fromhex(lg["data"][2:])) for lg in r["logs"]]
        receipt = obj.make_receipt(b"\x01" if r["status"] == "0x1" else b"",
                                   int(r["cumulativeGasUsed"], 16), logs)
        assert r["logsBloom"] == "0x" + int(receipt.bloom).to_bytes(256, "big").hex()
        receipts.append(receipt)
    assert block["receiptsRoot"] == "0x" + make_trie_root_and_nodes(receipts)[0].hex()


def test_get_logs_reads_only_the_index(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    from consortium.ledger.types import TxFilter

    token = contract_address(ALICE.address.lower(), 0)
    run_block(ledger, [sign(ALICE, nonce=0, data=token_deploy_data(10), gas=2_000_000)])
    for _ in range(20):
        run_block(ledger, [sign(BOB, nonce=ledger.get_nonce(BOB.address), to=CAROL.address,
                                value=1, gas=21_000)])
    read: list[bytes] = []
    real_logs_at = ledger.chain.logs_at

    def logs_at(positions):  # type: ignore[no-untyped-def]
        positions = list(positions)
        read.extend(positions)
        return real_logs_at(positions)

    def no_scan(*_: object) -> None:
        raise AssertionError("scanned blocks")

    monkeypatch.setattr(ledger.chain, "logs_at", logs_at)
    monkeypatch.setattr(ledger.chain, "logs_in_heights", no_scan)
    entries = ledger.get_logs(TxFilter(0, 10_000, addresses=[token]))
    assert len(entries) == 1 and len(read) == 1
    mint_topic = entries[0].topics[0]
    assert len(ledger.get_logs(TxFilter(0, 10_000, topics=[mint_topic]))) == 1
