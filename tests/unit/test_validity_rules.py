"""The one set of transaction validity rules: each rule refuses the same transaction at CheckTx
and at block execution, on both engines, and a transaction a block refused leaves a rejection
record readable by its hash (after commit and after reopening), outside the state root."""

from __future__ import annotations

from pathlib import Path

import lmdb
import pytest
from eth_hash.auto import keccak

from consortium.api.eth_json import EthReads
from consortium.errors import (
    ConsortiumError,
    ExecutionReverted,
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
)
from consortium.evm.engine import InvalidTransaction, WorldState
from consortium.ledger.ledger import Ledger
from consortium.ledger.transactions import (
    MAX_INITCODE_BYTES,
    check_admission,
    decode_transaction,
)
from tests.support.ledger_testkit import ALICE, BOB, MALLORY, ctx, sign
from tests.support.validity_testkit import (
    DAVE,
    ENGINES,
    GAS_LIMIT,
    POOR,
    POOR_BALANCE,
    validity_ledger,
)

BOB_BALANCE = 10**20
CHAIN_ID = 20251


@pytest.fixture(params=ENGINES)
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Ledger:
    ledger = validity_ledger(tmp_path, request.param)
    yield ledger
    ledger.close()


def h(raw: bytes) -> str:
    return "0x" + keccak(raw).hex()


def admitted_and_executed(ledger: Ledger, raw: bytes) -> tuple[int, int]:
    """CheckTx's code and the block's code for `raw` (the block committed)."""
    checked = ledger.check_tx(raw).code
    height = ledger.info()[0] + 1
    result = ledger.finalize_block(ctx(height), [raw]).tx_results[0].code
    ledger.commit()
    return checked, result


def refused_alike(ledger: Ledger, raw: bytes, error: type[TxError]) -> str:
    """`raw` is refused with `error` at CheckTx and in a block, which keeps a rejection
    record of it; answers CheckTx's message."""
    out = ledger.check_tx(raw)
    assert out.code == error.abci_code, out.log
    height = ledger.info()[0] + 1
    result = ledger.finalize_block(ctx(height), [raw]).tx_results[0]
    ledger.commit()
    assert (result.code, result.log) == (out.code, out.log)
    assert EthReads(ledger).get_receipt(h(raw)) is None
    rejection = ledger.transaction_rejection(h(raw))
    assert rejection == {"hash": h(raw), "blockNumber": height, "index": 0,
                         "code": error.abci_code, "reason": out.log}
    return out.log


def executed(ledger: Ledger, raw: bytes) -> dict:
    """`raw` is admitted and lands in a block with a receipt; answers the receipt."""
    checked, result = admitted_and_executed(ledger, raw)
    assert checked == 0
    assert result in (0, ExecutionReverted.abci_code)
    receipt = EthReads(ledger).get_receipt(h(raw))
    assert receipt is not None
    assert ledger.transaction_rejection(h(raw)) is None
    return receipt


# --- EIP-1559: balance ≥ gas × maxFeePerGas + value -------------------------------------------


def test_balance_must_cover_the_fee_cap_not_the_price_paid(ledger: Ledger) -> None:
    """The issue's case: tip 0, so nothing is paid for gas, but the fee cap times the gas is
    more than the balance."""
    cap = BOB_BALANCE // 21_000 + 1
    raw = sign(BOB, nonce=0, to=ALICE.address, gas=21_000, maxFeePerGas=cap,
               maxPriorityFeePerGas=0)
    log = refused_alike(ledger, raw, InsufficientFunds)
    assert "gas * maxFeePerGas + value" in log
    # the same cap with a value that makes it exactly the balance is fine
    cap = BOB_BALANCE // 21_000
    ok = sign(BOB, nonce=0, to=ALICE.address, gas=21_000, maxFeePerGas=cap,
              maxPriorityFeePerGas=0, value=BOB_BALANCE - 21_000 * cap)
    assert executed(ledger, ok)["status"] == "0x1"
    assert ledger.get_balance(BOB.address) == 21_000 * cap  # tip 0: only the value left


@pytest.mark.parametrize("tx_type", [0, 1])
def test_legacy_balance_is_gas_price_times_gas_plus_value(ledger: Ledger, tx_type: int) -> None:
    price = 1_000
    raw = sign(POOR, nonce=0, to=ALICE.address, gas=21_000, gas_price=price, tx_type=tx_type,
               value=POOR_BALANCE - 21_000 * price + 1)
    refused_alike(ledger, raw, InsufficientFunds)
    ok = sign(POOR, nonce=0, to=ALICE.address, gas=21_000, gas_price=price, tx_type=tx_type,
              value=POOR_BALANCE - 21_000 * price)
    executed(ledger, ok)
    assert ledger.get_balance(POOR.address) == 0


def test_the_price_charged_is_still_the_tip(ledger: Ledger) -> None:
    """Only the balance requirement follows the fee cap: the price paid stays min(cap, tip)."""
    raw = sign(ALICE, nonce=0, to=BOB.address, gas=21_000, maxFeePerGas=10, maxPriorityFeePerGas=3)
    receipt = executed(ledger, raw)
    assert receipt["effectiveGasPrice"] == hex(3)


def test_pending_transactions_count_against_the_balance(ledger: Ledger) -> None:
    """CheckTx counts what the sender's admitted transactions may spend, so the second of two
    that each fit the balance alone is refused instead of failing in the block."""
    half = POOR_BALANCE // 2 + 1
    first = sign(POOR, nonce=0, to=ALICE.address, gas=21_000, value=half)
    second = sign(POOR, nonce=1, to=ALICE.address, gas=21_000, value=half)
    assert ledger.check_tx(first).code == 0
    refused = ledger.check_tx(second)
    assert refused.code == InsufficientFunds.abci_code
    assert "pending" in refused.log
    # the block refuses it too (the balance is spent), with a record
    out = ledger.finalize_block(ctx(1), [first, second])
    ledger.commit()
    assert [r.code for r in out.tx_results] == [0, InsufficientFunds.abci_code]
    assert ledger.transaction_rejection(h(second))["index"] == 1  # type: ignore[index]


# --- EIP-3860: initcode ≤ 49,152 bytes, its words in the intrinsic gas ------------------------


def test_initcode_size_limit(ledger: Ledger) -> None:
    gas = 1_000_000  # above the EIP-7623 floor of 49,153 zero bytes (512,530)
    too_big = sign(ALICE, nonce=0, data=b"\x00" * (MAX_INITCODE_BYTES + 1), gas=gas)
    log = refused_alike(ledger, too_big, InitcodeTooLarge)
    assert "49152" in log and "EIP-3860" in log
    largest = sign(ALICE, nonce=0, data=b"\x00" * MAX_INITCODE_BYTES, gas=gas)
    assert executed(ledger, largest)["status"] == "0x1"
    # calldata of a call is not initcode
    call = sign(ALICE, nonce=1, to=BOB.address, data=b"\x00" * (MAX_INITCODE_BYTES + 1),
                gas=gas)
    executed(ledger, call)


def test_creation_intrinsic_gas_counts_initcode_words(ledger: Ledger) -> None:
    """53,000 + 16 per non-zero byte + 4 per zero byte + 2 per 32-byte word: one gas short is
    refused by both rule sets (py-evm would otherwise run it out of gas, revm refuse it)."""
    initcode = b"\x5b" * 63 + b"\x00"  # JUMPDESTs, STOP
    need = 53_000 + 16 * 63 + 4 + 2 * 2
    log = refused_alike(ledger, sign(ALICE, nonce=0, data=initcode, gas=need - 1),
                        GasLimitError)
    assert f"intrinsic gas {need}" in log
    receipt = executed(ledger, sign(ALICE, nonce=0, data=initcode, gas=need))
    assert receipt["status"] == "0x0"  # no gas left for the JUMPDESTs: out of gas, in a block


# --- EIP-3607: the sender has no code ----------------------------------------------------------


def test_sender_with_code_is_refused(ledger: Ledger) -> None:
    assert ledger.get_code(DAVE.address) != b""
    raw = sign(DAVE, nonce=0, to=BOB.address, value=1, gas=21_000)
    log = refused_alike(ledger, raw, SenderHasCode)
    assert DAVE.address.lower() in log and "EIP-3607" in log


# --- intrinsic gas, block gas limit, nonce, fee fields ----------------------------------------


def test_gas_limits_alike(ledger: Ledger) -> None:
    refused_alike(ledger, sign(ALICE, nonce=0, to=BOB.address, gas=20_999), GasLimitError)
    floor = sign(ALICE, nonce=0, to=BOB.address, data=b"\x01" * 100, gas=21_000 + 1_600)
    refused_alike(ledger, floor, GasLimitError)  # intrinsic, but below the EIP-7623 floor
    log = refused_alike(ledger, sign(ALICE, nonce=0, to=BOB.address, gas=GAS_LIMIT + 1),
                        GasLimitError)
    assert "block gas limit" in log
    executed(ledger, sign(ALICE, nonce=0, to=BOB.address, gas=GAS_LIMIT))


def test_nonce_alike(ledger: Ledger) -> None:
    refused_alike(ledger, sign(ALICE, nonce=1, to=BOB.address, gas=21_000), NonceTooHigh)
    executed(ledger, sign(ALICE, nonce=0, to=BOB.address, gas=21_000))
    refused_alike(ledger, sign(ALICE, nonce=0, to=BOB.address, value=5, gas=21_000),
                  NonceTooLow)


def test_not_permitted_alike(ledger: Ledger) -> None:
    refused_alike(ledger, sign(MALLORY, nonce=0, to=BOB.address, gas=21_000), NotPermitted)


def test_priority_fee_above_fee_cap_alike(ledger: Ledger) -> None:
    raw = sign(ALICE, nonce=0, to=BOB.address, gas=21_000, maxFeePerGas=1,
               maxPriorityFeePerGas=2)
    log = refused_alike(ledger, raw, MalformedTx)
    assert "maxPriorityFeePerGas" in log


def test_fee_cap_below_a_base_fee() -> None:
    """The chain's base fee is 0, so the rule never refuses here; written for one that is not."""
    stx = decode_transaction(sign(ALICE, nonce=0, to=BOB.address, gas=21_000, gas_price=5),
                             CHAIN_ID)
    rules = dict(permission=lambda _sender, _create, _to: None, block_gas_limit=GAS_LIMIT,
                 block_gas_used=0, next_nonce=0, balance=10**20, sender_has_code=False)
    check_admission(stx, **rules)  # type: ignore[arg-type]
    check_admission(stx, base_fee=5, **rules)  # type: ignore[arg-type]
    with pytest.raises(FeeCapTooLow, match="below the base fee 6"):
        check_admission(stx, base_fee=6, **rules)  # type: ignore[arg-type]


# --- rejection records ---------------------------------------------------------------------------


def test_rejection_is_durable_and_outside_the_state_root(tmp_path: Path) -> None:
    good = sign(ALICE, nonce=0, to=BOB.address, value=1, gas=21_000)
    ahead = sign(ALICE, nonce=1, to=BOB.address, value=2, gas=21_000)
    junk = b"\x02junk"
    with_refused = validity_ledger(tmp_path / "a")
    only_good = validity_ledger(tmp_path / "b")
    out = with_refused.finalize_block(ctx(1), [junk, good, good, ahead])
    with_refused.commit()
    assert [r.code for r in out.tx_results] == [MalformedTx.abci_code, 0, NonceTooLow.abci_code, 0]
    assert only_good.finalize_block(ctx(1), [good, ahead]).app_hash == out.app_hash
    only_good.commit()
    only_good.close()
    # the replay of `good` inside the block: the committed transaction wins
    assert with_refused.transaction_rejection(h(good)) is None
    record = with_refused.transaction_rejection(h(junk))
    assert record is not None and record["index"] == 0 and record["blockNumber"] == 1
    assert record["code"] == MalformedTx.abci_code
    with_refused.close()

    reopened = Ledger(tmp_path / "a")
    assert reopened.transaction_rejection(h(junk)) == record
    assert reopened.transaction_rejection(h(ahead)) is None
    assert reopened.transaction_rejection("0x" + "00" * 32) is None
    with pytest.raises(ConsortiumError, match="invalid 32-byte hash"):
        reopened.transaction_rejection("0x1234")
    reopened.close()


def test_a_later_commit_of_the_same_hash_wins(tmp_path: Path) -> None:
    ledger = validity_ledger(tmp_path)
    ahead = sign(ALICE, nonce=1, to=BOB.address, value=2, gas=21_000)
    ledger.finalize_block(ctx(1), [ahead])
    ledger.commit()
    rejection = ledger.transaction_rejection(h(ahead))
    assert rejection is not None and rejection["code"] == NonceTooHigh.abci_code
    assert "nonce 1 is ahead" in rejection["reason"]
    ledger.finalize_block(ctx(2), [sign(ALICE, nonce=0, to=BOB.address, gas=21_000), ahead])
    ledger.commit()
    assert ledger.transaction_rejection(h(ahead)) is None
    assert EthReads(ledger).get_receipt(h(ahead)) is not None
    ledger.close()


def test_an_engine_refusal_is_recorded_too(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Should an engine still refuse a transaction the rules passed, the block records it."""
    ledger = validity_ledger(tmp_path, "py-evm")
    raw = sign(ALICE, nonce=0, to=BOB.address, gas=21_000)

    def refuse(self: WorldState, tx: object) -> None:
        raise InvalidTransaction("ValidationError: refused by the engine")

    monkeypatch.setattr(WorldState, "apply_transaction", refuse)
    out = ledger.finalize_block(ctx(1), [raw])
    ledger.commit()
    assert out.tx_results[0].code == TxError.abci_code
    assert ledger.transaction_rejection(h(raw)) == {
        "hash": h(raw), "blockNumber": 1, "index": 0, "code": TxError.abci_code,
        "reason": "ValidationError: refused by the engine"}
    ledger.close()


def test_a_data_folder_without_the_rejections_database_opens(tmp_path: Path) -> None:
    """A folder written before rejection records existed (record format 3) opens as it is."""
    ledger = validity_ledger(tmp_path)
    ledger.finalize_block(ctx(1), [sign(ALICE, nonce=0, to=BOB.address, gas=21_000)])
    ledger.commit()
    app_hash = ledger.info()
    ledger.close()
    env = lmdb.open(str(tmp_path), max_dbs=20, subdir=True)
    with env.begin(write=True) as txn:
        txn.drop(env.open_db(b"rejections", txn=txn), delete=True)
    env.close()
    reopened = Ledger(tmp_path)
    assert reopened.info() == app_hash
    assert reopened.transaction_rejection(h(b"x")) is None
    reopened.finalize_block(ctx(2), [b"\x02junk"])
    reopened.commit()
    assert reopened.transaction_rejection(h(b"\x02junk")) is not None
    reopened.close()
