"""Block execution: transfers, contracts, logs, receipts, skipped and reverted
transactions, crash and replay, state at older heights."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_abi import decode as abi_decode
from eth_hash.auto import keccak

from consortium.api.eth_json import EthReads
from consortium.errors import (
    ExecutionReverted,
    GasLimitError,
    InsufficientFunds,
    MalformedTx,
    NonceTooHigh,
    NonceTooLow,
    NotPermitted,
    WrongChainId,
)
from consortium.ledger.ledger import Ledger
from consortium.ledger.types import TxFilter
from tests.support.ledger_testkit import (
    ALICE,
    BOB,
    CAROL,
    MALLORY,
    calldata,
    contract_address,
    ctx,
    new_ledger,
    run_block,
    sign,
    token_deploy_data,
)

TRANSFER_TOPIC = "0x" + keccak(b"Transfer(address,address,uint256)").hex()


def h(raw: bytes) -> str:
    return "0x" + keccak(raw).hex()


def topic(address: str) -> str:
    return "0x" + "00" * 12 + address.lower()[2:]


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    ledger = new_ledger(tmp_path)
    yield ledger
    ledger.close()


def transfer_call(to: str, amount: int) -> bytes:
    return calldata("transfer(address,uint256)", ["address", "uint256"], [to, amount])


def deploy_token(ledger: Ledger, supply: int = 1_000) -> str:
    nonce = ledger.get_nonce(ALICE.address)
    out = run_block(ledger, [sign(ALICE, nonce=nonce, data=token_deploy_data(supply),
                                  gas=2_000_000)])
    assert out.tx_results[0].code == 0, out.tx_results[0].log
    address = contract_address(ALICE.address.lower(), nonce)
    assert out.tx_results[0].data == bytes.fromhex(address[2:])
    return address


def test_value_transfer(ledger: Ledger) -> None:
    before_alice = ledger.get_balance(ALICE.address)
    raw = sign(ALICE, nonce=0, to=CAROL.address, value=12345, gas=21_000)
    out = run_block(ledger, [raw])
    (res,) = out.tx_results
    assert res.code == 0 and res.gas_used == 21_000
    assert [e.type for e in res.events] == ["tx"]
    assert dict((k, v) for k, v, _ in res.events[0].attributes)["hash"] == h(raw)
    assert ledger.get_balance(CAROL.address) == 12345
    assert ledger.get_balance(ALICE.address) == before_alice - 12345
    assert ledger.get_nonce(ALICE.address) == 1
    # older heights keep their balances
    assert ledger.get_balance(CAROL.address, height=0) == 0
    assert ledger.get_balance(CAROL.address, height=1) == 12345
    receipt = EthReads(ledger).get_receipt(h(raw))
    assert receipt is not None
    assert receipt["status"] == "0x1"
    assert receipt["gasUsed"] == hex(21_000)
    assert receipt["from"] == ALICE.address.lower()
    assert receipt["to"] == CAROL.address.lower()
    assert receipt["contractAddress"] is None
    assert receipt["blockNumber"] == "0x1"
    assert receipt["blockHash"] == "0x" + (1).to_bytes(32, "big").hex()


def test_gas_fees_go_to_the_proposer(ledger: Ledger) -> None:
    raw = sign(ALICE, nonce=0, to=CAROL.address, value=1, gas=21_000, gas_price=7)
    before = ledger.get_balance(ALICE.address)
    run_block(ledger, [raw])
    assert ledger.get_balance(ALICE.address) == before - 1 - 21_000 * 7
    assert ledger.get_balance("0x" + "aa" * 20) == 21_000 * 7
    assert EthReads(ledger).get_receipt(h(raw))["effectiveGasPrice"] == "0x7"


def test_token_deploy_transfer_logs(ledger: Ledger) -> None:
    token = deploy_token(ledger)
    assert len(ledger.get_code(token)) > 0
    raw = sign(ALICE, nonce=1, to=token, data=transfer_call(BOB.address, 10))
    out = run_block(ledger, [raw])
    (res,) = out.tx_results
    assert res.code == 0
    assert abi_decode(["bool"], res.data) == (True,)
    eth_logs = [e for e in res.events if e.type == "eth_log"]
    assert len(eth_logs) == 1
    attrs = {k: v for k, v, _ in eth_logs[0].attributes}
    assert attrs["address"] == token
    assert attrs["topic0"] == TRANSFER_TOPIC
    assert attrs["topic2"] == topic(BOB.address)
    receipt = EthReads(ledger).get_receipt(h(raw))
    assert receipt["logs"][0]["topics"] == [TRANSFER_TOPIC, topic(ALICE.address),
                                           topic(BOB.address)]
    assert receipt["logs"][0]["logIndex"] == "0x0"
    balance = calldata("balanceOf(address)", ["address"], [BOB.address])
    result = ledger.call({"to": token, "data": "0x" + balance.hex()})
    assert abi_decode(["uint256"], result.output) == (10,)
    at_deploy = ledger.call({"to": token, "data": "0x" + balance.hex()}, height=1)
    assert abi_decode(["uint256"], at_deploy.output) == (0,)
    # deployment receipt
    deploy_receipt = EthReads(ledger).get_receipt(EthReads(ledger).get_block(1)["transactions"][0])
    assert deploy_receipt["contractAddress"] == token
    assert deploy_receipt["to"] is None


def test_get_logs_by_address_and_topic(ledger: Ledger) -> None:
    token = deploy_token(ledger)  # block 1: mint log
    other = deploy_token(ledger)  # block 2: mint log from another address
    run_block(ledger, [sign(ALICE, nonce=2, to=token, data=transfer_call(BOB.address, 1)),
                       sign(ALICE, nonce=3, to=other, data=transfer_call(CAROL.address, 2))])
    for _ in range(3):
        run_block(ledger, [])
    run_block(ledger, [sign(ALICE, nonce=4, to=token, data=transfer_call(CAROL.address, 3))])

    by_token = ledger.get_logs(TxFilter(0, 100, addresses=[token]))
    assert [(e.block_number, e.log_index) for e in by_token] == [(1, 0), (3, 0), (7, 0)]
    assert all(e.address == token for e in by_token)
    assert by_token[1].block_hash == "0x" + (3).to_bytes(32, "big").hex()
    both = ledger.get_logs(TxFilter(0, 100, addresses=[token, other.upper().replace("0X",
                                                                                    "0x")]))
    assert len(both) == 5
    to_carol = ledger.get_logs(TxFilter(0, 100, topics=[None, None, topic(CAROL.address)]))
    assert [(e.block_number, e.address) for e in to_carol] == [(3, other), (7, token)]
    either = ledger.get_logs(TxFilter(0, 100, topics=[TRANSFER_TOPIC,
                                                      [topic(ALICE.address)]]))
    assert len(either) == 3
    token_to_carol = ledger.get_logs(TxFilter(0, 100, addresses=[token],
                                              topics=[None, None, topic(CAROL.address)]))
    assert [e.block_number for e in token_to_carol] == [7]
    ranged = ledger.get_logs(TxFilter(2, 6))
    assert [(e.block_number, e.log_index) for e in ranged] == [(2, 0), (3, 0), (3, 1)]
    assert ranged[2].tx_index == 1
    assert ledger.get_logs(TxFilter(8, 100)) == []
    assert ledger.get_logs(TxFilter(0, 100, topics=["0x" + "11" * 32])) == []


def test_revert_is_in_the_block_with_status_zero(ledger: Ledger) -> None:
    token = deploy_token(ledger, supply=5)
    raw = sign(ALICE, nonce=1, to=token, data=transfer_call(BOB.address, 6))
    (res,) = run_block(ledger, [raw]).tx_results
    assert res.code == ExecutionReverted.abci_code
    assert res.log == "execution reverted: insufficient balance"
    assert res.data[:4] == bytes.fromhex("08c379a0")
    assert abi_decode(["string"], res.data[4:]) == ("insufficient balance",)
    assert res.gas_used > 21_000
    receipt = EthReads(ledger).get_receipt(h(raw))
    assert receipt["status"] == "0x0"
    assert receipt["logs"] == []
    assert ledger.get_nonce(ALICE.address) == 2  # nonce consumed
    assert EthReads(ledger).get_block(2)["transactions"] == [h(raw)]
    call = ledger.call({"from": ALICE.address, "to": token,
                        "data": "0x" + transfer_call(BOB.address, 6).hex()})
    assert not call.success
    assert call.output == res.data
    assert call.error == "execution reverted: insufficient balance"
    with pytest.raises(ExecutionReverted) as info:
        ledger.estimate_gas({"from": ALICE.address, "to": token,
                             "data": "0x" + transfer_call(BOB.address, 6).hex()})
    assert info.value.data == res.data


def test_out_of_gas_is_status_zero(ledger: Ledger) -> None:
    token = deploy_token(ledger)
    raw = sign(ALICE, nonce=1, to=token, data=transfer_call(BOB.address, 1), gas=23_000)
    (res,) = run_block(ledger, [raw]).tx_results
    assert res.code == ExecutionReverted.abci_code
    assert res.gas_used == 23_000
    assert "OutOfGas" in res.log
    assert EthReads(ledger).get_receipt(h(raw))["status"] == "0x0"


def test_invalid_transactions_are_skipped_identically(tmp_path: Path) -> None:
    a, b = new_ledger(tmp_path / "a", block_gas_limit=100_000), new_ledger(
        tmp_path / "b", block_gas_limit=100_000)
    good = sign(ALICE, nonce=0, to=BOB.address, value=1, gas=21_000)
    txs = [
        b"\x01junk",
        sign(MALLORY, nonce=0, to=BOB.address, value=1, gas=21_000),
        sign(ALICE, nonce=3, to=BOB.address, value=1, gas=21_000),
        good,
        good,  # replay inside the block
        sign(ALICE, nonce=1, to=BOB.address, value=1, gas=21_000, chain_id=5),
        sign(CAROL, nonce=0, to=BOB.address, value=1, gas=21_000),
        sign(ALICE, nonce=1, to=BOB.address, value=1, gas=90_000),  # 21k + 90k > 100k
        sign(ALICE, nonce=1, to=BOB.address, value=1, gas=21_000),
    ]
    before = a.get_balance(BOB.address)
    out_a, out_b = run_block(a, txs), run_block(b, txs)
    assert out_a == out_b
    codes = [r.code for r in out_a.tx_results]
    assert codes == [MalformedTx.abci_code, NotPermitted.abci_code, NonceTooHigh.abci_code, 0,
                     NonceTooLow.abci_code, WrongChainId.abci_code,
                     InsufficientFunds.abci_code, GasLimitError.abci_code, 0]
    assert a.get_balance(BOB.address) == before + 2
    block = EthReads(a).get_block(1)
    assert block["transactions"] == [h(good), h(txs[-1])]
    assert block["gasUsed"] == hex(42_000)
    assert EthReads(a).get_transaction(h(txs[1])) is None
    a.close()
    b.close()


def test_finalize_twice_and_crash_before_commit(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path)
    raw = sign(ALICE, nonce=0, to=CAROL.address, value=5, gas=21_000)
    first = ledger.finalize_block(ctx(1), [raw])
    again = ledger.finalize_block(ctx(1), [raw])  # replay of an uncommitted height
    assert first == again
    ledger.close()  # "crash": nothing committed
    reopened = Ledger(tmp_path)
    assert reopened.info()[0] == 0
    assert reopened.get_balance(CAROL.address) == 0
    assert EthReads(reopened).get_transaction(h(raw)) is None
    replayed = reopened.finalize_block(ctx(1), [raw])
    assert replayed == first
    reopened.commit()
    assert reopened.info() == (1, first.app_hash)
    assert reopened.get_balance(CAROL.address) == 5
    reopened.close()


def test_execution_is_deterministic_across_ledgers(tmp_path: Path) -> None:
    a, b = new_ledger(tmp_path / "a"), new_ledger(tmp_path / "b")
    for ledger in (a, b):
        deploy_token(ledger)
    txs = [sign(ALICE, nonce=1 + i, to=contract_address(ALICE.address.lower(), 0),
                data=transfer_call(BOB.address, i)) for i in range(5)]
    assert run_block(a, txs) == run_block(b, txs)
    assert a.info() == b.info()
    assert EthReads(a).get_block(2) == EthReads(b).get_block(2)
    a.close()
    b.close()


def test_timestamps_strictly_increase(ledger: Ledger) -> None:
    for height in (1, 2, 3):
        ledger.finalize_block(ctx(height, seconds=0.2 * height), [])  # sub-second blocks
        ledger.commit()
    stamps = [int(EthReads(ledger).get_block(n)["timestamp"], 16) for n in (1, 2, 3)]
    assert stamps[1] == stamps[0] + 1 and stamps[2] == stamps[1] + 1
    ledger.finalize_block(ctx(4, seconds=100), [])
    ledger.commit()
    assert int(EthReads(ledger).get_block(4)["timestamp"], 16) == 1_700_000_100


def test_blocks_link_and_survive_reopening(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path)
    raw = sign(ALICE, nonce=0, to=CAROL.address, value=5, gas=21_000)
    run_block(ledger, [raw])
    run_block(ledger, [])
    ledger.close()
    ledger = Ledger(tmp_path)
    b1, b2 = EthReads(ledger).get_block(1), EthReads(ledger).get_block(2)
    assert b2["parentHash"] == b1["hash"]
    assert b1["parentHash"] == "0x" + "00" * 32
    assert b1["miner"] == "0x" + "aa" * 20
    assert b1["baseFeePerGas"] == "0x0"
    assert b1["gasLimit"] == hex(1_000_000_000)
    assert b1["stateRoot"] == "0x" + ledger.info()[1].hex()
    assert b1["transactionsRoot"] != b2["transactionsRoot"]
    assert EthReads(ledger).get_block_by_hash(b1["hash"]) == b1
    full = EthReads(ledger).get_block(1, full_transactions=True)
    assert full["transactions"][0]["hash"] == h(raw)
    assert EthReads(ledger).get_block(3) is None
    assert EthReads(ledger).get_receipt(h(raw))["status"] == "0x1"
    ledger.close()
