"""CheckTx: every refusal with its code, pending nonces, and recheck after commit."""

from __future__ import annotations

from pathlib import Path

import pytest
import rlp
from eth_account import Account

from consortium.errors import (
    BadSignature,
    GasLimitError,
    InsufficientFunds,
    MalformedTx,
    NonceTooHigh,
    NonceTooLow,
    NotPermitted,
    TxTooLarge,
    UnsupportedTxType,
    WrongChainId,
)
from consortium.ledger.ledger import Ledger
from consortium.ledger.transactions import SECP256K1_N, decode_transaction
from tests.support.ledger_testkit import ALICE, BOB, CAROL, MALLORY, new_ledger, run_block, sign


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    ledger = new_ledger(tmp_path)
    yield ledger
    ledger.close()


def transfer(account: Account = ALICE, nonce: int = 0, **kw: object) -> bytes:
    kw.setdefault("gas", 21_000)
    return sign(account, nonce=nonce, to=BOB.address, value=1, **kw)  # type: ignore[arg-type]


def _legacy_with(raw: bytes, **changes: int) -> bytes:
    fields = rlp.decode(raw)
    names = ["nonce", "gas_price", "gas", "to", "value", "data", "v", "r", "s"]
    for name, value in changes.items():
        fields[names.index(name)] = value
    return rlp.encode(fields)


@pytest.mark.parametrize("tx_type", [0, 1, 2])
def test_accepts_every_supported_type(ledger: Ledger, tx_type: int) -> None:
    out = ledger.check_tx(transfer(tx_type=tx_type))
    assert out.code == 0, out.log
    assert out.sender == ALICE.address.lower()
    assert out.nonce == 0
    assert out.gas_wanted == 21_000
    assert out.tx_hash.startswith("0x") and len(out.tx_hash) == 66


@pytest.mark.parametrize("raw", [b"", b"\x80", b"\xc0", b"\xc3\x01\x02\x03", b"\x02\xc0",
                                 b"\x01garbage"])
def test_malformed(ledger: Ledger, raw: bytes) -> None:
    out = ledger.check_tx(raw)
    assert out.code == MalformedTx.abci_code, out.log


@pytest.mark.parametrize("first", [3, 4, 5, 0x7F])
def test_unsupported_types(ledger: Ledger, first: int) -> None:
    out = ledger.check_tx(bytes([first]) + rlp.encode([1, 2, 3]))
    assert out.code == UnsupportedTxType.abci_code
    if first == 3:
        assert "blob" in out.log


def test_unprotected_legacy_is_refused(ledger: Ledger) -> None:
    raw = bytes(ALICE.sign_transaction({
        "nonce": 0, "gas": 21_000, "gasPrice": 0, "to": BOB.address, "value": 1,
    }).raw_transaction)
    out = ledger.check_tx(raw)
    assert out.code == WrongChainId.abci_code
    assert "unprotected" in out.log


@pytest.mark.parametrize("tx_type", [0, 2])
def test_other_chain_id(ledger: Ledger, tx_type: int) -> None:
    out = ledger.check_tx(transfer(tx_type=tx_type, chain_id=1))
    assert out.code == WrongChainId.abci_code
    assert "chain id 1" in out.log


def test_bad_signatures(ledger: Ledger) -> None:
    good = transfer(tx_type=0)
    s = rlp.decode(good)[8]
    high_s = SECP256K1_N - int.from_bytes(s, "big")
    for raw in (_legacy_with(good, r=0), _legacy_with(good, s=high_s),
                _legacy_with(good, v=30)):
        out = ledger.check_tx(raw)
        assert out.code == BadSignature.abci_code, out.log


def test_signature_that_recovers_to_nothing(ledger: Ledger) -> None:
    good = transfer(tx_type=0)
    # x = 5 is not on secp256k1 (5^3 + 7 = 132 is not a square mod p)
    out = ledger.check_tx(_legacy_with(good, r=5))
    assert out.code in (BadSignature.abci_code, NotPermitted.abci_code)
    with pytest.raises(BadSignature):
        decode_transaction(_legacy_with(good, r=5), 20251)


def test_too_large(ledger: Ledger) -> None:
    out = ledger.check_tx(sign(ALICE, nonce=0, to=BOB.address, data=b"\x01" * 140_000,
                               gas=10_000_000))
    assert out.code == TxTooLarge.abci_code


def test_not_a_member(ledger: Ledger) -> None:
    out = ledger.check_tx(transfer(MALLORY))
    assert out.code == NotPermitted.abci_code
    assert MALLORY.address.lower() in out.log


def test_gas_limits(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path, block_gas_limit=5_000_000)
    low = ledger.check_tx(transfer(gas=20_999))
    assert low.code == GasLimitError.abci_code
    assert "intrinsic" in low.log
    high = ledger.check_tx(transfer(gas=5_000_001))
    assert high.code == GasLimitError.abci_code
    assert "block gas limit" in high.log
    floor = ledger.check_tx(sign(ALICE, nonce=0, to=BOB.address, data=b"\x01" * 100,
                                 gas=21_000 + 1_600))  # intrinsic, but below the EIP-7623 floor
    assert floor.code == GasLimitError.abci_code
    ledger.close()


def test_insufficient_funds(ledger: Ledger) -> None:
    out = ledger.check_tx(transfer(CAROL))  # a member with no balance
    assert out.code == InsufficientFunds.abci_code
    priced = ledger.check_tx(sign(BOB, nonce=0, to=ALICE.address, gas=21_000,
                                  gas_price=10**16))  # 210 ETH of gas, has 100
    assert priced.code == InsufficientFunds.abci_code


def test_zero_price_transactions_are_fine(ledger: Ledger) -> None:
    assert ledger.check_tx(transfer(gas_price=0)).code == 0


def test_nonces_replay_and_gaps(ledger: Ledger) -> None:
    first = transfer(nonce=0)
    assert ledger.check_tx(first).code == 0
    replay = ledger.check_tx(first)
    assert replay.code == NonceTooLow.abci_code
    assert "nonce 0 already used" in replay.log
    gap = ledger.check_tx(transfer(nonce=5))
    assert gap.code == NonceTooHigh.abci_code
    assert ledger.check_tx(transfer(nonce=1)).code == 0
    assert ledger.pending_nonce(ALICE.address) == 2
    assert ledger.get_nonce(ALICE.address) == 0


def admitted(ledger: Ledger, count: int) -> list[bytes]:
    """Alice's transfers with nonces 0..count-1, each admitted by CheckTx."""
    txs = [transfer(nonce=n) for n in range(count)]
    for raw in txs:
        assert ledger.check_tx(raw).code == 0
    return txs


def test_commit_carries_pending_nonces_over_and_a_recheck_rebuilds_them(
        ledger: Ledger) -> None:
    txs = admitted(ledger, 3)
    run_block(ledger, txs[:1])
    # the engine (recheck off) still holds nonces 1 and 2: the next one is 3
    assert ledger.pending_nonce(ALICE.address) == 3
    assert ledger.check_tx(transfer(nonce=3)).code == 0
    assert ledger.check_tx(transfer(nonce=1)).code == NonceTooLow.abci_code
    run_block(ledger, txs[1:])
    # with recheck on, the engine's first recheck starts over from the committed state
    assert ledger.check_tx(txs[0], recheck=True).code == NonceTooLow.abci_code
    assert ledger.pending_nonce(ALICE.address) == 3
    assert ledger.check_tx(transfer(nonce=3), recheck=True).code == 0
    assert ledger.pending_nonce(ALICE.address) == 4


def test_a_sender_a_block_refused_starts_over_from_its_committed_nonce(
        ledger: Ledger) -> None:
    txs = admitted(ledger, 3)
    out = run_block(ledger, txs[1:2])  # nonce 1 before 0: the block refuses it
    assert out.tx_results[0].code == NonceTooHigh.abci_code
    # nonce 1 left the mempool unused: 2 would wait on it forever, 0 is next again
    assert ledger.pending_nonce(ALICE.address) == 0
    assert ledger.check_tx(transfer(nonce=0, gas=21_001)).code == 0


def test_a_carried_nonce_behind_the_chain_gives_way_to_the_committed_one(
        ledger: Ledger) -> None:
    assert ledger.check_tx(transfer(nonce=0)).code == 0
    # the sender's transactions reached the chain through another node meanwhile
    run_block(ledger, [transfer(nonce=n, gas=21_002) for n in range(3)])
    assert ledger.pending_nonce(ALICE.address) == 3
    assert ledger.check_tx(transfer(nonce=1)).code == NonceTooLow.abci_code
    assert ledger.check_tx(transfer(nonce=3)).code == 0


def test_committed_replay_is_refused(ledger: Ledger) -> None:
    raw = transfer(nonce=0)
    run_block(ledger, [raw])
    out = ledger.check_tx(raw)
    assert out.code == NonceTooLow.abci_code
